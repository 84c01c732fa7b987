"""Alembic migrations of the ledger's tables.

`Ledger` runs them on first use (under a lock: a PostgreSQL advisory lock, SQLite's write lock)
and `dativo ledger upgrade` runs them on demand. A new migration goes in `versions/`, revises
the current head, and `ledger.SCHEMA_HEAD` names it (a test checks the two agree).
"""
