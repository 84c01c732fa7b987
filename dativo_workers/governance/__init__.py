"""Governance tags: classification, ownership and FinOps attribution as Iceberg properties."""

from dativo_workers.governance.tags import column_docs, table_properties

__all__ = ["column_docs", "table_properties"]
