"""Where detect keeps its state and the alert transitions it decided: one SQLite file (WAL)
per detect process, or the one ``detect`` schema all detect processes share on PostgreSQL
(states keyed by owner, so processes that own different villages never touch each other's).

Detector states and the transitions their changes produced are committed in
one transaction, and the MQTT messages behind them are acknowledged only
after that: a crash before the commit replays the messages against the older
state and decides the same transitions again; a crash after it finds them
already processed. Either way each transition is recorded once.

Tables: ``state`` (owner → JSON), ``transitions`` (the transition log the alert
engine reads, written and read only through :mod:`villagewatch.transitions`),
``alerts`` (what is firing now) and
``dead_letters`` (messages detect failed on, newest :data:`DEAD_LETTERS_KEPT`).
On PostgreSQL a commit that recorded new transitions also sends a ``NOTIFY`` on
:data:`~villagewatch.db.transition_log.WAKE_CHANNEL`, delivered when it commits, so an
alert engine that listens applies them at once instead of at its next poll.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import orjson

from villagewatch.cluster.leases import LEASES_MIGRATION, Fence, check_fence
from villagewatch.contract import DeadLetter, RejectReason
from villagewatch.db.database import Connection, Location, PostgresLocation, open_database
from villagewatch.db.migrations import Migration
from villagewatch.db.sqlite import DEFAULT_BUSY_TIMEOUT_S, SQLiteFile
from villagewatch.db.transition_log import WAKE_CHANNEL, TableTransitionLog
from villagewatch.errors import StoreUnavailable
from villagewatch.runtime.waiting import sleep_or_stop
from villagewatch.transitions import Transition

__all__ = [
    "DEAD_LETTERS_KEPT",
    "MIGRATIONS",
    "DetectStore",
    "dump_states",
    "open_detect_store",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
_OPTIONS = orjson.OPT_NON_STR_KEYS

MIGRATIONS = (
    Migration(
        "detect's state, transitions, firing alerts and dead letters",
        """
