"""The detect → alerts hand-off: what detect appends, the alert side reads back the same."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from villagewatch.db.transition_log import SQLiteTransitionLog, open_transition_log
from villagewatch.detect.store import DetectStore
from villagewatch.transitions import (
    AlertKey,
    LoggedTransition,
    Severity,
    Transition,
    TransitionLog,
    UnreadableTransition,
    transition_id,
)

NOW = 1_795_000_000_000
LEVEL = AlertKey("water_level", "v", "wl-1", "level")
DOOR = AlertKey("lock", "v", "lock-1", "forced_open")


def detect_commits(db: Path, transitions: list[Transition]) -> int:
    """Detect's side: transitions committed with (here: no) detector state."""

    async def go() -> int:
        store = DetectStore(db)
        try:
            return await store.commit({}, transitions)
        finally:
            await store.close()

    return asyncio.run(go())


def read_after(db: Path, cursor: int, limit: int) -> list[LoggedTransition | UnreadableTransition]:
    """The alert side: the log of detect's file, read after ``cursor``."""
    with open_transition_log(db) as log:
        return log.read_after(cursor, limit)


def rises(n: int) -> list[Transition]:
    return [
        Transition(LEVEL, "update", Severity.BLUE, NOW + i, f"rise {i}", {"cm": i})
        for i in range(n)
    ]


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A connection to a detect file (its tables made by detect's store)."""
    db = tmp_path / "detect.db"
    detect_commits(db, [])
    with closing(sqlite3.connect(db, isolation_level=None)) as c:
        yield c


def test_a_transition_detect_appends_is_read_back_equal_by_the_alert_side(
    tmp_path: Path,
) -> None:
    db = tmp_path / "detect.db"
    sent = [
        Transition(
            LEVEL, "fire", Severity.ORANGE, NOW, "Water at 3.2 m — orange",
            {"level_cm": 320.5, "tiers": [1, 2], "gauge": {"label": "水位 A"}, "note": None},
            historical=True,
        ),
        Transition(DOOR, "fire", Severity.RED, NOW + 1, "Door forced", needs_close=True),
        Transition(LEVEL, "clear", Severity.ORANGE, NOW + 2, "Back to normal"),
    ]  # fmt: skip
    assert detect_commits(db, sent) == 3
    got = read_after(db, 0, 10)
    assert all(isinstance(r, LoggedTransition) for r in got)
    assert [(r.id, r.transition) for r in got if isinstance(r, LoggedTransition)] == [
        (transition_id(t), t) for t in sent
    ]


def test_only_what_comes_after_the_cursor_is_read_in_order_and_at_most_limit(
    tmp_path: Path,
) -> None:
    db = tmp_path / "detect.db"
    sent = rises(5)
    detect_commits(db, sent[:2])
    detect_commits(db, sent[2:])
    first = read_after(db, 0, 2)
    assert [r.id for r in first] == [transition_id(t) for t in sent[:2]]
    rest = read_after(db, first[-1].position, 10)
    assert [r.id for r in rest] == [transition_id(t) for t in sent[2:]]
    positions = [r.position for r in first + rest]
    assert positions == sorted(positions) and len(set(positions)) == 5
    assert read_after(db, rest[-1].position, 10) == []


def test_appending_returns_only_the_transitions_not_recorded_before(
    conn: sqlite3.Connection,
) -> None:
    a, b, c = rises(3)
    log: TransitionLog = SQLiteTransitionLog(conn)
    assert log.append([a, b], recorded_ns=1) == [a, b]
    assert log.append([b, c, c], recorded_ns=2) == [c]
    assert [r.id for r in log.read_after(0, 10)] == [transition_id(t) for t in (a, b, c)]


def test_what_the_caller_rolls_back_is_not_in_the_log(conn: sqlite3.Connection) -> None:
    """Append is part of the writer's transaction: state and transitions commit together."""
    log = SQLiteTransitionLog(conn)
    conn.execute("BEGIN IMMEDIATE")
    log.append(rises(2), recorded_ns=1)
    conn.execute("ROLLBACK")
    assert log.read_after(0, 10) == []


def test_a_row_that_cannot_be_read_comes_back_as_unreadable_with_why(
    conn: sqlite3.Connection,
) -> None:
    log = SQLiteTransitionLog(conn)
    good, damaged, after = rises(3)
    log.append([good, damaged, after], recorded_ns=1)
    conn.execute(
        "UPDATE transitions SET severity = 'purple' WHERE id = ?", (transition_id(damaged),)
    )
    got = log.read_after(0, 10)
    assert [type(r) for r in got] == [LoggedTransition, UnreadableTransition, LoggedTransition]
    bad = got[1]
    assert isinstance(bad, UnreadableTransition)
    assert bad.id == transition_id(damaged) and "purple" in bad.problem


@pytest.mark.parametrize(
    ("column", "value"),
    [("action", "explode"), ("details", "{oops"), ("details", "[1, 2]"), ("at_ms", "soon")],
    ids=["unknown-action", "details-not-json", "details-not-an-object", "time-not-a-number"],
)
def test_each_kind_of_damage_makes_a_row_unreadable(
    conn: sqlite3.Connection, column: str, value: str
) -> None:
    log = SQLiteTransitionLog(conn)
    log.append(rises(1), recorded_ns=1)
    conn.execute(f"UPDATE transitions SET {column} = ?", (value,))
    (got,) = log.read_after(0, 10)
    assert isinstance(got, UnreadableTransition)
