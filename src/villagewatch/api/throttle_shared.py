"""The login throttle shared by every API node: the same rules as
:class:`~villagewatch.api.throttle.LoginThrottle`, with its counts in PostgreSQL beside the users.

With N API nodes each counting in its own memory, a guesser spreading tries over them gets N
times the failures per address and N times the turns per name. When the users' store is
shared (PostgreSQL) the counts are too, in a schema of their own beside it (``logins``):
one row per address and per name in ``login_throttle``, read and changed in one write
transaction per admission and per finish (the store's writers run one at a time, so two
nodes never both take the last try).

- **Times** are the database's clock (``db_clock``), never a node's: a node whose clock is
  hours wrong neither forgets failures early nor makes a name wait for hours. The wait an
  attempt gets is a duration, slept on the node.
- **Bounded** like the in-memory throttle: at most ``tracked`` addresses and ``tracked``
  names; past that the rows used longest ago go. A name keeps its newest :data:`KEPT`
  failure times (more never lengthen its wait past ``delay_max_s``).
- **A node killed mid-attempt** leaves its attempt counted as under way; a row not used for
  ``delay_max_s`` + :data:`STALE_AFTER_S` drops those counts, so an address is never locked
  out by a dead node.
- The database down: :class:`~villagewatch.errors.StoreUnavailable`, answered 503 — a login
  is never let through uncounted.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from villagewatch.api.throttle import (
    TRACKED,
    LoginAttempt,
    LoginThrottle,
    Name,
    Source,
    check_source,
    name_finished,
    source_finished,
    take_turn,
)
from villagewatch.db.database import Connection, Location, open_database
from villagewatch.db.migrations import Migration

__all__ = [
    "KEPT",
    "MIGRATIONS",
    "STALE_AFTER_S",
    "Logins",
    "SharedLoginThrottle",
    "admit",
    "finish",
]

MIGRATIONS = (
    Migration(
        "the login throttle's counts per address and per name, and the database clock",
        """
CREATE TABLE IF NOT EXISTS login_throttle (
    kind TEXT NOT NULL, key TEXT NOT NULL, failures TEXT NOT NULL, in_flight INTEGER NOT NULL,
    next_at_ms INTEGER NOT NULL, used_ms INTEGER NOT NULL, PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS login_throttle_by_use ON login_throttle (kind, used_ms);
CREATE VIEW IF NOT EXISTS db_clock AS
    SELECT CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) AS now_ms;
""",
        postgres="""
CREATE TABLE login_throttle (
    kind TEXT NOT NULL, key TEXT NOT NULL, failures TEXT NOT NULL, in_flight INTEGER NOT NULL,
    next_at_ms BIGINT NOT NULL, used_ms BIGINT NOT NULL, PRIMARY KEY (kind, key)
);
CREATE INDEX login_throttle_by_use ON login_throttle (kind, used_ms);
CREATE VIEW db_clock AS
    SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now_ms;
