"""Baseline: the ledger's tables as `metadata.create_all` made them before migrations existed.

A ledger created by that older code has these tables and no version table: each one is
created only when missing, so such a ledger is adopted in place, its rows untouched.

Revision ID: 0001_baseline
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001_baseline"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "dativo_runs" not in existing:
        op.create_table(
            "dativo_runs",
            sa.Column("run_id", sa.String(64), primary_key=True),
            sa.Column("tenant", sa.String(128), nullable=False),
            sa.Column("job_name", sa.String(256), nullable=False),
            sa.Column("job_path", sa.Text, nullable=False),
            sa.Column("job_json", sa.Text, nullable=False),
            sa.Column("catalog", sa.String(128), nullable=False),
            sa.Column("table_ident", sa.String(512), nullable=False),
            sa.Column("plan_json", sa.Text, nullable=False),
            sa.Column("state", sa.String(16), nullable=False),
            sa.Column("partitions_total", sa.Integer, nullable=False),
            sa.Column("created_at", sa.Float, nullable=False),
            sa.Column("finished_at", sa.Float),
            sa.Column("commit_started_at", sa.Float),
            sa.Column("snapshot_id", sa.BigInteger),
            sa.Column("rows", sa.BigInteger),
            sa.Column("files", sa.Integer),
            sa.Column("bytes", sa.BigInteger),
            sa.Column("bad_rows", sa.BigInteger),
            sa.Column("error", sa.Text),
            sa.Column("queue", sa.String(256)),
        )
        op.create_index("ix_dativo_runs_tenant", "dativo_runs", ["tenant"])
    if "dativo_partitions" not in existing:
        op.create_table(
            "dativo_partitions",
            sa.Column("run_id", sa.String(64), sa.ForeignKey("dativo_runs.run_id"), primary_key=True),
            sa.Column("idx", sa.Integer, primary_key=True),
            sa.Column("spec_json", sa.Text, nullable=False),
            sa.Column("label", sa.Text, nullable=False),
            sa.Column("state", sa.String(16), nullable=False),
            sa.Column("attempts", sa.Integer, nullable=False),
            sa.Column("attempt_base", sa.Integer, nullable=False),
            sa.Column("task_id", sa.String(255)),
            sa.Column("winning_attempt", sa.Integer),
            sa.Column("worker", sa.String(256)),
            sa.Column("rows", sa.BigInteger, nullable=False),
            sa.Column("bytes", sa.BigInteger, nullable=False),
            sa.Column("files", sa.Integer, nullable=False),
            sa.Column("bad_rows", sa.BigInteger, nullable=False),
            sa.Column("error", sa.Text),
            sa.Column("heartbeat_at", sa.Float),
            sa.Column("started_at", sa.Float),
            sa.Column("finished_at", sa.Float),
        )
    if "dativo_fragments" not in existing:
        op.create_table(
            "dativo_fragments",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("run_id", sa.String(64), nullable=False),
            sa.Column("idx", sa.Integer, nullable=False),
            sa.Column("attempt", sa.Integer, nullable=False),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("path", sa.Text, nullable=False),
            sa.Column("rows", sa.BigInteger, nullable=False),
            sa.Column("bytes", sa.BigInteger, nullable=False),
        )
        op.create_index("ix_dativo_fragments_run_id", "dativo_fragments", ["run_id"])


def downgrade() -> None:
    raise NotImplementedError("the baseline is not downgraded: it would drop every run's record")
