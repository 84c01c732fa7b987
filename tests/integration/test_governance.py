"""Detected PII reaches the Iceberg table properties and column docs; job overrides switch it off."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..conftest import Workspace

pytestmark = pytest.mark.integration

CSV = "id,email,phone,amount\n" + "".join(f"{i},user{i}@example.com,+1 555-010-{i:04d},{i}.50\n" for i in range(1, 21))


def _job(ws: Workspace, extra: str = "") -> Path:
    return ws.job(
        "contacts.yaml",
        f"""
        tenant_id: acme
        source: {{connector: csv, files: [{{path: data/contacts.csv}}]}}
        target: {{namespace: acme, table: contacts, mode: overwrite}}
        finops: {{cost_center: crm}}
        {extra}
        """,
    )


def test_detected_pii_becomes_table_properties_and_can_be_switched_off(workspace: Workspace) -> None:
    workspace.write("data/contacts.csv", CSV)
    summary = workspace.run(_job(workspace))
    assert summary["state"] == "committed", summary
    table = workspace.table("acme.contacts")
    props = table.properties
    assert props["dativo.classification.email"] == "PII"
    assert props["dativo.classification.phone"] == "PII"
    assert "dativo.classification.amount" not in props and "dativo.classification.id" not in props
    assert "PII" in (table.schema().find_field("email").doc or "")

    summary = workspace.run(_job(workspace, "classification_overrides: {phone: restricted}"))
    assert summary["state"] == "committed", summary
    assert workspace.table("acme.contacts").properties["dativo.classification.phone"] == "RESTRICTED"

    summary = workspace.run(_job(workspace, "classification_overrides: {email: none}"))
    assert summary["state"] == "committed", summary
    props = workspace.table("acme.contacts").properties
    assert "dativo.classification.email" not in props
    assert props["dativo.classification.phone"] == "PII"

    summary = workspace.run(_job(workspace, "governance_overrides: {pii_detection: false}"))
    assert summary["state"] == "committed", summary
    props = workspace.table("acme.contacts").properties
    assert not any(k.startswith("dativo.classification.") for k in props)
    assert "dativo.governance.pii_detection" not in props


def test_tags_explain_reports_levels_reason_and_confidence(workspace: Workspace) -> None:
    workspace.write("data/contacts.csv", CSV)
    job = _job(workspace, "classification_overrides: {phone: restricted}")
    result = workspace.cli("tags", "explain", str(job), "--json")
    assert result.code == 0, result.stderr
    report = result.json
    email = report["properties"]["dativo.classification.email"]
    assert email["value"] == "PII" and email["level"] == "detected"
    assert email["reason"] == "both" and 0.9 <= email["confidence"] <= 1.0 and email["detector"] == "email"
    assert report["properties"]["dativo.classification.phone"] == {"value": "RESTRICTED", "level": "job"}
    assert report["properties"]["dativo.finops.cost_center"] == {"value": "crm", "level": "job"}
    assert report["properties"]["dativo.tenant"]["level"] == "job"
    assert report["columns"]["email"]["level"] == "detected"
    assert report["detected"]["phone"]["label"] == "PII"  # still reported, though the job overrides it
    assert not (workspace.state / "catalog.db").exists()  # wrote nothing

    text = workspace.cli("tags", "explain", str(job), env={"COLUMNS": "200"})
    assert text.code == 0, text.stderr
    assert "dativo.classification.email" in text.stdout and "detected" in text.stdout
