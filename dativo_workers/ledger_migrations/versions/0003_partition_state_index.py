"""An index on partitions (run_id, state): every finishing partition asks whether its run still
has an open partition, which without it scans the run's rows (quadratic over a 100,000-partition run).

Revision ID: 0003_partition_state_index
Revises: 0002_enqueued_at
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003_partition_state_index"
down_revision: str | None = "0002_enqueued_at"
branch_labels: str | None = None
depends_on: str | None = None

INDEX = "ix_dativo_partitions_run_state"


def upgrade() -> None:
    indexes = {i["name"] for i in sa.inspect(op.get_bind()).get_indexes("dativo_partitions")}
    if INDEX not in indexes:
        op.create_index(INDEX, "dativo_partitions", ["run_id", "state"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="dativo_partitions")
