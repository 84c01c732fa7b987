"""Effective tags for a table. Precedence per key, lowest to highest: asset < job override.

(Auto-detected PII, the lowest level, plugs in below the asset.) Property keys are those of
DESIGN.md §5; a key no configuration provides is absent, so the commit can remove it.
"""

from __future__ import annotations

from typing import Any

from dativo_workers.config.asset import Asset
from dativo_workers.config.job import JobConfig

NONE_LABELS = {"NONE", ""}


def _label(value: Any) -> str:
    return str(value).strip().upper()


def column_classifications(job: JobConfig, asset: Asset | None, columns: list[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    if asset is not None:
        for col in asset.columns:
            if col.classification:
                labels[col.name] = _label(col.classification)
    for name, value in job.classification_overrides.items():
        if name != "default":
            labels[name] = _label(value)
    return {k: v for k, v in labels.items() if k in columns and v not in NONE_LABELS}


def table_properties(job: JobConfig, asset: Asset | None, columns: list[str]) -> dict[str, str]:
    props: dict[str, str] = {"dativo.tenant": job.tenant_id}
    for name, label in column_classifications(job, asset, columns).items():
        props[f"dativo.classification.{name}"] = label
    default = job.classification_overrides.get("default") or (
        asset.custom.get("default_classification") if asset else None
    )
    if default and _label(default) not in NONE_LABELS:
        props["dativo.classification.default"] = _label(default)

    governance: dict[str, Any] = {}
    if asset is not None:
        governance["owner"] = asset.owner
        governance["retention_days"] = asset.custom.get("retention_days")
        governance["domain"] = asset.domain
        governance["data_product"] = asset.data_product
        if asset.tags:
            governance["tags"] = ",".join(asset.tags)
    governance.update({k: v for k, v in job.governance_overrides.items() if v is not None})
    for key, value in governance.items():
        if value not in (None, ""):
            props[f"dativo.governance.{key}"] = ",".join(map(str, value)) if isinstance(value, list) else str(value)

    for key, value in job.finops.model_dump().items():
        if value:
            props[f"dativo.finops.{key}"] = str(value)
    if asset is not None:
        if asset.id:
            props["dativo.asset.id"] = asset.id
        if asset.version:
            props["dativo.asset.version"] = asset.version
    return props


def column_docs(job: JobConfig, asset: Asset | None, columns: list[str]) -> dict[str, str]:
    """Iceberg column docs carry the classification, after the asset's description."""
    docs: dict[str, str] = {}
    descriptions = {c.name: c.description for c in asset.columns} if asset else {}
    for name, label in column_classifications(job, asset, columns).items():
        desc = descriptions.get(name)
        docs[name] = f"{desc} [classification: {label}]" if desc else f"[classification: {label}]"
    return docs
