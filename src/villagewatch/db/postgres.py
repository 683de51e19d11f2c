"""PostgreSQL (psycopg 3) behind the same interface as an SQLite file.

Each store lives in a schema of its own (``registry``, ``users`` …) of one database, so
that one DSN serves every store and its SQL names tables unqualified; the schema's
``schema_version`` table counts its migrations as SQLite's ``user_version`` does.

- **Connections**: a few kept per store and process (no pool package): a call takes an idle
  one or opens one; a broken one (server restarted, network cut) is dropped and the next
  call opens a new one, so the store reconnects by itself.
- **Writes**: a ``READ COMMITTED`` transaction that first takes the store's
  transaction-level advisory lock: the writers of a store — in every process — run one at a
  time, as on SQLite with ``BEGIN IMMEDIATE``, so the stores' read-then-write invariants
  hold unchanged. A write waits for the lock at most the busy timeout (``lock_timeout``).
- **Reads**: ``REPEATABLE READ READ ONLY`` transactions, one snapshot each; they never wait
  for a writer.
- **Failures**: a lost connection, a server that is down or shutting down, a timeout and a
  refused sign-in raise :class:`~villagewatch.errors.StoreUnavailable` naming the host and
  database (never the password); the caller retries as after SQLite's busy.
- **Migrations**: each in one transaction under the same advisory lock, with its new
  version; starters at once apply each once; a schema newer than the code is refused.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Literal, TypeVar

import psycopg
from psycopg import sql as pgsql
from psycopg.conninfo import conninfo_to_dict

from villagewatch.db.database import Connection, Cursor, PostgresLocation
from villagewatch.db.migrations import Migration, refuse_newer
from villagewatch.errors import StoreUnavailable

__all__ = [
    "PostgresDatabase",
    "describe",
    "peek_postgres_version",
    "postgres_sql",
    "schema_version",
]

T = TypeVar("T")
log = logging.getLogger(__name__)

_KEEP = 4  # idle connections kept per store; more are opened while threads need them
_CONNECT_TIMEOUT_S = 5


@functools.lru_cache(maxsize=1024)
def postgres_sql(sql: str) -> str:
    """``sql`` with ``?`` placeholders as psycopg's ``%s`` (and a literal ``%`` doubled);
    quoted strings and names are left alone."""
    out: list[str] = []
    quote: str | None = None
    for ch in sql:
        if ch == "%":
            out.append("%%")
            continue
        if quote is not None:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "?":
            out.append("%s")
            continue
        out.append(ch)
    return "".join(out)


def describe(dsn: str) -> str:
    """Which database a DSN names, for messages: ``database D at HOST:PORT as USER`` — never
    the password (a DSN that does not parse is not repeated either: it may hold one)."""
    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "a PostgreSQL database whose DSN does not parse (check `relational.dsn`)"
    host = parts.get("host") or parts.get("hostaddr") or "localhost"
    port = parts.get("port") or 5432
    db = parts.get("dbname") or parts.get("user") or "(the user's own)"
    user = f" as {parts['user']}" if parts.get("user") else ""
    return f"PostgreSQL database {db} at {host}:{port}{user}"


def _lock_key(schema: str) -> int:
    digest = hashlib.sha256(f"villagewatch:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class _Conn:
    """A psycopg connection as a :class:`Connection`: ``?`` placeholders."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        return self._conn.execute(postgres_sql(sql), tuple(parameters))

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor:
        cur = self._conn.cursor()
        cur.executemany(postgres_sql(sql), [tuple(p) for p in parameters])
        return cur