""",
    ),
)
"""The ``logins`` schema, migration 1 first (see :mod:`villagewatch.db.migrations`)."""

KEPT = 64
"""Failure times kept per row (the address's budget is counted within it too)."""
STALE_AFTER_S = 60.0
"""Beyond ``delay_max_s``, how long attempts counted as under way may stay unfinished."""

_SOURCE, _NAME = "source", "name"


class SharedLoginThrottle:
    """Login attempts counted in the shared database (see the module); safe from any thread."""

    def __init__(
        self,
        location: Location,
        *,
        busy_timeout_s: float,
        failures_per_source: int = 20,
        window_s: float = 300,
        delay_max_s: float = 30,
        tracked: int = TRACKED,
    ) -> None:
        self._db = open_database(
            location, name="logins", migrations=MIGRATIONS, busy_timeout_s=busy_timeout_s
        )
        self._per_source = failures_per_source
        self._window_s = window_s
        self._delay_max_s = delay_max_s
        self._tracked = tracked
        self._kept = max(KEPT, failures_per_source)

    def admit(self, source: str, name: str) -> LoginAttempt:
        """Count an attempt from ``source`` for ``name``; :class:`LoginRefused` when the
        address may not try now (nothing is counted then)."""

        def run(c: Connection) -> LoginAttempt:
            now = _now_s(c)
            src = Source()
            src.failures, src.under_way, _ = self._load(c, _SOURCE, source, now)
            check_source(src, now, failures_per_source=self._per_source, window_s=self._window_s)
            person = Name()
            person.failures, person.waiting, person.next_at = self._load(c, _NAME, name, now)
            wait_s = take_turn(
                person, name, now, delay_max_s=self._delay_max_s, window_s=self._window_s
            )
            src.under_way += 1
            self._save(c, _SOURCE, source, src.failures, src.under_way, 0.0, now)
            self._save(c, _NAME, name, person.failures, person.waiting, person.next_at, now)
            return LoginAttempt(source, name, wait_s)

        return self._db.write(run)

    def finish(self, attempt: LoginAttempt, *, succeeded: bool | None) -> None:
        """The attempt's check is over (see :meth:`LoginThrottle.finish`)."""

        def run(c: Connection) -> None:
            now = _now_s(c)
            src = Source()
            src.failures, src.under_way, _ = self._load(c, _SOURCE, attempt.source, now)
            source_finished(src, now, succeeded)
            self._save(c, _SOURCE, attempt.source, src.failures, src.under_way, 0.0, now)
            person = Name()
            person.failures, person.waiting, person.next_at = self._load(
                c, _NAME, attempt.name, now
            )
            name_finished(person, now, succeeded)
            self._save(c, _NAME, attempt.name, person.failures, person.waiting, person.next_at, now)

        self._db.write(run)

    def tracked(self) -> tuple[int, int]:
        """How many addresses and names are remembered."""
        rows = dict(self._db.rows("SELECT kind, count(*) FROM login_throttle GROUP BY kind"))
        return int(rows.get(_SOURCE, 0)), int(rows.get(_NAME, 0))

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def _load(
        self, c: Connection, kind: str, key: str, now: float
    ) -> tuple[deque[float], int, float]:
        row = c.execute(
            "SELECT failures, in_flight, next_at_ms, used_ms FROM login_throttle"
            " WHERE kind = ? AND key = ?",
            (kind, key),
        ).fetchone()
        if row is None:
            return deque(), 0, 0.0
        failures = deque(ms / 1000 for ms in json.loads(row[0]))
        in_flight = int(row[1])
        if now - int(row[3]) / 1000 > self._delay_max_s + STALE_AFTER_S:
            in_flight = 0  # a node died with attempts under way: they are over
        return failures, in_flight, int(row[2]) / 1000

    def _save(
        self, c: Connection, kind: str, key: str, failures: Sequence[float], in_flight: int,
        next_at: float, now: float,
    ) -> None:  # fmt: skip
        kept = json.dumps([round(t * 1000) for t in list(failures)[-self._kept :]])
        args: tuple[Any, ...] = (
            kind,
            key,
            kept,
            in_flight,
            round(next_at * 1000),
            round(now * 1000),
        )
        changed = c.execute(
            "UPDATE login_throttle SET failures = ?, in_flight = ?, next_at_ms = ?, used_ms = ?"
            " WHERE kind = ? AND key = ?",
            (*args[2:], kind, key),
        ).rowcount
        if changed:
            return
        (count,) = c.execute(
            "SELECT count(*) FROM login_throttle WHERE kind = ?", (kind,)
        ).fetchone()
        if count >= self._tracked:  # the rows used longest ago go, never everything at once
            c.execute(
                "DELETE FROM login_throttle WHERE kind = ? AND key IN (SELECT key FROM"
                " login_throttle WHERE kind = ? ORDER BY used_ms, key LIMIT ?)",
                (kind, kind, count - self._tracked + 1),
            )
        c.execute("INSERT INTO login_throttle VALUES (?,?,?,?,?,?)", args)


def _now_s(c: Connection) -> float:
    (now_ms,) = c.execute("SELECT now_ms FROM db_clock").fetchone()
    return int(now_ms) / 1000


Logins = LoginThrottle | SharedLoginThrottle
"""An API node's throttle: in its memory (SQLite users, one node) or shared (PostgreSQL)."""


async def admit(logins: Logins, source: str, name: str) -> LoginAttempt:
    """Count a login attempt (see :meth:`LoginThrottle.admit`): the shared throttle in a
    worker thread, the in-memory one in the event loop that owns it."""
    if isinstance(logins, SharedLoginThrottle):
        return await asyncio.to_thread(logins.admit, source, name)
    return logins.admit(source, name, time.monotonic())


async def finish(logins: Logins, attempt: LoginAttempt, *, succeeded: bool | None) -> None:
    """End a login attempt (see :meth:`LoginThrottle.finish`)."""
    if isinstance(logins, SharedLoginThrottle):
        await asyncio.to_thread(logins.finish, attempt, succeeded=succeeded)
    else:
        logins.finish(attempt, time.monotonic(), succeeded=succeeded)
