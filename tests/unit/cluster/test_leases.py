"""The lease rules on SQLite and PostgreSQL: a free lease is taken once, an expired one only
after ``lease_s`` of the contender's own clock, a renewed one never; a write fenced by a lost
lease is refused and rolled back; of two contenders at once exactly one wins."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from villagewatch.cluster.leases import (
    LEASES_MIGRATION,
    Fence,
    LeaseLost,
    LeaseRow,
    LeaseWatch,
    check_fence,
    holder_deadline,
    read_leases,
    release,
    renew,
    take,
)
from villagewatch.db.database import Connection, Database, Location, open_database
from villagewatch.db.migrations import Migration

WORK = Migration("work", "CREATE TABLE IF NOT EXISTS work (k TEXT PRIMARY KEY, v TEXT NOT NULL);")


def opened(location: Location) -> Database:
    return open_database(
        location, name="leases test", migrations=(LEASES_MIGRATION, WORK), busy_timeout_s=5
    )


@pytest.fixture
def db(relational: Callable[[str], Location]) -> Iterator[Database]:
    database = opened(relational("detect"))
    yield database
    database.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_free_lease_is_taken_once(db: Database) -> None:
    first = db.write(lambda c: take(c, "north", "a", None))
    assert first == Fence("north", 1)
    assert db.write(lambda c: take(c, "north", "b", None)) is None
    rows = db.read(lambda c: read_leases(c, ["north", "south"]))
    assert list(rows) == ["north"]
    assert (rows["north"].holder, rows["north"].generation) == ("a", 1)


def test_a_lease_expires_only_after_lease_s_unchanged_on_the_contenders_clock(
    db: Database,
) -> None:
    fence = db.write(lambda c: take(c, "north", "a", None))
    assert fence is not None
    clock = Clock()
    watch = LeaseWatch(30, clock=clock)

    def takeable() -> list[str]:
        return watch.takeable(["north"], db.read(lambda c: read_leases(c, ["north"])))

    assert takeable() == []  # first seen now
    clock.now += 29
    assert takeable() == []
    assert db.write(lambda c: renew(c, fence))  # the holder renews: the clock starts again
    clock.now += 29
    assert takeable() == []
    clock.now += 29
    assert takeable() == []
    clock.now += 1.5
    assert takeable() == ["north"]
    seen = db.read(lambda c: read_leases(c, ["north"]))["north"]
    assert db.write(lambda c: take(c, "north", "b", seen)) == Fence("north", 2)
    assert not db.write(lambda c: renew(c, fence)), "the old holder's renewal fails"
    assert db.write(lambda c: take(c, "north", "c", seen)) is None, "taken once"


def test_a_released_lease_is_takeable_at_once(db: Database) -> None:
    fence = db.write(lambda c: take(c, "north", "a", None))
    assert fence is not None
    assert db.write(lambda c: release(c, fence))
    rows = db.read(lambda c: read_leases(c, ["north"]))
    assert LeaseWatch(30, clock=Clock()).takeable(["north"], rows) == ["north"]
    assert db.write(lambda c: take(c, "north", "b", rows["north"])) == Fence("north", 2)
    assert not db.write(lambda c: release(c, fence)), "the old holder cannot free it again"


def test_a_write_fenced_by_a_lost_lease_is_refused_and_rolled_back(db: Database) -> None:
    old = db.write(lambda c: take(c, "north", "a", None))
    assert old is not None

    def fenced_write(fence: Fence, value: str) -> Callable[[Connection], None]:
        def run(conn: Connection) -> None:
            conn.execute(
                "INSERT INTO work VALUES ('k', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                (value,),
            )
            check_fence(conn, fence)

        return run

    db.write(fenced_write(old, "from a"))
    seen = db.read(lambda c: read_leases(c, ["north"]))["north"]
    new = db.write(lambda c: take(c, "north", "b", seen))
    assert new is not None
    with pytest.raises(LeaseLost, match="partition 'north' is now held by 'b'"):
        db.write(fenced_write(old, "stale, from a"))
    db.write(fenced_write(new, "from b"))
    assert db.rows("SELECT v FROM work") == [("from b",)]
    assert db.write(lambda c: release(c, new))
    with pytest.raises(LeaseLost, match="held by nobody"):
        db.write(fenced_write(new, "after release"))
    assert db.rows("SELECT v FROM work") == [("from b",)]


def contend(databases: list[Database], seen: LeaseRow | None) -> list[Fence]:
    """Each database (a process) tries to take the lease as ``seen``, all at once."""
    barrier = threading.Barrier(len(databases))
    won: list[Fence] = []

    def one(db: Database, name: str) -> None:
        barrier.wait()
        fence = db.write(lambda c: take(c, "north", name, seen))
        if fence is not None:
            won.append(fence)

    threads = [threading.Thread(target=one, args=(d, f"p{i}")) for i, d in enumerate(databases)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return won


def test_of_two_contenders_at_once_exactly_one_wins(
    relational: Callable[[str], Location],
) -> None:
    location = relational("detect")
    databases = [opened(location) for _ in range(4)]
    try:
        for round_ in range(10):  # a free lease, then expired ones
            seen = databases[0].read(lambda c: read_leases(c, ["north"])).get("north")
            assert contend(databases, seen) == [Fence("north", round_ + 1)]
    finally:
        for d in databases:
            d.close()


def test_the_holder_gives_up_before_a_contender_may_take_over() -> None:
    assert holder_deadline(100.0, 30) < 100.0 + 30