class PostgresDatabase:
    """One store's schema in a PostgreSQL database; safe to call from any thread."""

    def __init__(
        self,
        location: PostgresLocation,
        *,
        name: str,
        migrations: Sequence[Migration],
        busy_timeout_s: float,
    ) -> None:
        """Connect and migrate; :class:`StoreUnavailable` if the server cannot be reached or
        refuses the sign-in, :class:`~villagewatch.errors.SchemaRefused` for a schema newer
        than the code."""
        self.name = name
        self._location = location
        self._where = f"schema {location.schema} of {describe(location.dsn)}"
        self._timeout_ms = max(1, int(busy_timeout_s * 1000))
        self._key = _lock_key(location.schema)
        self._idle: list[psycopg.Connection[Any]] = []
        self._idle_lock = threading.Lock()  # guards the list only, never held during I/O
        self._closed = False
        conn = self._checkout()
        try:
            with self._failures("write"):
                migrate_postgres(conn, migrations, what=name, where=self._where,
                                 schema=location.schema, key=self._key)  # fmt: skip
        except BaseException:
            conn.close()  # a store that does not open keeps no connection
            raise
        self._checkin(conn)

    # --- connections ------------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection[Any]:
        extra: dict[str, Any] = {}
        if self._location.password is not None:
            extra["password"] = self._location.password
        try:
            conn = psycopg.connect(
                self._location.dsn, autocommit=True, connect_timeout=_CONNECT_TIMEOUT_S,
                application_name=f"villagewatch {self.name}", **extra,
            )  # fmt: skip
        except psycopg.Error as exc:
            raise StoreUnavailable(
                f"{self.name}: cannot connect to {describe(self._location.dsn)}: {_reason(exc)}"
            ) from None  # psycopg's own error repeats nothing more useful
        try:
            conn.execute(
                pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(self._location.schema))
            )
        except psycopg.Error as exc:
            conn.close()
            raise StoreUnavailable(f"{self.name} ({self._where}): {_reason(exc)}") from exc
        return conn

    def _checkout(self) -> psycopg.Connection[Any]:
        with self._idle_lock:
            if self._closed:
                raise StoreUnavailable(f"{self.name} is closed")
            if self._idle:
                return self._idle.pop()
        return self._connect()

    def _checkin(self, conn: psycopg.Connection[Any]) -> None:
        usable = not conn.closed and not conn.broken
        if usable and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            usable = False  # a transaction left open by a failure: not for the next caller
        stale: list[psycopg.Connection[Any]] = []
        with self._idle_lock:
            if usable and not self._closed and len(self._idle) < _KEEP:
                self._idle.append(conn)
                return
            if conn.broken:  # the server went away: the idle ones are as dead, drop them too
                stale, self._idle = self._idle, []
        for dead in (conn, *stale):
            dead.close()

    @contextlib.contextmanager
    def _failures(self, access: Literal["read", "write"]) -> Iterator[None]:
        try:
            yield
        except psycopg.errors.LockNotAvailable as exc:
            raise StoreUnavailable(
                f"{self.name} busy: another writer held it over {self._timeout_ms / 1000:g} s"
            ) from exc
        except psycopg.OperationalError as exc:
            verb = "write" if access == "write" else "read"
            raise StoreUnavailable(
                f"{self.name} could not {verb} ({self._where}): {_reason(exc)}"
            ) from exc

    # --- the interface ----------------------------------------------------------------------

    def write(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in one write transaction, after every other writer of the store."""
        conn = self._checkout()
        try:
            with self._failures("write"):
                conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
                try:
                    conn.execute(
                        pgsql.SQL("SET LOCAL lock_timeout = {}").format(
                            pgsql.Literal(self._timeout_ms)
                        )
                    )
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._key,))
                    result = fn(_Conn(conn))
                    conn.execute("COMMIT")
                except BaseException:
                    _rollback(conn)
                    raise
                return result
        finally:
            self._checkin(conn)

    def read(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in one read-only snapshot."""
        conn = self._checkout()
        try:
            with self._failures("read"):
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                try:
                    return fn(_Conn(conn))
                finally:
                    _rollback(conn)
        finally:
            self._checkin(conn)

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """The rows of one query (see :meth:`read`)."""
        return self.read(lambda c: c.execute(sql, args).fetchall())

    def close(self) -> None:
        """Close the idle connections (one in use closes when its call ends)."""
        with self._idle_lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _connect(location: PostgresLocation, name: str) -> psycopg.Connection[Any]:
    extra: dict[str, Any] = {}
    if location.password is not None:
        extra["password"] = location.password
    try:
        return psycopg.connect(
            location.dsn, autocommit=True, connect_timeout=_CONNECT_TIMEOUT_S,
            application_name=f"villagewatch {name}", **extra,
        )  # fmt: skip
    except psycopg.Error as exc:
        raise StoreUnavailable(
            f"{name}: cannot connect to {describe(location.dsn)}: {_reason(exc)}"
        ) from None  # psycopg's own error adds nothing, and a bad DSN's may quote it


def peek_postgres_version(location: PostgresLocation) -> int:
    """The schema version of ``location.schema`` (0: none yet), changing nothing."""
    conn = _connect(location, location.schema)
    try:
        return schema_version(conn, location.schema)
    except psycopg.Error as exc:
        raise StoreUnavailable(f"{location.schema}: {_reason(exc)}") from exc
    finally:
        conn.close()


def _rollback(conn: psycopg.Connection[Any]) -> None:
    if not conn.broken and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        with contextlib.suppress(psycopg.Error):
            conn.execute("ROLLBACK")


def _reason(exc: psycopg.Error) -> str:
    """The server's words without libpq's repeated preamble."""
    text = str(exc).strip().replace("\n", " ")
    return " ".join(text.split()) or type(exc).__name__


# --- migrations -------------------------------------------------------------------------------


def _version_table(conn: psycopg.Connection[Any], schema: str) -> None:
    ident = pgsql.Identifier(schema)
    conn.execute(pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
    conn.execute(
        pgsql.SQL(
            "CREATE TABLE IF NOT EXISTS {}.schema_version ("
            "one INTEGER PRIMARY KEY CHECK (one = 1), version INTEGER NOT NULL)"
        ).format(ident)
    )


def schema_version(conn: psycopg.Connection[Any], schema: str) -> int:
    """The schema version of a store's schema (0: none yet), read without changing it."""
    row = conn.execute(
        "SELECT to_regclass(format('%%I.schema_version', %s::text))", (schema,)
    ).fetchone()
    if row is None or row[0] is None:
        return 0
    got = conn.execute(
        pgsql.SQL("SELECT version FROM {}.schema_version").format(pgsql.Identifier(schema))
    ).fetchone()
    return 0 if got is None else int(got[0])


def migrate_postgres(
    conn: psycopg.Connection[Any],
    migrations: Sequence[Migration],
    *,
    what: str,
    where: str,
    schema: str,
    key: int,
) -> int:
    """Bring ``schema`` to ``len(migrations)``, each migration in one transaction under the
    store's advisory lock with its new version; returns the version it had. Raises
    :class:`~villagewatch.errors.SchemaRefused` for a schema newer than the code."""
    latest = len(migrations)
    found: int | None = None
    for number, migration in enumerate(migrations, start=1):
        if found is not None and number <= found:
            continue
        conn.execute("BEGIN")
        try:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
            _version_table(conn, schema)
            now = schema_version(conn, schema)  # another process may have migrated meanwhile
            found = now if found is None else found
            refuse_newer(now, latest, what, where)
            if now < number:
                conn.execute(migration.postgres_sql)  # a script, no parameters: sent as it is
                conn.execute(
                    pgsql.SQL(
                        "INSERT INTO {}.schema_version VALUES (1, %s) "
                        "ON CONFLICT (one) DO UPDATE SET version = EXCLUDED.version"
                    ).format(pgsql.Identifier(schema)),
                    (number,),
                )
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        if now < number:
            log.info("%s (%s): schema version %d: %s", what, where, number, migration.summary)
    if found is None:  # no migration to run: still refuse a newer schema
        conn.execute("BEGIN")
        try:
            _version_table(conn, schema)
            found = schema_version(conn, schema)
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        refuse_newer(found, latest, what, where)
    return found
