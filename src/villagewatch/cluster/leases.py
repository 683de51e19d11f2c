"""Leases in a store's database: who holds a named piece of work, fenced by a generation.

A lease row is ``name → holder, generation, beat, detail`` (``detail``: what the holder
took it as, e.g. a partition's villages, so that others can tell they disagree). The
holder renews it by bumping ``beat``; a contender takes it by compare-and-swap on the
whole row it saw, which bumps ``generation`` — the fencing token: every write made under
a lease checks, inside its own transaction, that the generation is still the one it took
(:func:`check_fence`), so a process that paused past its lease cannot write once another
holds it.

Expiry uses no wall clock at all, neither a host's nor the database's: a contender
(:class:`LeaseWatch`) notes, on its own monotonic clock, when it first saw the row as it is;
a row unchanged for ``lease_s`` is expired. The holder stops using the lease once
``lease_s`` of *its* monotonic clock has passed since it began its last successful renewal
(minus a margin, :func:`holder_deadline`): the renewal committed after that moment, and the
contender saw it after the commit, so the holder gives up before the contender takes over —
whatever the clocks of the hosts say. Only their rates must roughly agree.

The SQL runs on SQLite and PostgreSQL (``?`` placeholders, ``ON CONFLICT``); the functions
take the connection of a write transaction of the store (writes of one store are serialised
on both engines, see :mod:`villagewatch.db.database`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from villagewatch.db.database import Connection
from villagewatch.db.migrations import Migration
from villagewatch.errors import VillagewatchError

__all__ = [
    "LEASES_MIGRATION",
    "Fence",
    "LeaseLost",
    "LeaseRow",
    "LeaseWatch",
    "check_fence",
    "holder_deadline",
    "read_leases",
    "release",
    "renew",
    "take",
]

LEASES_MIGRATION = Migration(
    "leases: who holds each partition of the work, fenced by a generation",
    """
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY, holder TEXT NOT NULL, generation BIGINT NOT NULL,
    beat BIGINT NOT NULL, detail TEXT NOT NULL
);
""",
)
"""The ``leases`` table; a store whose work is leased appends it to its migrations."""

FREE = ""
"""The holder of a released lease: anyone may take it at once."""


class LeaseLost(VillagewatchError):
    """A write under a lease found the lease held by someone else (or released)."""


@dataclass(frozen=True, slots=True)
class LeaseRow:
    """A lease as stored."""

    name: str
    holder: str
    generation: int
    beat: int
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Fence:
    """What a write under a lease must still find: the lease ``name`` at ``generation``."""

    name: str
    generation: int


def read_leases(conn: Connection, names: Iterable[str] | None = None) -> dict[str, LeaseRow]:
    """The stored rows of ``names`` (None: all; a name never taken has none)."""
    wanted = None if names is None else set(names)
    rows = conn.execute("SELECT name, holder, generation, beat, detail FROM leases").fetchall()
    return {
        r[0]: LeaseRow(r[0], r[1], int(r[2]), int(r[3]), r[4])
        for r in rows
        if wanted is None or r[0] in wanted
    }


def take(
    conn: Connection, name: str, holder: str, seen: LeaseRow | None, detail: str = ""
) -> Fence | None:
    """Take lease ``name`` for ``holder`` (and ``detail``) if it is still as ``seen`` (None:
    never taken); the fence of the new generation, or None when someone else changed it
    first."""
    if seen is None:
        done = conn.execute(
            "INSERT INTO leases (name, holder, generation, beat, detail) VALUES (?, ?, 1, 0, ?)"
            " ON CONFLICT (name) DO NOTHING",
            (name, holder, detail),
        )
        return Fence(name, 1) if done.rowcount == 1 else None
    done = conn.execute(
        "UPDATE leases SET holder = ?, generation = generation + 1, beat = 0, detail = ?"
        " WHERE name = ? AND holder = ? AND generation = ? AND beat = ?",
        (holder, detail, name, seen.holder, seen.generation, seen.beat),
    )
    return Fence(name, seen.generation + 1) if done.rowcount == 1 else None


def renew(conn: Connection, fence: Fence) -> bool:
    """Bump the lease's beat; False when it is no longer ours."""
    done = conn.execute(
        "UPDATE leases SET beat = beat + 1 WHERE name = ? AND generation = ? AND holder <> ?",
        (fence.name, fence.generation, FREE),
    )
    return done.rowcount == 1


def release(conn: Connection, fence: Fence) -> bool:
    """Give the lease up (a clean stop): anyone may take it at once. False when it was no
    longer ours."""
    done = conn.execute(
        "UPDATE leases SET holder = ?, beat = beat + 1 WHERE name = ? AND generation = ?",
        (FREE, fence.name, fence.generation),
    )
    return done.rowcount == 1


def check_fence(conn: Connection, fence: Fence) -> None:
    """Inside a write transaction: raise :class:`LeaseLost` unless the lease is still held at
    the fence's generation (the transaction then rolls back)."""
    row = conn.execute(
        "SELECT holder, generation FROM leases WHERE name = ?", (fence.name,)
    ).fetchone()
    if row is None or row[0] == FREE or int(row[1]) != fence.generation:
        holder = "nobody" if row is None or row[0] == FREE else repr(row[0])
        raise LeaseLost(
            f"partition {fence.name!r} is now held by {holder}; this process's lease "
            f"(generation {fence.generation}) is gone and its write was refused"
        )


def holder_deadline(renew_started: float, lease_s: float) -> float:
    """Monotonic time by which a holder whose last successful renewal began at
    ``renew_started`` must have stopped using the lease: a third of ``lease_s`` before a
    contender may take it, for clock rates that differ and a loop that is late."""
    return renew_started + lease_s * 2 / 3


class LeaseWatch:
    """A contender's view of the leases: when each row was first seen as it is now."""

    def __init__(self, lease_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        """``lease_s``: how long a row must stay unchanged to count as expired."""
        self._lease_s = lease_s
        self._clock = clock
        self._seen: dict[str, tuple[LeaseRow, float]] = {}

    def takeable(self, names: Iterable[str], rows: dict[str, LeaseRow]) -> list[str]:
        """Note ``rows`` (just read); the names among ``names`` free or expired now."""
        self.note(rows)
        return [n for n in names if n not in rows or not self._live(rows[n])]

    def note(self, rows: dict[str, LeaseRow]) -> None:
        """Note ``rows``, just read: a changed row is seen afresh now."""
        now = self._clock()
        for name, row in rows.items():
            before = self._seen.get(name)
            if before is None or before[0] != row:
                self._seen[name] = (row, now)

    def live(self, rows: dict[str, LeaseRow]) -> list[LeaseRow]:
        """Of ``rows`` (noted), those held and not expired."""
        return [r for r in rows.values() if self._live(r)]

    def _live(self, row: LeaseRow) -> bool:
        if row.holder == FREE:
            return False
        before = self._seen.get(row.name)
        return before is None or self._clock() - before[1] < self._lease_s
