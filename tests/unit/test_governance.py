"""Table properties and column docs: asset < job override, keys absent when nothing sets them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dativo_workers.config import Asset, JobConfig, load_asset
from dativo_workers.governance.tags import column_classifications, column_docs, table_properties

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