CREATE TABLE IF NOT EXISTS state (owner TEXT PRIMARY KEY, state TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS transitions (
    id TEXT NOT NULL UNIQUE, key TEXT NOT NULL, detector TEXT NOT NULL, village TEXT NOT NULL,
    subject TEXT NOT NULL, kind TEXT NOT NULL, action TEXT NOT NULL, severity TEXT NOT NULL,
    at_ms INTEGER NOT NULL, message TEXT NOT NULL, details TEXT NOT NULL,
    historical INTEGER NOT NULL, needs_close INTEGER NOT NULL, recorded_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS transitions_key ON transitions (key);
CREATE TABLE IF NOT EXISTS alerts (
    key TEXT PRIMARY KEY, detector TEXT NOT NULL, village TEXT NOT NULL, subject TEXT NOT NULL,
    kind TEXT NOT NULL, severity TEXT NOT NULL, since_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL, message TEXT NOT NULL, details TEXT NOT NULL,
    historical INTEGER NOT NULL, needs_close INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY, received_ns INTEGER NOT NULL, topic TEXT NOT NULL,
    reason TEXT NOT NULL, detail TEXT NOT NULL, payload BLOB NOT NULL
);
""",
        postgres="""
CREATE TABLE state (owner TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE transitions (
    id TEXT NOT NULL UNIQUE, key TEXT NOT NULL, detector TEXT NOT NULL, village TEXT NOT NULL,
    subject TEXT NOT NULL, kind TEXT NOT NULL, action TEXT NOT NULL, severity TEXT NOT NULL,
    at_ms BIGINT NOT NULL, message TEXT NOT NULL, details TEXT NOT NULL,
    historical INTEGER NOT NULL, needs_close INTEGER NOT NULL, recorded_ns BIGINT NOT NULL
);
CREATE INDEX transitions_key ON transitions (key);
CREATE TABLE alerts (
    key TEXT PRIMARY KEY, detector TEXT NOT NULL, village TEXT NOT NULL, subject TEXT NOT NULL,
    kind TEXT NOT NULL, severity TEXT NOT NULL, since_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL, message TEXT NOT NULL, details TEXT NOT NULL,
    historical INTEGER NOT NULL, needs_close INTEGER NOT NULL
);
CREATE TABLE dead_letters (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, received_ns BIGINT NOT NULL,
    topic TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL, payload BYTEA NOT NULL
);
""",
    ),
    Migration(
        "transitions carry their message key and parameters (the reader's language)",
        # Older rows keep '' and '{}': their message is the stored text.
        """
ALTER TABLE transitions ADD COLUMN message_key TEXT NOT NULL DEFAULT '';
ALTER TABLE transitions ADD COLUMN params TEXT NOT NULL DEFAULT '{}';
""",
    ),
    Migration(
        "transitions get an explicit position column (it was SQLite's rowid)",
        # The table is rebuilt with each row's rowid as its position: the alert engines'
        # cursors are rowids and stay valid. INTEGER PRIMARY KEY is the rowid itself, so new
        # rows are numbered exactly as before.
        """
CREATE TABLE transitions_v3 (
    position INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE, key TEXT NOT NULL, detector TEXT NOT NULL, village TEXT NOT NULL,
    subject TEXT NOT NULL, kind TEXT NOT NULL, action TEXT NOT NULL, severity TEXT NOT NULL,
    at_ms INTEGER NOT NULL, message TEXT NOT NULL, details TEXT NOT NULL,
    historical INTEGER NOT NULL, needs_close INTEGER NOT NULL, recorded_ns INTEGER NOT NULL,
    message_key TEXT NOT NULL DEFAULT '', params TEXT NOT NULL DEFAULT '{}'
);
INSERT INTO transitions_v3 (position, id, key, detector, village, subject, kind, action,
    severity, at_ms, message, details, historical, needs_close, recorded_ns, message_key, params)
SELECT rowid, id, key, detector, village, subject, kind, action, severity, at_ms, message,
    details, historical, needs_close, recorded_ns, message_key, params FROM transitions;
DROP TABLE transitions;
ALTER TABLE transitions_v3 RENAME TO transitions;
CREATE INDEX transitions_key ON transitions (key);
""",
        # Identity values come from one sequence drawn while the writer holds the store's
        # advisory lock (every write does, db.postgres), and the lock is released only after
        # the commit is visible: positions become visible in order, so a reader after its
        # cursor never skips a row committed later with a lower position. CACHE 1 (the
        # default) matters: a per-session cache would hand out numbers out of order.
        postgres="""
ALTER TABLE transitions ADD COLUMN position BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY;
""",
    ),
    LEASES_MIGRATION,  # detect partitions (villagewatch.detect.claim)
)
"""The schema, migration 1 first (see :mod:`villagewatch.db.migrations`)."""

DEAD_LETTERS_KEPT = 10_000
"""Newest dead letters kept; older ones are deleted as new ones come (a flood of poison
must not fill the disk)."""


def dump_states(states: dict[str, dict[str, Any]]) -> dict[str, str]:
    """States as JSON now, so later changes to the live objects can't leak into a commit."""
    return {owner: orjson.dumps(state, option=_OPTIONS).decode() for owner, state in states.items()}


class DetectStore:
    """Detect's state and transitions in its database; calls run on one thread of their own.

    On SQLite, beside the file lies a disk reserve (``<file>.reserve``, ``reserve_bytes``):
    when the disk is full, it is given back so the file can still be opened and committed to —
    alerting goes on — and it is made again once there is room (:meth:`maintain`).
    """

    def __init__(
        self,
        location: Location,
        *,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
        reserve_bytes: int = 64 << 20,
    ) -> None:
        """Open (or create) the database; :class:`StoreUnavailable` when that is impossible."""
        self._db = open_database(
            location, name="detect state", migrations=MIGRATIONS,
            busy_timeout_s=busy_timeout_s, reserve_bytes=reserve_bytes,
        )  # fmt: skip
        self._notify = isinstance(location, PostgresLocation)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="detect-store")

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def maintain(self) -> None:
        """Put the disk reserve back if it was given away and there is room again."""
        if isinstance(self._db, SQLiteFile):  # PostgreSQL's disk is the server's
            await self._run(self._db.maintain)

    def load_states(self) -> list[tuple[str, dict[str, Any]]]:
        """Every saved state (at start-up, before anything runs)."""
        rows = self._db.rows("SELECT owner, state FROM state")
        return [(owner, json.loads(state)) for owner, state in rows]

    async def commit(
        self,
        states: dict[str, str],
        transitions: Sequence[Transition],
        dead_letters: Sequence[DeadLetter] = (),
        fence: Fence | None = None,
    ) -> int:
        """Save states (already JSON: frozen while the engine runs on), record transitions and
        keep dead letters, atomically; returns how many transitions were new. ``fence``: the
        lease of the partition they belong to must still be held at that generation, else
        nothing is written and :class:`~villagewatch.cluster.leases.LeaseLost` is raised."""
        state_rows = list(states.items())
        now_ns = time.time_ns()

        def run(conn: Connection) -> int:
            if fence is not None:
                check_fence(conn, fence)
            new = _commit(conn, state_rows, transitions, dead_letters, now_ns)
            if new and self._notify:
                conn.execute(f"NOTIFY {WAKE_CHANNEL}")  # delivered at commit, never before
            return new

        return await self._run(lambda: self._db.write(run))

    async def leases(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` (the lease functions of :mod:`villagewatch.cluster.leases`) in one
        write transaction of the store, on its thread."""
        return await self._run(lambda: self._db.write(fn))

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The newest dead letters, newest first."""
        rows = await self._run(
            lambda: self._db.rows(
                "SELECT received_ns, topic, reason, detail, payload FROM dead_letters"
                " ORDER BY id DESC LIMIT ?",
                (limit,),
            )
        )
        return [DeadLetter(r[0], r[1], RejectReason(r[2]), r[3], bytes(r[4])) for r in rows]

    async def firing(self) -> list[dict[str, Any]]:
        """Alerts firing now."""
        names = [
            "key", "detector", "village", "subject", "kind", "severity", "since_ms", "updated_ms",
            "message", "details", "historical", "needs_close",
        ]  # fmt: skip
        rows = await self._run(
            lambda: self._db.rows(f"SELECT {', '.join(names)} FROM alerts ORDER BY since_ms")  # noqa: S608 - fixed names
        )
        return [dict(zip(names, r, strict=True)) for r in rows]

    async def close(self) -> None:
        """Close the database and the store's thread."""
        await self._run(self._db.close)
        self._executor.shutdown(wait=True)


def _commit(
    conn: Connection,
    states: list[tuple[str, str]],
    transitions: Sequence[Transition],
    dead_letters: Sequence[DeadLetter],
    now_ns: int,
) -> int:
    if dead_letters:
        conn.executemany(
            "INSERT INTO dead_letters (received_ns, topic, reason, detail, payload)"
            " VALUES (?,?,?,?,?)",
            [(d.received_ns, d.topic, d.reason.value, d.detail, d.payload) for d in dead_letters],
        )
        conn.execute(
            "DELETE FROM dead_letters WHERE id <= (SELECT max(id) FROM dead_letters) - ?",
            (DEAD_LETTERS_KEPT,),
        )
    conn.executemany(
        "INSERT INTO state VALUES (?, ?) ON CONFLICT (owner) DO UPDATE SET state = excluded.state",
        states,
    )
    new = TableTransitionLog(conn).append(transitions, recorded_ns=now_ns)
    for t in new:
        k = t.key
        if t.action == "clear":
            conn.execute("DELETE FROM alerts WHERE key = ?", (str(k),))
        else:
            conn.execute(
                "INSERT INTO alerts VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT (key) DO UPDATE SET severity = excluded.severity,"
                " updated_ms = excluded.updated_ms, message = excluded.message,"
                " details = excluded.details",
                (
                    str(k),
                    k.detector,
                    k.village,
                    k.subject,
                    k.kind,
                    t.severity.value,
                    t.at_ms,
                    t.at_ms,
                    t.message,
                    json.dumps(t.details, ensure_ascii=False, default=str),
                    int(t.historical),
                    int(t.needs_close),
                ),
            )
    return len(new)


async def open_detect_store(
    location: Location,
    *,
    busy_timeout_s: float,
    reserve_bytes: int,
    stop: asyncio.Event,
    retry_s: float = 10,
) -> DetectStore | None:
    """Open detect's store, trying again every ``retry_s`` while it cannot be opened (a full
    or broken disk, a PostgreSQL server that is down); None when ``stop`` comes first. Nothing
    is consumed meanwhile: the messages wait at the broker."""
    failures = 0
    while not stop.is_set():
        try:
            return await asyncio.to_thread(
                DetectStore, location, busy_timeout_s=busy_timeout_s, reserve_bytes=reserve_bytes
            )
        except StoreUnavailable as exc:
            failures += 1
            if failures == 1 or failures % 30 == 0:
                log.critical(
                    "DETECT CANNOT START: %s. No alert is decided until it can; messages wait "
                    "at the broker. Retrying every %.0f s.",
                    exc, retry_s,
                )  # fmt: skip
            await sleep_or_stop(stop, retry_s)
    return None
