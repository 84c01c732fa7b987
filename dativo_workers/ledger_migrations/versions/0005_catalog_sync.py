"""Data catalog sync: each run's outcome of the push to OpenMetadata after its commit
(`dativo_runs.catalog_sync`, JSON text; dativo_workers/catalog_sync.py).

Revision ID: 0005_catalog_sync
Revises: 0004_quality
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005_catalog_sync"
down_revision: str | None = "0004_quality"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if "catalog_sync" not in {c["name"] for c in inspector.get_columns("dativo_runs")}:
        op.add_column("dativo_runs", sa.Column("catalog_sync", sa.Text))


def downgrade() -> None:
    op.drop_column("dativo_runs", "catalog_sync")
