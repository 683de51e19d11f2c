"""One relational interface, two engines: an SQLite file or a PostgreSQL schema.

A store opens its database with :func:`open_database` and talks to it only through
:class:`Database`: ``write(fn)`` runs ``fn`` in one write transaction, ``read(fn)`` in one
read-only snapshot, and ``fn`` gets a :class:`Connection` whose ``execute`` takes the same SQL
text on both engines, with ``?`` placeholders (translated for PostgreSQL once per
statement). Writes of one store are serialised on both engines — SQLite by ``BEGIN
IMMEDIATE``, PostgreSQL by a transaction-level advisory lock per store — so a store's
read-then-write invariants (the next version number, a lock taken by one house only) hold
without more. Where the dialects differ a store writes SQL both accept (``ON CONFLICT``, no
``INSERT OR REPLACE``; ``RETURNING`` rather than ``lastrowid``); its schema is a tuple of
:class:`~villagewatch.db.migrations.Migration` with a PostgreSQL text where it differs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from villagewatch.db.migrations import Migration

__all__ = [
    "Connection",
    "Cursor",
    "Database",
    "Location",
    "PostgresLocation",
    "describe_location",
    "open_database",
    "peek_version",
]

T = TypeVar("T")


class Cursor(Protocol):
    """What a statement gives back: its rows and how many it changed."""

    @property
    def rowcount(self) -> int:
        """Rows changed by an INSERT, UPDATE or DELETE."""
        ...

    def fetchone(self) -> Any:
        """The next row (a tuple), or None."""
        ...

    def fetchall(self) -> list[Any]:
        """The remaining rows (tuples)."""
        ...


class Connection(Protocol):
    """The connection a transaction function gets: ``?`` placeholders on both engines."""

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        """Run one statement."""
        ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor:
        """Run one statement once per parameter row."""
        ...


class Database(Protocol):
    """A store's database: an SQLite file or a PostgreSQL schema, migrated at open."""

    name: str

    def write(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in one write transaction, serialised with every other writer of the
        store; :class:`~villagewatch.errors.StoreUnavailable` when it cannot."""
        ...

    def read(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in one read-only snapshot of the last commit."""
        ...

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """The rows of one query (see :meth:`read`)."""
        ...

    def close(self) -> None:
        """Close the connections."""
        ...


@dataclass(frozen=True, slots=True)
class PostgresLocation:
    """A store in PostgreSQL: the server's DSN (without its password), the schema the store's
    tables live in, and the password (from the settings' password file) if one is needed."""

    dsn: str
    schema: str
    password: str | None = field(default=None, repr=False)


Location = Path | PostgresLocation
"""Where a store's database is: an SQLite file or a schema of a PostgreSQL database."""


def open_database(
    location: Location,
    *,
    name: str,
    migrations: Sequence[Migration],
    busy_timeout_s: float,
    foreign_keys: bool = False,
    reserve_bytes: int = 0,
) -> Database:
    """Open (create) the database at ``location`` and bring its schema up to
    ``len(migrations)``; ``name`` names it in errors and metrics. A database newer than the
    code raises :class:`~villagewatch.errors.SchemaRefused`. ``reserve_bytes``: an SQLite
    file's disk reserve (:class:`~villagewatch.db.sqlite.SQLiteFile`); PostgreSQL's disk is
    the server's."""
    if isinstance(location, PostgresLocation):
        from villagewatch.db.postgres import PostgresDatabase  # psycopg: the postgres extra

        return PostgresDatabase(
            location, name=name, migrations=migrations, busy_timeout_s=busy_timeout_s
        )
    from villagewatch.db.sqlite import SQLiteFile

    return SQLiteFile(
        location,
        name=name,
        migrations=migrations,
        busy_timeout_s=busy_timeout_s,
        foreign_keys=foreign_keys,
        reserve_bytes=reserve_bytes,
    )


def peek_version(location: Location) -> int:
    """The schema version at ``location``, read without creating or changing anything (0: no
    database yet); :class:`~villagewatch.errors.StoreUnavailable` if it cannot be read."""
    if isinstance(location, PostgresLocation):
        from villagewatch.db.postgres import peek_postgres_version

        return peek_postgres_version(location)
    from villagewatch.db.migrations import sqlite_version

    return sqlite_version(location)


def describe_location(location: Location) -> str:
    """Where a store is, for people: the file, or the schema and database (no password)."""
    if isinstance(location, PostgresLocation):
        from villagewatch.db.postgres import describe

        return f"schema {location.schema} of {describe(location.dsn)}"
    return str(location)
