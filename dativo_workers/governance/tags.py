"""Effective tags for a table. Precedence per key, lowest to highest:
auto-detected < reported by the source system < asset < job override.

Property keys are those of DESIGN.md §5; a key no level provides is absent, so the commit can
remove it. A label ``none`` (or empty) at any level removes the key set by the levels below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dativo_workers.config.asset import Asset
from dativo_workers.config.job import JobConfig
from dativo_workers.governance.pii import Finding

NONE_LABELS = {"NONE", ""}
DETECTED, SOURCE, ASSET, JOB = "detected", "source", "asset", "job"
LEVELS = (DETECTED, SOURCE, ASSET, JOB)
# governance_overrides keys that steer Dativo itself and never become table properties
CONTROL_KEYS = {"pii_detection"}


@dataclass(frozen=True)
class Tag:
    """One effective tag: its value and the precedence level it came from."""

    value: str
    level: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "level": self.level, **self.detail}


def _label(value: Any) -> str:
    return str(value).strip().upper()


def pii_detection_enabled(job: JobConfig) -> bool:
    """``governance_overrides: {pii_detection: false}`` switches auto-detection off."""
    value = job.governance_overrides.get("pii_detection", True)
    if isinstance(value, str):
        return value.strip().lower() not in {"false", "no", "off", "0", "none", ""}
    return bool(value)


def column_tags(
    job: JobConfig,
    asset: Asset | None,
    columns: list[str],
    detected: Mapping[str, Finding] | None = None,
    source_tags: Mapping[str, str] | None = None,
) -> dict[str, Tag]:
    """Column -> effective classification, resolved level by level (later levels win)."""
    layers: list[tuple[str, dict[str, tuple[str, dict[str, Any]]]]] = []
    layers.append(
        (
            DETECTED,
            {
                c: (f.label, {"reason": f.reason, "confidence": f.confidence, "detector": f.detector})
                for c, f in (detected or {}).items()
            },
        )
    )
    layers.append((SOURCE, {c: (_label(v), {}) for c, v in (source_tags or {}).items()}))
    asset_labels = {c.name: (_label(c.classification), {}) for c in asset.columns if c.classification} if asset else {}
    layers.append((ASSET, asset_labels))
    layers.append((JOB, {c: (_label(v), {}) for c, v in job.classification_overrides.items() if c != "default"}))
    tags: dict[str, Tag] = {}
    for level, labels in layers:
        for name, (label, detail) in labels.items():
            if label in NONE_LABELS:
                tags.pop(name, None)
            else:
                tags[name] = Tag(label, level, detail)
    return {k: v for k, v in tags.items() if k in columns}


def column_classifications(
    job: JobConfig,
    asset: Asset | None,
    columns: list[str],
    detected: Mapping[str, Finding] | None = None,
    source_tags: Mapping[str, str] | None = None,
) -> dict[str, str]:
    return {k: t.value for k, t in column_tags(job, asset, columns, detected, source_tags).items()}


def effective_tags(
    job: JobConfig,
    asset: Asset | None,
    columns: list[str],
    detected: Mapping[str, Finding] | None = None,
    source_tags: Mapping[str, str] | None = None,
) -> dict[str, Tag]:
    """Every table property with the level it came from."""
    props: dict[str, Tag] = {"dativo.tenant": Tag(job.tenant_id, JOB)}
    for name, tag in column_tags(job, asset, columns, detected, source_tags).items():
        props[f"dativo.classification.{name}"] = tag

    default_job = job.classification_overrides.get("default")
    default_asset = asset.custom.get("default_classification") if asset else None
    if default_job:
        if _label(default_job) not in NONE_LABELS:
            props["dativo.classification.default"] = Tag(_label(default_job), JOB)
    elif default_asset and _label(default_asset) not in NONE_LABELS:
        props["dativo.classification.default"] = Tag(_label(default_asset), ASSET)

    governance: dict[str, tuple[Any, str]] = {}
    if asset is not None:
        governance["owner"] = (asset.owner, ASSET)
        governance["retention_days"] = (asset.custom.get("retention_days"), ASSET)
        governance["domain"] = (asset.domain, ASSET)
        governance["data_product"] = (asset.data_product, ASSET)
        if asset.tags:
            governance["tags"] = (",".join(asset.tags), ASSET)
    governance.update(
        {k: (v, JOB) for k, v in job.governance_overrides.items() if v is not None and k not in CONTROL_KEYS}
    )
    for key, (value, level) in governance.items():
        if value not in (None, ""):
            text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
            props[f"dativo.governance.{key}"] = Tag(text, level)

    for key, value in job.finops.model_dump().items():
        if value:
            props[f"dativo.finops.{key}"] = Tag(str(value), JOB)
    if asset is not None:
        if asset.id:
            props["dativo.asset.id"] = Tag(asset.id, ASSET)
        if asset.version:
            props["dativo.asset.version"] = Tag(asset.version, ASSET)
    return props


def table_properties(
    job: JobConfig,
    asset: Asset | None,
    columns: list[str],
    detected: Mapping[str, Finding] | None = None,
    source_tags: Mapping[str, str] | None = None,
) -> dict[str, str]:
    return {k: t.value for k, t in effective_tags(job, asset, columns, detected, source_tags).items()}


def column_docs(
    job: JobConfig,
    asset: Asset | None,
    columns: list[str],
    detected: Mapping[str, Finding] | None = None,
    source_tags: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Iceberg column docs carry the classification, after the asset's description."""
    docs: dict[str, str] = {}
    descriptions = {c.name: c.description for c in asset.columns} if asset else {}
    for name, label in column_classifications(job, asset, columns, detected, source_tags).items():
        desc = descriptions.get(name)
        docs[name] = f"{desc} [classification: {label}]" if desc else f"[classification: {label}]"
    return docs
