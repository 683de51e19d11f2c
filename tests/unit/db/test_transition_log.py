"""The detect → alerts hand-off: what detect appends, the alert side reads back the same — on
an SQLite file and on PostgreSQL's ``detect`` schema."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from villagewatch.db.database import Connection, Database, Location, open_database
from villagewatch.db.transition_log import (
    DatabaseTransitionLog,
    TableTransitionLog,
    open_transition_log,
)
from villagewatch.detect.store import MIGRATIONS, DetectStore
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


def detect_commits(where: Location, transitions: list[Transition]) -> int:
    """Detect's side: transitions committed with (here: no) detector state."""

    async def go() -> int:
        store = DetectStore(where)
        try:
            return await store.commit({}, transitions)
        finally:
            await store.close()

    return asyncio.run(go())


def read_after(
    where: Location, cursor: int, limit: int
) -> list[LoggedTransition | UnreadableTransition]:
    """The alert side: the log of detect's file or schema, read after ``cursor``."""
    if isinstance(where, Path):
        with open_transition_log(where) as log:
            return log.read_after(cursor, limit)
    db = open_database(where, name="detect", migrations=MIGRATIONS, busy_timeout_s=5)
    try:
        return DatabaseTransitionLog(db).read_after(cursor, limit)
    finally:
        db.close()


def rises(n: int) -> list[Transition]:
    return [
        Transition(LEVEL, "update", Severity.BLUE, NOW + i, f"rise {i}", {"cm": i})
        for i in range(n)
    ]


@pytest.fixture
def detect(relational: Callable[[str], Location]) -> Location:
    return relational("detect")


@pytest.fixture
def db(detect: Location) -> Iterator[Database]:
    """Detect's database (its tables made by detect's store)."""
    detect_commits(detect, [])
    opened = open_database(detect, name="detect", migrations=MIGRATIONS, busy_timeout_s=5)
    yield opened
    opened.close()


def test_a_transition_detect_appends_is_read_back_equal_by_the_alert_side(
    detect: Location,
) -> None:
    sent = [
        Transition(
            LEVEL, "fire", Severity.ORANGE, NOW, "Water at 3.2 m — orange",
            {"level_cm": 320.5, "tiers": [1, 2], "gauge": {"label": "水位 A"}, "note": None},
            historical=True,
        ),
        Transition(DOOR, "fire", Severity.RED, NOW + 1, "Door forced", needs_close=True),
        Transition(LEVEL, "clear", Severity.ORANGE, NOW + 2, "Back to normal"),
    ]  # fmt: skip
    assert detect_commits(detect, sent) == 3
    got = read_after(detect, 0, 10)
    assert all(isinstance(r, LoggedTransition) for r in got)
    assert [(r.id, r.transition) for r in got if isinstance(r, LoggedTransition)] == [
        (transition_id(t), t) for t in sent
    ]


def test_only_what_comes_after_the_cursor_is_read_in_order_and_at_most_limit(
    detect: Location,
) -> None:
    sent = rises(5)
    detect_commits(detect, sent[:2])
    detect_commits(detect, sent[2:])
    first = read_after(detect, 0, 2)
    assert [r.id for r in first] == [transition_id(t) for t in sent[:2]]
    rest = read_after(detect, first[-1].position, 10)
    assert [r.id for r in rest] == [transition_id(t) for t in sent[2:]]
    positions = [r.position for r in first + rest]
    assert positions == sorted(positions) and len(set(positions)) == 5
    assert read_after(detect, rest[-1].position, 10) == []


def test_appending_returns_only_the_transitions_not_recorded_before(db: Database) -> None:
    a, b, c = rises(3)
    log: TransitionLog = DatabaseTransitionLog(db)
    assert log.append([a, b], recorded_ns=1) == [a, b]
    assert log.append([b, c, c], recorded_ns=2) == [c]
    assert [r.id for r in log.read_after(0, 10)] == [transition_id(t) for t in (a, b, c)]


def test_what_the_caller_rolls_back_is_not_in_the_log(db: Database) -> None:
    """Append is part of the writer's transaction: state and transitions commit together."""

    def append_then_fail(conn: Connection) -> None:
        TableTransitionLog(conn).append(rises(2), recorded_ns=1)
        raise RuntimeError("the state could not be saved")

    with pytest.raises(RuntimeError):
        db.write(append_then_fail)
    assert DatabaseTransitionLog(db).read_after(0, 10) == []


def test_a_row_that_cannot_be_read_comes_back_as_unreadable_with_why(db: Database) -> None:
    log = DatabaseTransitionLog(db)
    good, damaged, after = rises(3)
    log.append([good, damaged, after], recorded_ns=1)
    db.write(
        lambda c: c.execute(
            "UPDATE transitions SET severity = 'purple' WHERE id = ?", (transition_id(damaged),)
        )
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
    db: Database, detect: Location, column: str, value: str
) -> None:
    if column == "at_ms" and not isinstance(detect, Path):
        pytest.skip("PostgreSQL's BIGINT column refuses a time that is not a number")
    log = DatabaseTransitionLog(db)
    log.append(rises(1), recorded_ns=1)
    db.write(lambda c: c.execute(f"UPDATE transitions SET {column} = ?", (value,)))
    (got,) = log.read_after(0, 10)
    assert isinstance(got, UnreadableTransition)
