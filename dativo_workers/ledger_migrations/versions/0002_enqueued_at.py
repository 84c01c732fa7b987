"""Partitions remember when their task message was last sent (`enqueued_at`), so the
reconciler can tell a partition waiting in the queue from one whose message was lost.

Revision ID: 0002_enqueued_at
Revises: 0001_baseline
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002_enqueued_at"
down_revision: str | None = "0001_baseline"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("dativo_partitions")}
    if "enqueued_at" not in columns:
        op.add_column("dativo_partitions", sa.Column("enqueued_at", sa.Float))


def downgrade() -> None:
    op.drop_column("dativo_partitions", "enqueued_at")
