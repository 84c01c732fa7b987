"""Alembic environment of the ledger: always run by `dativo_workers.ledger` on a connection it
has opened and locked, inside its transaction (never from an alembic.ini)."""

from __future__ import annotations

from alembic import context

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("ledger migrations run through `dativo ledger upgrade`, not the alembic command")
context.configure(connection=connection, version_table=config.attributes["version_table"])
with context.begin_transaction():
    context.run_migrations()
