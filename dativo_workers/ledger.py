"""Run, partition and fragment bookkeeping: the source of truth the commit reads.

A partition becomes `done` exactly once, by a conditional UPDATE in the same transaction
that records its fragments, so however many attempts ran only one fragment set wins. Every
other state change is a compare-and-set on the state it expects too, so a late or duplicate
caller (a redelivered task, a second reconciler, a cancel racing a start) changes nothing.

The tables are managed by Alembic migrations (`dativo_workers/ledger_migrations`), applied on
first use under a lock and by `dativo ledger upgrade`.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psutil
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import NullPool

from dativo_workers.config.runner import local_path_of
from dativo_workers.errors import DativoError
from dativo_workers.secrets.redact import scrub  # every error text is stored scrubbed

metadata = sa.MetaData()

runs = sa.Table(
    "dativo_runs",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("tenant", sa.String(128), nullable=False, index=True),
    sa.Column("job_name", sa.String(256), nullable=False),
    sa.Column("job_path", sa.Text, nullable=False),
    sa.Column("job_json", sa.Text, nullable=False),  # secret references only, never values
    sa.Column("catalog", sa.String(128), nullable=False),
    sa.Column("table_ident", sa.String(512), nullable=False),
    sa.Column("plan_json", sa.Text, nullable=False),  # table schema, spec, location, mode
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("partitions_total", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
    sa.Column("commit_started_at", sa.Float),
    sa.Column("snapshot_id", sa.BigInteger),
    sa.Column("rows", sa.BigInteger, default=0),
    sa.Column("files", sa.Integer, default=0),
    sa.Column("bytes", sa.BigInteger, default=0),
    sa.Column("bad_rows", sa.BigInteger, default=0),
    sa.Column("error", sa.Text),
    sa.Column("queue", sa.String(256)),  # distributed runs: where retries and reconciles re-enqueue
    sa.Column("quality", sa.Text),  # JSON: the contract quality rules' results (dativo_workers/quality.py)
    sa.Column("catalog_sync", sa.Text),  # JSON: the data catalog sync after the commit (catalog_sync.py)
)

partitions = sa.Table(
    "dativo_partitions",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("dativo_runs.run_id"), primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),
    sa.Column("spec_json", sa.Text, nullable=False),
    sa.Column("label", sa.Text, nullable=False, default=""),
    sa.Column("state", sa.String(16), nullable=False, default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("attempt_base", sa.Integer, nullable=False, default=0),  # attempts before the last `retry`
    sa.Column("task_id", sa.String(255)),
    sa.Column("winning_attempt", sa.Integer),
    sa.Column("worker", sa.String(256)),
    sa.Column("rows", sa.BigInteger, nullable=False, default=0),  # progress while running, final when done
    sa.Column("bytes", sa.BigInteger, nullable=False, default=0),
    sa.Column("files", sa.Integer, nullable=False, default=0),
    sa.Column("bad_rows", sa.BigInteger, nullable=False, default=0),
    sa.Column("error", sa.Text),
    sa.Column("heartbeat_at", sa.Float),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float),
    sa.Column("enqueued_at", sa.Float),  # when its task message was last sent (the reconciler's clock)
    sa.Column("quality", sa.Text),  # JSON: the winning attempt's quality counters (small; quality.py)
    # "is any partition of this run still open?" after every finish: a lookup, not a scan of the run
    sa.Index("ix_dativo_partitions_run_state", "run_id", "state"),
)

fragments = sa.Table(
    "dativo_fragments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), nullable=False, index=True),
    sa.Column("idx", sa.Integer, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # data | quarantine
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
)

# The statements every partition attempt runs (claim, finish), built once: constructing a Core
# statement costs ~0.1 ms of Python, several times what SQLite then takes to run it. States are
# compared with = / <> rather than IN: an IN list is re-expanded on every execution.
_run_id, _idx = sa.bindparam("p_run_id"), sa.bindparam("p_idx")
_LOCK_ACTIVE_RUN = (  # the run's row, locked by a no-op write, if partitions may start
    runs.update()
    .where(runs.c.run_id == _run_id, sa.or_(runs.c.state == "pending", runs.c.state == "running"))
    .values(state=runs.c.state)
)
_LOCK_RUN = runs.update().where(runs.c.run_id == _run_id).values(state=runs.c.state)
_RUN_STARTED = runs.update().where(runs.c.run_id == _run_id, runs.c.state == "pending").values(state="running")
_CLAIM_PENDING = (  # a pending partition claimed, and what its worker needs read back, in one statement
    partitions.update()
    .where(partitions.c.run_id == _run_id, partitions.c.idx == _idx, partitions.c.state == "pending")
    .values(
        attempts=partitions.c.attempts + 1,
        state="running",
        worker=sa.bindparam("p_worker"),
        heartbeat_at=sa.bindparam("p_now"),
        started_at=sa.bindparam("p_now"),
        error=None,
        rows=0,
        bytes=0,
    )
    .returning(partitions.c.attempts, partitions.c.spec_json, partitions.c.attempt_base)
)
_FINISH = (
    partitions.update()
    .where(
        partitions.c.run_id == _run_id,
        partitions.c.idx == _idx,
        partitions.c.state != "done",
        partitions.c.state != "cancelled",
    )
    .values(
        state="done",
        winning_attempt=sa.bindparam("p_attempt"),
        finished_at=sa.bindparam("p_now"),
        error=None,
        rows=sa.bindparam("p_rows"),
        bytes=sa.bindparam("p_bytes"),
        files=sa.bindparam("p_files"),
        bad_rows=sa.bindparam("p_bad_rows"),
        quality=sa.bindparam("p_quality"),
    )
)
_ADD_FRAGMENTS = fragments.insert()
_ANY_OPEN = (
    sa.select(partitions.c.idx)
    .where(partitions.c.run_id == _run_id, sa.or_(partitions.c.state == "pending", partitions.c.state == "running"))
    .limit(1)
)

RUN_STATES = ("pending", "running", "committing", "committed", "failed", "cancelled")
FINAL_STATES = ("committed", "failed", "cancelled")
ACTIVE_STATES = ("pending", "running")  # a run whose partitions may start
# set_run_state: the states each state may be reached from. `committed` from any state: a run
# whose snapshot is in the table is committed whatever the ledger said (the table decides).
_RUN_FROM: dict[str, tuple[str, ...]] = {
    "pending": (),
    "running": ("pending",),
    "committing": ("committing",),  # the way in is claim_commit (with its lease)
    "committed": RUN_STATES,
    "failed": ("pending", "running", "committing", "failed"),
    "cancelled": ("pending", "running", "failed"),
}
SCHEMA_HEAD = "0005_catalog_sync"  # the newest migration in ledger_migrations/versions
VERSION_TABLE = "dativo_ledger_version"  # not `alembic_version`: the ledger may share a schema
_PG_LOCK_CLASS = 0x0DA7  # pg_advisory_xact_lock(class, hashtext(schema)): one upgrader per schema


@dataclass
class Fragment:
    kind: str
    path: str
    rows: int
    bytes: int
    idx: int = field(default=-1, compare=False)  # the partition that wrote it (as read by winning_fragments)


@dataclass
class Claim:
    """A started attempt and what its worker needs from the partition's row (one round trip)."""

    attempt: int
    spec_json: str
    attempt_base: int


