"""Table properties and column docs: detected < source < asset < job, keys absent when nothing sets them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dativo_workers.config import Asset, JobConfig, load_asset
from dativo_workers.governance.pii import Finding
from dativo_workers.governance.tags import (
    column_classifications,
    column_docs,
    column_tags,
    effective_tags,
    pii_detection_enabled,
    table_properties,
)

ASSET = """
apiVersion: v3.0.2
kind: DataContract
id: acme-customers
name: customers
version: 2.1.0
status: active
domain: sales
team:
  - {username: owner@acme.com, role: owner}
customProperties:
  - {property: retention_days, value: 730}
  - {property: default_classification, value: internal}
schema:
  - name: customers
    properties:
      - {name: id, logicalType: integer, required: true, primaryKey: true}
      - {name: email, logicalType: string, classification: pii, description: Contact address}
      - {name: phone, logicalType: string, classification: confidential}
      - {name: country, logicalType: string}
"""

COLUMNS = ["id", "email", "phone", "country"]


@pytest.fixture
def asset(tmp_path: Path) -> Asset:
    path = tmp_path / "customers.yaml"
    path.write_text(ASSET, encoding="utf-8")
    return load_asset(path)


def job(**extra: Any) -> JobConfig:
    return JobConfig.model_validate(
        {
            "tenant_id": "acme",
            "name": "customers",
            "source": {"connector": "csv", "files": [{"path": "a.csv"}]},
            "target": {"namespace": "acme", "table": "customers"},
            **extra,
        }
    )


def test_nothing_configured_gives_only_the_tenant() -> None:
    assert table_properties(job(), None, COLUMNS) == {"dativo.tenant": "acme"}
    assert column_docs(job(), None, COLUMNS) == {}


def test_asset_provides_labels_governance_and_identity(asset: Asset) -> None:
    props = table_properties(job(), asset, COLUMNS)
    assert props == {
        "dativo.tenant": "acme",
        "dativo.classification.email": "PII",
        "dativo.classification.phone": "CONFIDENTIAL",
        "dativo.classification.default": "INTERNAL",
        "dativo.governance.owner": "owner@acme.com",
        "dativo.governance.retention_days": "730",
        "dativo.governance.domain": "sales",
        "dativo.asset.id": "acme-customers",
        "dativo.asset.version": "2.1.0",
    }
    assert not any(k.startswith("dativo.finops.") for k in props)


def test_job_overrides_win_over_the_asset(asset: Asset) -> None:
    cfg = job(
        classification_overrides={"email": "restricted", "country": "public", "default": "confidential"},
        governance_overrides={"owner": "data-team@acme.com", "retention_days": 365},
    )
    props = table_properties(cfg, asset, COLUMNS)
    assert props["dativo.classification.email"] == "RESTRICTED"
    assert props["dativo.classification.phone"] == "CONFIDENTIAL"  # untouched asset label
    assert props["dativo.classification.country"] == "PUBLIC"
    assert props["dativo.classification.default"] == "CONFIDENTIAL"
    assert props["dativo.governance.owner"] == "data-team@acme.com"
    assert props["dativo.governance.retention_days"] == "365"
    assert "dativo.classification.id" not in props


def test_job_override_none_removes_an_asset_label(asset: Asset) -> None:
    cfg = job(classification_overrides={"phone": "none", "default": "None"})
    props = table_properties(cfg, asset, COLUMNS)
    assert "dativo.classification.phone" not in props
    assert "dativo.classification.default" not in props
    assert props["dativo.classification.email"] == "PII"
    assert column_classifications(cfg, asset, COLUMNS) == {"email": "PII"}
    assert set(column_docs(cfg, asset, COLUMNS)) == {"email"}


def test_labels_only_for_columns_of_the_table(asset: Asset) -> None:
    cfg = job(classification_overrides={"ssn": "pii"})
    props = table_properties(cfg, asset, ["id", "email"])
    assert props["dativo.classification.email"] == "PII"
    assert "dativo.classification.phone" not in props and "dativo.classification.ssn" not in props


def test_job_only_labels_without_asset() -> None:
    cfg = job(classification_overrides={"email": " pii ", "default": "internal"})
    props = table_properties(cfg, None, COLUMNS)
    assert props == {
        "dativo.tenant": "acme",
        "dativo.classification.email": "PII",
        "dativo.classification.default": "INTERNAL",
    }


def test_finops_keys(asset: Asset) -> None:
    props = table_properties(job(finops={"cost_center": "marketing", "project": "crm"}), asset, COLUMNS)
    assert props["dativo.finops.cost_center"] == "marketing"
    assert props["dativo.finops.project"] == "crm"
    assert "dativo.finops.budget_code" not in props
    full = table_properties(job(finops={"cost_center": "m", "budget_code": "B12345", "project": "p"}), None, [])
    assert {k: v for k, v in full.items() if k.startswith("dativo.finops.")} == {
        "dativo.finops.cost_center": "m",
        "dativo.finops.budget_code": "B12345",
        "dativo.finops.project": "p",
    }


def test_column_docs_carry_description_and_label(asset: Asset) -> None:
    docs = column_docs(job(classification_overrides={"country": "public"}), asset, COLUMNS)
    assert docs == {
        "email": "Contact address [classification: PII]",
        "phone": "[classification: CONFIDENTIAL]",
        "country": "[classification: PUBLIC]",
    }


# -- precedence: detected < source < asset < job ----------------------------------------------

DETECTED = {
    "email": Finding("email", "PII", "both", 0.99, "email"),
    "phone": Finding("phone", "PII", "name", 0.8, "phone"),
    "country": Finding("country", "SENSITIVE", "values", 0.9, "national_id"),
}


def test_detected_labels_are_the_lowest_level() -> None:
    props = table_properties(job(), None, COLUMNS, DETECTED)
    assert props["dativo.classification.email"] == "PII"
    assert props["dativo.classification.country"] == "SENSITIVE"
    tags = column_tags(job(), None, COLUMNS, DETECTED)
    assert tags["email"].level == "detected"
    assert tags["email"].to_dict() == {
        "value": "PII",
        "level": "detected",
        "reason": "both",
        "confidence": 0.99,
        "detector": "email",
    }
    assert column_docs(job(), None, COLUMNS, DETECTED)["phone"] == "[classification: PII]"


def test_source_tags_beat_detection() -> None:
    tags = column_tags(job(), None, COLUMNS, DETECTED, {"email": "restricted", "country": "none", "id": "internal"})
    assert (tags["email"].value, tags["email"].level) == ("RESTRICTED", "source")
    assert "country" not in tags  # the source says the detector was wrong
    assert (tags["id"].value, tags["id"].level) == ("INTERNAL", "source")
    assert (tags["phone"].value, tags["phone"].level) == ("PII", "detected")


def test_asset_beats_source_and_detection(asset: Asset) -> None:
    tags = column_tags(job(), asset, COLUMNS, DETECTED, {"email": "restricted", "phone": "public"})
    assert (tags["email"].value, tags["email"].level) == ("PII", "asset")
    assert (tags["phone"].value, tags["phone"].level) == ("CONFIDENTIAL", "asset")
    assert (tags["country"].value, tags["country"].level) == ("SENSITIVE", "detected")


def test_job_beats_every_level(asset: Asset) -> None:
    cfg = job(classification_overrides={"email": "public", "phone": "none", "country": "internal"})
    tags = column_tags(cfg, asset, COLUMNS, DETECTED, {"email": "restricted"})
    assert (tags["email"].value, tags["email"].level) == ("PUBLIC", "job")
    assert (tags["country"].value, tags["country"].level) == ("INTERNAL", "job")
    assert "phone" not in tags
    props = table_properties(cfg, asset, COLUMNS, DETECTED)
    assert "dativo.classification.phone" not in props and props["dativo.classification.email"] == "PUBLIC"


def test_job_none_switches_a_detected_label_off() -> None:
    cfg = job(classification_overrides={"email": "none"})
    props = table_properties(cfg, None, COLUMNS, DETECTED)
    assert "dativo.classification.email" not in props
    assert "email" not in column_docs(cfg, None, COLUMNS, DETECTED)


def test_levels_of_table_properties(asset: Asset) -> None:
    cfg = job(governance_overrides={"owner": "team@acme.com"}, finops={"cost_center": "cc"})
    tags = effective_tags(cfg, asset, COLUMNS, DETECTED)
    assert tags["dativo.governance.owner"].level == "job"
    assert tags["dativo.governance.retention_days"].level == "asset"
    assert tags["dativo.finops.cost_center"].level == "job"
    assert tags["dativo.asset.id"].level == "asset"
    assert tags["dativo.classification.default"].level == "asset"
    assert tags["dativo.tenant"].level == "job"
    assert tags["dativo.classification.country"].level == "detected"


def test_pii_detection_switch_is_not_a_table_property() -> None:
    assert pii_detection_enabled(job())
    for off in (False, "false", "off", "no"):
        cfg = job(governance_overrides={"pii_detection": off})
        assert not pii_detection_enabled(cfg)
        assert table_properties(cfg, None, COLUMNS) == {"dativo.tenant": "acme"}
    assert pii_detection_enabled(job(governance_overrides={"pii_detection": True}))
