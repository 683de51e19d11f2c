"""SQLite files with one writer and readers of their own: a slow or foreign write never holds
up a read, a write that waits too long is refused as unavailable and counted."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.unit.db.sqlite_writer import BOUND_S, within_bound, write_lock_held
from villagewatch.api.users import UserRole, UserStore
from villagewatch.config import load_deployment
from villagewatch.db.migrations import Migration
from villagewatch.db.sqlite import SQLITE_METRICS, SQLiteFile
from villagewatch.errors import StoreUnavailable
from villagewatch.registry import RegistryStore

REPO = Path(__file__).resolve().parents[3]
_SCHEMA = (
    Migration("t", "CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v INTEGER NOT NULL);"),
)


def busy_count(database: str, access: str = "write") -> float:
    labels = {"database": database, "access": access}
    return SQLITE_METRICS.get_sample_value("villagewatch_sqlite_busy_total", labels) or 0


def test_a_slow_write_in_this_process_does_not_hold_up_reads(tmp_path: Path) -> None:
    db = SQLiteFile(tmp_path / "t.db", name="test", migrations=_SCHEMA)
    db.write(lambda c: c.execute("INSERT INTO t VALUES ('a', 1)"))
    entered, release = threading.Event(), threading.Event()

    def slow(c: sqlite3.Connection) -> None:
        c.execute("UPDATE t SET v = 2")
        entered.set()
        release.wait(BOUND_S)

    pool = ThreadPoolExecutor(1)
    try:
        writing = pool.submit(db.write, slow)
        assert entered.wait(BOUND_S)
        assert within_bound(lambda: db.rows("SELECT k, v FROM t")) == [("a", 1)]
    finally:
        release.set()
        pool.shutdown(wait=True)
    writing.result()
    assert db.rows("SELECT v FROM t") == [(2,)]
    db.close()


def test_a_second_writer_in_this_process_gives_up_after_the_busy_timeout(tmp_path: Path) -> None:
    db = SQLiteFile(tmp_path / "t.db", name="test", migrations=_SCHEMA, busy_timeout_s=0.1)
    entered, release = threading.Event(), threading.Event()
    before = busy_count("test")
    pool = ThreadPoolExecutor(1)
    try:

        def held(_c: sqlite3.Connection) -> None:
            entered.set()
            release.wait(BOUND_S)

        writing = pool.submit(db.write, held)
        assert entered.wait(BOUND_S)
        with pytest.raises(StoreUnavailable, match="busy"):
            within_bound(lambda: db.write(lambda c: c.execute("INSERT INTO t VALUES ('b', 1)")))
    finally:
        release.set()
        pool.shutdown(wait=True)
    writing.result()
    assert busy_count("test") == before + 1
    assert db.rows("SELECT count(*) FROM t") == [(0,)]
    db.close()


def test_a_read_cannot_write(tmp_path: Path) -> None:
    db = SQLiteFile(tmp_path / "t.db", name="test", migrations=_SCHEMA)
    with pytest.raises(StoreUnavailable, match="could not read"):
        db.read(lambda c: c.execute("INSERT INTO t VALUES ('a', 1)"))
    assert db.rows("SELECT count(*) FROM t") == [(0,)]
    db.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        db.rows("SELECT 1")


@pytest.fixture
def villages() -> Any:
    return load_deployment(REPO / "config/demo/villagewatch.yaml").villages


def _users(path: Path) -> tuple[Any, Callable[[], object], Callable[[], object], str]:
    store = UserStore(path, busy_timeout_s=0.2)
    store.add("op", "correct horse", UserRole.OPERATOR, ["*"], 1)
    session = store.login("op", "correct horse", 2, 3600)
    assert session is not None

    def read() -> object:
        return (store.authenticate(session.token, 3), [u.name for u in store.users()])

    def write() -> None:
        store.audit("op", "acknowledge", "alert:1", {}, 4)

    return store, read, write, "INSERT INTO api_audit VALUES (99, 0, 'x', 'x', 'x', '{}')"


def _registry(
    path: Path, villages: Any
) -> tuple[Any, Callable[[], object], Callable[[], object], str]:
    store = RegistryStore(path, busy_timeout_s=0.2)
    store.seed(villages, 1)

    def read() -> object:
        return (store.generation(), len(store.houses()), sorted(store.lock_credentials("dongcun")))

    def write() -> None:
        store.add_house("dongcun", "z99", "new", "lock-z99", 2)

    return store, read, write, "UPDATE generation SET n = n + 100"


@pytest.mark.parametrize("database", ["users", "registry"])
def test_reads_answer_and_a_write_is_refused_and_counted_while_another_process_writes(
    tmp_path: Path, villages: Any, database: str
) -> None:
    path = tmp_path / f"{database}.db"
    store, read, write, foreign = _users(path) if database == "users" else _registry(path, villages)
    committed = read()
    before = busy_count(database)
    with write_lock_held(path, foreign):
        assert within_bound(read) == committed  # the other process's change is not committed
        with pytest.raises(StoreUnavailable, match="busy"):
            within_bound(write)
    assert busy_count(database) == before + 1
    write()
    store.close()


def test_a_slow_registry_change_does_not_hold_up_detect_reading_it(
    tmp_path: Path, villages: Any
) -> None:
    """Detect reads lock credentials while an operator's change is being written."""
    store = RegistryStore(tmp_path / "registry.db")
    store.seed(villages, 1)
    before = store.lock_credentials("dongcun")
    entered, release = threading.Event(), threading.Event()

    def slow_villages() -> Iterator[Any]:
        entered.set()
        release.wait(BOUND_S)
        yield from ()

    pool = ThreadPoolExecutor(1)
    try:
        writing = pool.submit(store.seed, slow_villages(), 2)
        assert entered.wait(BOUND_S)
        assert within_bound(lambda: store.lock_credentials("dongcun")) == before
        assert within_bound(store.generation) == 1
    finally:
        release.set()
        pool.shutdown(wait=True)
    assert writing.result() == 0
    store.close()