@dataclass
class Finished:
    """What `finish_attempt` did: whether this attempt's fragments won, and whether the run then
    had no partition pending or running (read in the same transaction)."""

    won: bool
    run_finished: bool


def task_id_for(run_id: str, batch: str, idx: int) -> str:
    """The task id of a partition's message in one enqueue batch (`Ledger.set_task_batch`)."""
    return f"{run_id}-{batch}-p{idx}"


UPDATE_CHUNK = 5000  # partition indexes per statement (SQLite allows 32,766 bound values)


def _pending_partition(run_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The partitions row of a partition not started yet (``spec`` carries its ``index``)."""
    return {
        "run_id": run_id,
        "idx": spec["index"],
        "spec_json": json.dumps(spec),
        "label": spec.get("label", ""),
        "state": "pending",
        "attempts": 0,
        "rows": 0,
        "bytes": 0,
        "files": 0,
        "bad_rows": 0,
    }


class Ledger:
    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: sa.Engine | None = None

    @property
    def engine(self) -> sa.Engine:
        """Connected on first use, so validating a job never creates a ledger file. The first
        use also brings the tables to this version's schema (a no-op once they are)."""
        if self._engine is None:
            engine = self._new_engine()
            try:
                if schema_revision(engine) != SCHEMA_HEAD:
                    upgrade_schema(engine, self.url)
            except BaseException:
                engine.dispose()  # a ledger blip: the next call connects and checks again
                raise
            self._engine = engine
        return self._engine

    def _new_engine(self) -> sa.Engine:
        path = local_path_of(self.url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        if self.url.startswith("sqlite"):
            engine = sa.create_engine(self.url, connect_args={"timeout": 60})
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return sa.create_engine(self.url, pool_pre_ping=True)

    def upgrade(self) -> tuple[str | None, str]:
        """Apply the migrations this version has and the ledger lacks (`dativo ledger upgrade`).
        Returns the schema revision before (None: no ledger yet, or one from before migrations)
        and after."""
        engine = self._engine or self._new_engine()
        try:
            before = upgrade_schema(engine, self.url)
        except BaseException:
            if self._engine is None:
                engine.dispose()
            raise
        self._engine = engine
        return before, SCHEMA_HEAD

    @contextmanager
    def _tx(self) -> Iterator[sa.Connection]:
        with self.engine.begin() as conn:
            yield conn

    # -- runs ---------------------------------------------------------------------------
    def create_run(
        self,
        *,
        run_id: str,
        tenant: str,
        job_name: str,
        job_path: str,
        job: dict[str, Any],
        catalog: str,
        table_ident: str,
        plan: dict[str, Any],
        partition_specs: list[dict[str, Any]],
        queue: str | None = None,
        failed: str | None = None,
    ) -> None:
        """``failed``: record a run that failed while planning (its error), in one insert, so no
        reconciler or committer ever sees it pending."""
        now = time.time()
        final = {"error": scrub(failed)[:4000], "finished_at": now} if failed else {}
        with self._tx() as conn:
            conn.execute(
                runs.insert().values(
                    run_id=run_id,
                    tenant=tenant,
                    job_name=job_name,
                    job_path=job_path,
                    job_json=json.dumps(job),
                    catalog=catalog,
                    table_ident=table_ident,
                    plan_json=json.dumps(plan),
                    state="failed" if failed else "pending",
                    partitions_total=len(partition_specs),
                    created_at=now,
                    rows=0,
                    files=0,
                    bytes=0,
                    bad_rows=0,
                    queue=queue,
                    **final,
                )
            )
            if partition_specs:
                conn.execute(partitions.insert(), [_pending_partition(run_id, p) for p in partition_specs])

    def run(self, run_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(runs.select().where(runs.c.run_id == run_id)).mappings().first()
        return dict(row) if row else None

    def list_runs(self, tenant: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        query = runs.select().order_by(runs.c.created_at.desc()).limit(limit)
        if tenant:
            query = query.where(runs.c.tenant == tenant)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def set_run_state(self, run_id: str, state: str, *, expected: Iterable[str] | None = None, **values: Any) -> bool:
        """Move the run to ``state`` if it is in one of the ``expected`` states (default: the
        states ``state`` may follow). Returns whether it moved: a refused change writes nothing."""
        assert state in RUN_STATES, state
        allowed = tuple(expected) if expected is not None else _RUN_FROM[state]
        if state in FINAL_STATES:
            values.setdefault("finished_at", time.time())
        with self._tx() as conn:
            result = conn.execute(
                runs.update().where(runs.c.run_id == run_id, runs.c.state.in_(allowed)).values(state=state, **values)
            )
            return result.rowcount == 1

    def active_runs(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            query = runs.select().where(runs.c.state.in_(("pending", "running", "committing")))
            return [dict(r) for r in conn.execute(query).mappings()]

    def all_partitions_finished(self, run_id: str) -> bool:
        """Whether no partition of the run is pending or running. Every finishing partition asks,
        so it is an index lookup that stops at the first open partition, not a count."""
        with self.engine.connect() as conn:
            return conn.execute(_ANY_OPEN, {"p_run_id": run_id}).first() is None

    def set_task_batch(self, run_id: str, indexes: list[int], batch: str, queue: str) -> dict[int, str]:
        """Record the task ids of one enqueue batch about to be sent, and when (the reconciler's
        lost-message clock). The ids are `task_id_for(run_id, batch, idx)`, computed by the
        database, so 100,000 partitions are one statement, not 100,000."""
        now = time.time()
        task_id = sa.literal(task_id_for(run_id, batch, 0)[:-1]) + sa.cast(partitions.c.idx, sa.String)
        with self._tx() as conn:
            conn.execute(runs.update().where(runs.c.run_id == run_id).values(queue=queue))
            total = conn.execute(
                sa.select(sa.func.count()).select_from(partitions).where(partitions.c.run_id == run_id)
            ).scalar_one()
            update = partitions.update().values(task_id=task_id, enqueued_at=now)
            if len(indexes) == total and len(set(indexes)) == total:  # the whole run: no index list
                conn.execute(update.where(partitions.c.run_id == run_id))
            else:
                for start in range(0, len(indexes), UPDATE_CHUNK):
                    chunk = indexes[start : start + UPDATE_CHUNK]
                    conn.execute(update.where(partitions.c.run_id == run_id, partitions.c.idx.in_(chunk)))
        return {idx: task_id_for(run_id, batch, idx) for idx in indexes}

    def claim_requeue(self, run_id: str, idx: int, enqueued_at: float | None) -> bool:
        """The reconciler found this pending partition's message nowhere in the broker: claim
        the right to send it again, unless someone else did (or the partition moved on) since
        ``enqueued_at`` was read. Two reconcilers cannot both resend it."""
        last = partitions.c.enqueued_at
        with self._tx() as conn:
            result = conn.execute(
                partitions.update()
                .where(
                    partitions.c.run_id == run_id,
                    partitions.c.idx == idx,
                    partitions.c.state == "pending",
                    last.is_(None) if enqueued_at is None else last == enqueued_at,
                )
                .values(enqueued_at=time.time())
            )
            return result.rowcount == 1

    def reopen(self, run_id: str, lease_seconds: float) -> list[int]:
        """For `dativo retry`: failed, pending and stale running partitions go back to pending,
        their delivery budget restarts, and a failed run becomes running again. Returns them."""
        now = time.time()
        stale_before = now - lease_seconds
        with self._tx() as conn:
            # the run first (the order cancel and start_attempt lock in); a committed or
            # cancelled run, or one being committed right now, is not reopened
            reopened = conn.execute(
                runs.update()
                .where(
                    runs.c.run_id == run_id,
                    sa.or_(
                        runs.c.state.in_(("failed", "pending", "running")),
                        sa.and_(runs.c.state == "committing", runs.c.commit_started_at < stale_before),
                    ),
                )
                .values(state="running", error=None, finished_at=None)
            )
            if reopened.rowcount != 1:
                return []
            rows = conn.execute(
                sa.select(partitions.c.idx).where(
                    partitions.c.run_id == run_id,
                    sa.or_(
                        partitions.c.state.in_(("failed", "pending")),
                        sa.and_(partitions.c.state == "running", partitions.c.heartbeat_at < stale_before),
                    ),
                )
            ).all()
            indexes = [r[0] for r in rows]
            if indexes:
                conn.execute(
                    partitions.update()
                    .where(partitions.c.run_id == run_id, partitions.c.idx.in_(indexes))
                    .values(state="pending", attempt_base=partitions.c.attempts)
                )
        return indexes

    def cancel(self, run_id: str) -> bool:
        """Cancel a run that has not committed. Returns whether it was cancelled now."""
        with self._tx() as conn:
            result = conn.execute(
                runs.update()
                .where(runs.c.run_id == run_id, runs.c.state.in_(("pending", "running", "failed")))
                .values(state="cancelled", finished_at=time.time(), error="cancelled by the operator")
            )
            if result.rowcount != 1:
                return False
            conn.execute(
                partitions.update()
                .where(partitions.c.run_id == run_id, partitions.c.state.in_(("pending", "running")))
                .values(state="cancelled")
            )
            return True

    def claim_commit(self, run_id: str, lease_seconds: float) -> bool:
        """Become the run's only committer (the last partitions to finish and the reconciler
        may all try at once). A claim older than the lease is taken over: its holder died."""
        now = time.time()
        with self._tx() as conn:
            result = conn.execute(
                runs.update()
                .where(
                    runs.c.run_id == run_id,
                    sa.or_(
                        runs.c.state.in_(("pending", "running")),
                        sa.and_(runs.c.state == "committing", runs.c.commit_started_at < now - lease_seconds),
                    ),
                )
                .values(state="committing", commit_started_at=now)
            )
            return result.rowcount == 1

    def add_partitions(self, run_id: str, specs: list[dict[str, Any]]) -> list[int]:
        """A second round of partitions for a run being committed (a merge's rewrite of touched
        files), numbered after the existing ones, recorded together with the run going back from
        `committing` to `running` (the committer's claim released): the partition that finishes
        last fires the commit again, as for ingest partitions. Returns their indexes; [] when the
        run is no longer being committed (nothing recorded)."""
        with self._tx() as conn:
            moved = conn.execute(
                runs.update()
                .where(runs.c.run_id == run_id, runs.c.state == "committing")
                .values(state="running", commit_started_at=None)
            )
            if moved.rowcount != 1:
                return []
            top = conn.execute(sa.select(sa.func.max(partitions.c.idx)).where(partitions.c.run_id == run_id)).scalar()
            first = -1 if top is None else int(top)
            rows = [_pending_partition(run_id, {**spec, "index": first + 1 + n}) for n, spec in enumerate(specs)]
            if rows:
                conn.execute(partitions.insert(), rows)
            return [r["idx"] for r in rows]

    def set_quality(self, run_id: str, results: str) -> None:
        """The run's quality rule results (JSON), recorded before its commit or failure."""
        with self._tx() as conn:
            conn.execute(runs.update().where(runs.c.run_id == run_id).values(quality=results))

    def set_catalog_sync(self, run_id: str, outcome: str) -> None:
        """What the data catalog sync after the run's commit did (JSON; errors already scrubbed)."""
        with self._tx() as conn:
            conn.execute(runs.update().where(runs.c.run_id == run_id).values(catalog_sync=scrub(outcome)))

    def fail_run(self, run_id: str, error: str) -> bool:
        """Mark a run failed unless it is already committed or cancelled (a concurrent
        committer may have won). Returns whether the state changed."""
        with self._tx() as conn:
            result = conn.execute(
                runs.update()
                .where(runs.c.run_id == run_id, runs.c.state.not_in(("committed", "cancelled")))
                .values(state="failed", error=scrub(error)[:4000], finished_at=time.time())
            )
            return result.rowcount == 1

    # -- partitions ---------------------------------------------------------------------
    def partitions(self, run_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                partitions.select().where(partitions.c.run_id == run_id).order_by(partitions.c.idx)
            ).mappings()
            return [dict(r) for r in rows]

    def partition_states(self, run_id: str) -> list[dict[str, Any]]:
        """`partitions` without the specs and error texts: what the reconciler reads of every
        active run on every pass (a 100,000-partition run's specs are megabytes)."""
        columns = [
            partitions.c.idx,
            partitions.c.state,
            partitions.c.attempts,
            partitions.c.task_id,
            partitions.c.heartbeat_at,
            partitions.c.enqueued_at,
        ]
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(*columns).where(partitions.c.run_id == run_id).order_by(partitions.c.idx)
            ).mappings()
            return [dict(r) for r in rows]

    def partition(self, run_id: str, idx: int) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = (
                conn.execute(partitions.select().where(partitions.c.run_id == run_id, partitions.c.idx == idx))
                .mappings()
                .one()
            )
            return dict(row)

    def start_attempt(
        self, run_id: str, idx: int, worker: str | None = None, lease_seconds: float = 60.0
    ) -> int | None:
        """Claim a new attempt number, or None: the run is not pending or running (cancelled,
        failed, committed), the partition is not pending or running (done, failed, cancelled),
        or another attempt holds it and is alive (see `holder_gone`)."""
        claim = self.claim_attempt(run_id, idx, worker, lease_seconds)
        return claim.attempt if claim is not None else None

    def claim_attempt(
        self, run_id: str, idx: int, worker: str | None = None, lease_seconds: float = 60.0
    ) -> Claim | None:
        """`start_attempt`, returning with the attempt the partition's spec and delivery base
        read in the same transaction (a worker needs no second read of the row)."""
        now = time.time()
        me = worker or _worker_id()
        with self._tx() as conn:
            # the run's row first, locked by a no-op write (the order cancel locks in): a cancel
            # lands wholly before this claim (refused) or after it (the heartbeat reports it)
            if conn.dialect.update_returning:
                run_state = conn.execute(_LOCK_ACTIVE_RUN.returning(runs.c.state), {"p_run_id": run_id}).scalar()
                if run_state is None:
                    return None
                # the common case, a pending partition: claimed and read in one statement
                claimed_row = conn.execute(
                    _CLAIM_PENDING, {"p_run_id": run_id, "p_idx": idx, "p_worker": me, "p_now": now}
                ).first()
                if claimed_row is not None:
                    if run_state == "pending":
                        conn.execute(_RUN_STARTED, {"p_run_id": run_id})
                    return Claim(int(claimed_row.attempts), claimed_row.spec_json, int(claimed_row.attempt_base))
            elif conn.execute(_LOCK_ACTIVE_RUN, {"p_run_id": run_id}).rowcount != 1:
                return None
            # not pending (a running partition whose holder may be gone, or past running): read, decide, compare-and-set
            row = conn.execute(
                sa.select(
                    partitions.c.state,
                    partitions.c.attempts,
                    partitions.c.worker,
                    partitions.c.heartbeat_at,
                    partitions.c.spec_json,
                    partitions.c.attempt_base,
                ).where(partitions.c.run_id == run_id, partitions.c.idx == idx)
            ).first()
            if row is None or row.state not in ("pending", "running"):
                return None
            if row.state == "running" and not holder_gone(row.worker, row.heartbeat_at, now - lease_seconds, me):
                return None
            claimed = conn.execute(
                partitions.update()
                .where(
                    partitions.c.run_id == run_id,
                    partitions.c.idx == idx,
                    partitions.c.state == row.state,
                    partitions.c.attempts == row.attempts,
                )
                .values(
                    attempts=row.attempts + 1,
                    state="running",
                    worker=me,
                    heartbeat_at=now,
                    started_at=now,
                    error=None,
                    rows=0,
                    bytes=0,
                )
            )
            if claimed.rowcount != 1:
                return None
            conn.execute(_RUN_STARTED, {"p_run_id": run_id})
            return Claim(int(row.attempts) + 1, row.spec_json, int(row.attempt_base))

    def heartbeat(self, run_id: str, idx: int, attempt: int, rows: int, nbytes: int) -> str:
        """Record progress; returns the run's state so a cancelled run stops its workers."""
        with self._tx() as conn:
            conn.execute(
                partitions.update()
                .where(*_running_attempt(run_id, idx, attempt))
                .values(heartbeat_at=time.time(), rows=rows, bytes=nbytes)
            )
            return str(conn.execute(sa.select(runs.c.state).where(runs.c.run_id == run_id)).scalar_one())

    def finish_partition(
        self, run_id: str, idx: int, attempt: int, produced: list[Fragment], bad_rows: int, quality: str | None = None
    ) -> bool:
        """Record this attempt's fragments (and quality counters) if no other attempt won first.
        Returns whether it won."""
        return self.finish_attempt(run_id, idx, attempt, produced, bad_rows, quality).won

    def finish_attempt(
        self, run_id: str, idx: int, attempt: int, produced: list[Fragment], bad_rows: int, quality: str | None = None
    ) -> Finished:
        """`finish_partition`, and in the same transaction whether the run has any partition
        still open (`all_partitions_finished`): the partition that leaves none sends the commit.

        The run's row is locked first (the order claims and cancels lock in), so two partitions
        finishing at once are serialized: the second sees the first's finish, and at least one of
        them sees the run with nothing open. Without the lock, under READ COMMITTED each could see
        the other still running and neither would send the commit."""
        data = [f for f in produced if f.kind == "data"]
        with self._tx() as conn:
            conn.execute(_LOCK_RUN, {"p_run_id": run_id})
            result = conn.execute(
                _FINISH,
                {
                    "p_run_id": run_id,
                    "p_idx": idx,
                    "p_attempt": attempt,
                    "p_now": time.time(),
                    "p_rows": sum(f.rows for f in data),
                    "p_bytes": sum(f.bytes for f in data),
                    "p_files": len(data),
                    "p_bad_rows": bad_rows,
                    "p_quality": quality,
                },
            )
            if result.rowcount != 1:
                return Finished(won=False, run_finished=False)
            if produced:
                conn.execute(
                    _ADD_FRAGMENTS,
                    [
                        {
                            "run_id": run_id,
                            "idx": idx,
                            "attempt": attempt,
                            "kind": f.kind,
                            "path": f.path,
                            "rows": f.rows,
                            "bytes": f.bytes,
                        }
                        for f in produced
                    ],
                )
            return Finished(won=True, run_finished=conn.execute(_ANY_OPEN, {"p_run_id": run_id}).first() is None)

    def release_partition(self, run_id: str, idx: int, attempt: int, error: str | None = None) -> bool:
        """Back to pending if that attempt is still the running one: after a transient failure
        (a retry follows; the error stays for `status`), or when its worker went silent."""
        values: dict[str, Any] = {"state": "pending", "enqueued_at": time.time()}  # a message follows
        if error is not None:
            values["error"] = scrub(error)[:4000]
        with self._tx() as conn:
            result = conn.execute(partitions.update().where(*_running_attempt(run_id, idx, attempt)).values(**values))
            return result.rowcount == 1

    def fail_partition(self, run_id: str, idx: int, attempt: int | None, error: str) -> None:
        """Record a failure, unless the partition is done or cancelled, or a newer attempt is under way."""
        condition = [
            partitions.c.run_id == run_id,
            partitions.c.idx == idx,
            partitions.c.state.not_in(("done", "cancelled")),
        ]
        if attempt is not None:
            condition.append(partitions.c.attempts == attempt)
        with self._tx() as conn:
            conn.execute(
                partitions.update()
                .where(*condition)
                .values(state="failed", error=scrub(error)[:4000], finished_at=time.time())
            )

    def winning_fragments(self, run_id: str, kind: str = "data") -> list[Fragment]:
        """The fragments of each done partition's winning attempt, in partition order.

        Two plain scans of the run, matched here, not a join: on a run's freshly written rows
        (no statistics yet) PostgreSQL may plan the join as a nested loop over the run's
        fragments per partition, 1.5 s instead of 0.05 s at 3,000 partitions, quadratic beyond.
        A partition that finishes between the two reads is left out, as if read before."""
        with self.engine.connect() as conn:
            winners = dict(
                conn.execute(
                    sa.select(partitions.c.idx, partitions.c.winning_attempt).where(
                        partitions.c.run_id == run_id, partitions.c.state == "done"
                    )
                ).all()
            )
            rows = conn.execute(
                sa.select(fragments.c.idx, fragments.c.attempt, fragments.c.path, fragments.c.rows, fragments.c.bytes)
                .where(fragments.c.run_id == run_id, fragments.c.kind == kind)
                .order_by(fragments.c.idx, fragments.c.id)
            ).all()
        return [Fragment(kind, r.path, r.rows, r.bytes, r.idx) for r in rows if winners.get(r.idx) == r.attempt]

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def _running_attempt(run_id: str, idx: int, attempt: int) -> tuple[sa.ColumnElement[bool], ...]:
    """Only the attempt that currently holds a running partition may touch it."""
    return (
        partitions.c.run_id == run_id,
        partitions.c.idx == idx,
        partitions.c.attempts == attempt,
        partitions.c.state == "running",
    )


def holder_gone(worker: str | None, heartbeat_at: float | None, stale_before: float, me: str) -> bool:
    """Whether the attempt holding a running partition has stopped: its heartbeat is older than
    the lease, or its process is known to be gone: it is the claiming worker itself (a process
    runs one partition at a time, so that attempt is over), or a process of this host that has
    exited."""
    if (heartbeat_at or 0) < stale_before:
        return True
    if not worker:
        return False
    if worker == me:
        return True
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another host's process: only its heartbeat can tell
    try:
        return psutil.Process(int(pid)).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


# -- schema -----------------------------------------------------------------------------------


def schema_revision(engine: sa.Engine) -> str | None:
    """The ledger's migration revision (None: no ledger yet, or one from before migrations)."""
    with engine.connect() as conn:
        return _revision(conn)


def _revision(conn: sa.Connection) -> str | None:
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return None
    return conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def upgrade_schema(engine: sa.Engine, url: str) -> str | None:
    """Run the missing migrations under a lock, so processes first using one fresh ledger at
    once do not race to create its tables: the first does the work, the others then find the
    schema current. Returns the revision found under the lock."""
    with _schema_lock(engine, url) as conn:
        before = _revision(conn)
        if before is None and not set(sa.inspect(conn).get_table_names()) & set(metadata.tables):
            _create_schema(conn)
        elif before != SCHEMA_HEAD:
            _migrate(conn, before)
    return before


def _create_schema(conn: sa.Connection) -> None:
    """A new ledger: this version's tables, stamped with the newest revision. What the migrations
    would make (a test compares the two), without loading Alembic and running each migration,
    which costs every first run of a project about half a second."""
    metadata.create_all(conn)
    version = sa.Table(  # Alembic's own version table, so later migrations find their start
        VERSION_TABLE,
        sa.MetaData(),
        sa.Column("version_num", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"),
    )
    version.create(conn)
    conn.execute(version.insert().values(version_num=SCHEMA_HEAD))


def _migrate(conn: sa.Connection, before: str | None) -> None:
    from alembic import command
    from alembic.config import Config
    from alembic.util import CommandError

    from dativo_workers import ledger_migrations

    config = Config()
    config.set_main_option("script_location", os.path.dirname(ledger_migrations.__file__))
    config.attributes["version_table"] = VERSION_TABLE
    config.attributes["connection"] = conn
    try:
        command.upgrade(config, "head")
    except CommandError as exc:
        raise DativoError(
            f"the ledger's schema is at revision {before!r}, which this version of dativo does not "
            f"know (it knows up to {SCHEMA_HEAD!r}): upgrade dativo here ({exc})"
        ) from None


@contextmanager
def _schema_lock(engine: sa.Engine, url: str) -> Iterator[sa.Connection]:
    """A transaction holding the lock every schema upgrader of this ledger takes."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn, conn.begin():  # PostgreSQL DDL is transactional: all or nothing
            conn.execute(
                sa.text("SELECT pg_advisory_xact_lock(:cls, hashtext(coalesce(current_schema(), '')))"),
                {"cls": _PG_LOCK_CLASS},
            )
            yield conn
    elif engine.dialect.name == "sqlite" and local_path_of(url) is not None:
        # BEGIN IMMEDIATE takes the database's write lock before reading the revision; the
        # driver's own transaction handling would begin only at the first INSERT/UPDATE.
        locker = sa.create_engine(url, poolclass=NullPool, connect_args={"timeout": 60, "isolation_level": None})
        event.listen(locker, "connect", _sqlite_pragmas)
        event.listen(locker, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        try:
            with locker.begin() as conn:
                yield conn
        finally:
            locker.dispose()
    else:  # an in-memory SQLite database has one user; other databases get no lock
        with engine.begin() as conn:
            yield conn


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
