"""Numbered schema migrations, counted by SQLite's ``PRAGMA user_version`` (PostgreSQL: a
``schema_version`` table in the store's schema, :mod:`villagewatch.db.postgres`).

A store declares its schema as an ordered tuple of :class:`Migration`: the
first is version 1, the next version 2, and so on; a file's ``user_version``
says how many of them it has. A migration is one SQL text for both engines, or an SQLite
text and a PostgreSQL one where the dialects differ (``WITHOUT ROWID``, ``BIGINT`` for
epoch milliseconds, triggers, ``INSERT OR IGNORE``). At open, :func:`migrate` applies the ones the
file lacks, each in its own ``BEGIN IMMEDIATE`` transaction together with the
new ``user_version`` — all of a migration or none of it — and re-reads the
version inside that transaction, so two processes opening the same file at
once apply each migration once. A file of a newer version than the code knows
is refused (:class:`~villagewatch.errors.SchemaRefused`): code must never write
into a schema it does not know.

Migration 1 of every store is the schema as it was before versions were kept,
written with ``IF NOT EXISTS``. Files created then have every table but
``user_version`` 0; for them migration 1 creates nothing (and adds whatever
table or index the old file lacked), so they are adopted as version 1 — after a
check that their tables have the columns version 1 declares, since
``CREATE TABLE IF NOT EXISTS`` would not have noticed a different table of the
same name. Later migrations run exactly once, so they use plain DDL
(``ALTER TABLE … ADD COLUMN``). A migration is never edited once released:
a change is a new migration at the end.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from villagewatch.errors import SchemaRefused

__all__ = ["Migration", "migrate", "refuse_newer", "sqlite_version", "statements"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of a store's schema: ``sql`` is a script of statements (no transaction
    control; the runner wraps it) for both engines, or SQLite's alone when ``postgres`` gives
    PostgreSQL's."""

    summary: str
    sql: str
    postgres: str | None = None

    @property
    def postgres_sql(self) -> str:
        """The script PostgreSQL runs."""
        return self.sql if self.postgres is None else self.postgres


def statements(sql: str) -> list[str]:
    """The statements of a script, one by one (a ``;`` inside a string or a trigger's body
    does not end one): each migration must run inside a transaction the runner controls, and
    ``executescript`` would commit it first."""
    out: list[str] = []
    pending = ""
    for part in sql.split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\r\n;"):
                out.append(pending.strip())
            pending = ""
    if pending.strip(" \t\r\n;"):
        raise ValueError(f"an incomplete SQL statement at the end of a migration: {pending!r}")
    return out


def _version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def sqlite_version(path: Path) -> int:
    """The schema version of an SQLite file, read without changing it (0: no file yet)."""
    if not path.exists():
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return _version(conn)
    finally:
        conn.close()


def migrate(
    conn: sqlite3.Connection, migrations: Sequence[Migration], *, what: str, path: Path
) -> int:
    """Bring the file open on ``conn`` (autocommit mode) to ``len(migrations)``; returns the
    version it had. Raises :class:`SchemaRefused` for a file newer than the code and for an
    old unversioned file whose tables are not those of migration 1. SQLite errors (busy,
    disk full) pass through to the caller."""
    latest = len(migrations)
    found = _version(conn)
    refuse_newer(found, latest, what, f"database {path}")
    for number, migration in enumerate(migrations, start=1):
        if number <= found:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            now = _version(conn)  # another process may have migrated while we waited
            refuse_newer(now, latest, what, f"database {path}")
            if now < number:
                adopting = number == 1 and _has_tables(conn)
                for statement in statements(migration.sql):
                    conn.execute(statement)
                if adopting:
                    _check_adopted(conn, migration, what, path)
                conn.execute(f"PRAGMA user_version = {number:d}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if now < number:
            log.info("%s (%s): schema version %d: %s", what, path, number, migration.summary)
    return found


def refuse_newer(version: int, latest: int, what: str, where: str) -> None:
    """:class:`SchemaRefused` if ``version`` is newer than the ``latest`` the code knows;
    ``where`` says which database (``database <file>``, a PostgreSQL schema)."""
    if version > latest:
        raise SchemaRefused(
            f"{what} {where} has schema version {version}, but this villagewatch "
            f"knows versions up to {latest}: it was written by a newer villagewatch. Run that "
            "version (upgrade this installation), or restore a backup of the database taken "
            "before the upgrade; this version will not write into a schema it does not know."
        )


def _has_tables(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchone()
    return int(row[0]) > 0


def _columns(conn: sqlite3.Connection, table: str, schema: str = "main") -> list[tuple[str, ...]]:
    rows = conn.execute(f"PRAGMA {schema}.table_info({table!r})").fetchall()
    return [(str(r[1]), str(r[2]).upper(), str(r[3]), str(r[5])) for r in rows]


def _check_adopted(conn: sqlite3.Connection, first: Migration, what: str, path: Path) -> None:
    """Each table of version 1 in the adopted file has version 1's columns."""
    reference = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for statement in statements(first.sql):
            reference.execute(statement)
        tables = [
            str(r[0])
            for r in reference.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        for table in tables:
            if _columns(conn, table) != _columns(reference, table):
                raise SchemaRefused(
                    f"{what} database {path} has no schema version and its table {table!r} "
                    "is not the one this villagewatch creates: it is not a villagewatch "
                    f"{what} database, or one damaged by hand. Move it away to start afresh."
                )
    finally:
        reference.close()
