"""Contract quality rules: each partition's counters (`dativo_partitions.quality`, the winning
attempt's) and each run's rule results (`dativo_runs.quality`), both JSON text.

Revision ID: 0004_quality
Revises: 0003_partition_state_index
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004_quality"
down_revision: str | None = "0003_partition_state_index"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table in ("dativo_partitions", "dativo_runs"):
        if "quality" not in {c["name"] for c in inspector.get_columns(table)}:
            op.add_column(table, sa.Column("quality", sa.Text))


def downgrade() -> None:
    op.drop_column("dativo_runs", "quality")
    op.drop_column("dativo_partitions", "quality")
