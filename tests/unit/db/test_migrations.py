"""Numbered migrations by ``user_version``: a new migration reaches an existing file, a file
newer than the code is refused, and a file created before versions were kept is adopted."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from villagewatch.alerts import AlertDatabase
from villagewatch.alerts.database import schema as alerts_schema
from villagewatch.api import users
from villagewatch.db.migrations import Migration, statements
from villagewatch.db.sqlite import SQLiteFile
from villagewatch.detect import store as detect_store
from villagewatch.errors import SchemaRefused
from villagewatch.registry import schema as registry_schema
from villagewatch.registry import store as registry_store
from villagewatch.store import relational as readings_store
from villagewatch.store import relational_schema

V1 = Migration("t", "CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v INTEGER NOT NULL);")
V2 = Migration("t.note", "ALTER TABLE t ADD COLUMN note TEXT NOT NULL DEFAULT '';")


def version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def columns(path: Path, table: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def _close_async(store: detect_store.DetectStore | readings_store.RelationalStore) -> None:
    asyncio.run(store.close())


# each store of the project: its migrations and how to open and close it
STORES: dict[str, tuple[Sequence[Migration], Callable[[Path], None]]] = {
    "alerts": (alerts_schema.MIGRATIONS, lambda p: AlertDatabase(p).close()),
    "users": (users.MIGRATIONS, lambda p: users.UserStore(p).close()),
    "registry": (registry_schema.MIGRATIONS, lambda p: registry_store.RegistryStore(p).close()),
    "detect": (
        detect_store.MIGRATIONS,
        lambda p: _close_async(detect_store.DetectStore(p, reserve_bytes=0)),
    ),
    "readings": (
        relational_schema.MIGRATIONS,
        lambda p: _close_async(readings_store.RelationalStore(p)),
    ),
}


def test_a_new_file_gets_every_migration(tmp_path: Path) -> None:
    SQLiteFile(tmp_path / "t.db", name="test", migrations=(V1, V2)).close()
    assert version(tmp_path / "t.db") == 2
    assert columns(tmp_path / "t.db", "t") == ["k", "v", "note"]


def test_a_migration_added_later_reaches_an_existing_file_and_keeps_its_rows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.db"
    db = SQLiteFile(path, name="test", migrations=(V1,))
    db.write(lambda c: c.execute("INSERT INTO t VALUES ('a', 1)"))
    db.close()
    assert version(path) == 1
    db = SQLiteFile(path, name="test", migrations=(V1, V2))
    assert db.rows("SELECT k, v, note FROM t") == [("a", 1, "")]
    db.close()
    assert version(path) == 2
    SQLiteFile(path, name="test", migrations=(V1, V2)).close()  # nothing runs twice
    assert version(path) == 2


@pytest.mark.parametrize("name", sorted(STORES))
def test_a_migration_2_reaches_a_store_created_by_this_version(tmp_path: Path, name: str) -> None:
    migrations, open_close = STORES[name]
    path = tmp_path / f"{name}.db"
    open_close(path)
    assert version(path) == len(migrations)  # the alert store has 2 (recurring silences)
    extra = Migration("a test table", "CREATE TABLE added_later (x INTEGER);")
    SQLiteFile(path, name=name, migrations=(*migrations, extra)).close()
    assert version(path) == len(migrations) + 1
    assert columns(path, "added_later") == ["x"]


@pytest.mark.parametrize("name", sorted(STORES))
def test_a_file_newer_than_the_code_is_refused_saying_what_to_do(tmp_path: Path, name: str) -> None:
    migrations, open_close = STORES[name]
    path = tmp_path / f"{name}.db"
    open_close(path)
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(migrations) + 1}")
    with pytest.raises(SchemaRefused, match=r"newer villagewatch.*upgrade"):
        open_close(path)
    assert version(path) == len(migrations) + 1  # left as it was


@pytest.mark.parametrize("name", sorted(STORES))
def test_a_file_created_before_versions_were_kept_is_adopted_as_version_1(
    tmp_path: Path, name: str
) -> None:
    """Such a file has the tables (``CREATE TABLE IF NOT EXISTS`` made them) and version 0."""
    migrations, open_close = STORES[name]
    path = tmp_path / f"{name}.db"
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(migrations[0].sql)  # the DDL the stores ran before versions
        conn.execute("CREATE TABLE witness (x INTEGER)")
        conn.execute("INSERT INTO witness VALUES (42)")
    assert version(path) == 0
    open_close(path)
    assert version(path) == len(migrations)  # adopted as 1, then the later ones applied
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT x FROM witness").fetchall() == [(42,)]


def test_an_unversioned_file_with_other_tables_of_the_same_names_is_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (k TEXT, something_else BLOB)")
    with pytest.raises(SchemaRefused, match="not the one this villagewatch creates"):
        SQLiteFile(path, name="test", migrations=(V1, V2))
    assert version(path) == 0
    assert columns(path, "t") == ["k", "something_else"]  # migration 2 rolled back with it


def test_two_openers_at_once_apply_each_migration_once(tmp_path: Path) -> None:
    """An ``ALTER TABLE`` run twice would fail: the version is read again under the lock."""
    path = tmp_path / "t.db"
    SQLiteFile(path, name="test", migrations=(V1,)).close()
    start = threading.Barrier(4)

    def open_close() -> None:
        start.wait()
        SQLiteFile(path, name="test", migrations=(V1, V2)).close()

    with ThreadPoolExecutor(4) as pool:
        for future in [pool.submit(open_close) for _ in range(4)]:
            future.result()
    assert version(path) == 2
    assert columns(path, "t") == ["k", "v", "note"]


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (
            "CREATE TABLE a (x);\nCREATE TABLE b (y);",
            ["CREATE TABLE a (x);", "CREATE TABLE b (y);"],
        ),
        ("INSERT INTO a VALUES ('x;y');", ["INSERT INTO a VALUES ('x;y');"]),
        (
            "CREATE TRIGGER t BEFORE DELETE ON a BEGIN SELECT RAISE(ABORT, 'no'); END;",
            ["CREATE TRIGGER t BEFORE DELETE ON a BEGIN SELECT RAISE(ABORT, 'no'); END;"],
        ),
        ("\n  \n", []),
    ],
    ids=["two statements", "semicolon in a string", "trigger body", "blank"],
)
def test_a_script_is_split_into_whole_statements(script: str, expected: list[str]) -> None:
    assert statements(script) == expected
