"""SQLite files as villagewatch uses them: one opener, one writer, readers that never wait.

Every SQLite file of the project (alerts, users, registry, detect's state, the
embedded reading store) is opened as a :class:`SQLiteFile` by the store that owns it,
and another role that only reads it (the alert engine reading detect's transitions)
opens it with :func:`connect_reader`; nothing else calls ``sqlite3.connect`` on them.
The convention, the same for all:

- **Pragmas**: ``journal_mode=WAL`` and ``synchronous=FULL`` (a commit is on
  disk, even across a power cut); ``foreign_keys`` where the store asks.
- **Schema**: numbered migrations by ``PRAGMA user_version``, applied at open
  (:mod:`villagewatch.db.migrations`); a file newer than the code is refused.
- **Writes** go through one writer connection per file and process, one at a
  time, each in a ``BEGIN IMMEDIATE`` transaction (the write lock taken up
  front, so writers queue instead of failing midway).
- **Reads** go through read connections of their own (``query_only``), each
  one read transaction: in WAL mode a reader sees the last committed state
  while a writer writes, so a slow write — in this process or another — never
  holds up a read.
- **Waiting**: a writer waits for another writer at most ``busy_timeout_s``
  (5 s by default, not SQLite's usual half minute): then the operation raises
  :class:`StoreUnavailable` (the API answers 503, a service retries) and
  ``villagewatch_sqlite_busy_total`` counts it, so a database that is held too
  long shows in metrics rather than as requests that hang.
- **Threads**: the methods are blocking and safe from any thread; an asyncio
  service calls them from a thread (its own executor or ``asyncio.to_thread``),
  never on the event loop.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from prometheus_client import CollectorRegistry, Counter

from villagewatch.db.migrations import Migration, migrate
from villagewatch.errors import StoreUnavailable
from villagewatch.runtime.diskspace import DiskReserve, is_disk_full

__all__ = [
    "DEFAULT_BUSY_TIMEOUT_S",
    "SQLITE_METRICS",
    "SQLiteFile",
    "connect_reader",
    "write_transaction",
]

T = TypeVar("T")

DEFAULT_BUSY_TIMEOUT_S = 5.0
"""How long a write waits for another writer before it gives up."""

SQLITE_METRICS = CollectorRegistry()
"""The SQLite files' own metrics, for every service that opens one to serve."""

_BUSY = Counter(
    "villagewatch_sqlite_busy",
    "Operations on a SQLite file that gave up waiting for another writer (the caller was "
    "told the store is unavailable), by database and access (read, write).",
    ["database", "access"],
    registry=SQLITE_METRICS,
)

_KEEP_READERS = 4  # idle read connections kept open; more are opened while threads need them


def _busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY


def _unavailable(
    exc: sqlite3.Error, what: str, access: Literal["read", "write"]
) -> StoreUnavailable:
    if _busy(exc):
        _BUSY.labels(what, access).inc()
        return StoreUnavailable(f"{what} busy: another process or thread is writing it ({exc})")
    verb = "write" if access == "write" else "read"
    return StoreUnavailable(f"{what} could not {verb}: {exc}")


def write_transaction(
    conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T], what: str
) -> T:
    """Run ``fn`` in a ``BEGIN IMMEDIATE`` transaction on ``conn``: committed if it returns,
    rolled back if it raises. A busy or broken database raises :class:`StoreUnavailable`
    naming ``what`` (a busy one is counted under ``database=what``)."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise _unavailable(exc, what, "write") from exc
    try:
        result = fn(conn)
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.OperationalError):
            raise _unavailable(exc, what, "write") from exc
        raise
    return result


def connect_reader(
    path: Path, *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S, rows: bool = False
) -> sqlite3.Connection:
    """A read connection (``query_only``) to a file another store owns and migrates: never
    migrated here, safe from any thread; ``rows`` gives :class:`sqlite3.Row` rows. Raises
    :class:`sqlite3.OperationalError` as ``sqlite3.connect`` does."""
    conn = sqlite3.connect(
        path, isolation_level=None, timeout=busy_timeout_s, check_same_thread=False
    )
    try:
        conn.execute("PRAGMA query_only=ON")  # a read that tries to write is a bug
    except sqlite3.Error:
        conn.close()
        raise
    if rows:
        conn.row_factory = sqlite3.Row
    return conn


class SQLiteFile:
    """One SQLite file (WAL) with one writer connection and a few read connections.

    ``name`` names the database in errors and metrics (a fixed word: ``alerts``,
    ``users`` …); ``migrations`` is the store's schema, brought up to date at open (see
    :mod:`villagewatch.db.migrations`). Safe to call from any thread.
    """

    def __init__(
        self,
        path: Path,
        *,
        name: str,
        migrations: Sequence[Migration],
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
        foreign_keys: bool = False,
        rows: Literal["tuple", "row"] = "tuple",
        reserve_bytes: int = 0,
    ) -> None:
        """Open (create) ``path`` and migrate it; ``rows="row"`` gives :class:`sqlite3.Row` rows.
        A file written by a newer version raises :class:`~villagewatch.errors.SchemaRefused`.

        ``reserve_bytes``: space held in ``<file>.reserve`` and given back when the disk is
        full, so the file still opens (SQLite needs room for its shared-memory file) and
        takes small writes — for the stores alerting depends on (see
        :mod:`villagewatch.runtime.diskspace`)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.name = name
        self._path = path
        self._timeout_s = busy_timeout_s
        self._row_factory = sqlite3.Row if rows == "row" else None
        self._reserve = DiskReserve(path.with_name(path.name + ".reserve"), reserve_bytes)
        self._writer_lock = threading.Lock()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()  # guards the list only, never held during I/O
        self._closed = False
        try:
            self._writer = self._open_writer(migrations, foreign_keys=foreign_keys)
        except StoreUnavailable as exc:
            if not (is_disk_full(exc) and self._reserve.release()):
                raise
            self._writer = self._open_writer(migrations, foreign_keys=foreign_keys)
        self._reserve.ensure()

    def _open_writer(
        self, migrations: Sequence[Migration], *, foreign_keys: bool
    ) -> sqlite3.Connection:
        try:
            writer = self._connect()
        except sqlite3.OperationalError as exc:
            raise _unavailable(exc, self.name, "write") from exc
        try:
            writer.execute("PRAGMA journal_mode=WAL")
            writer.execute("PRAGMA synchronous=FULL")
            if foreign_keys:
                writer.execute("PRAGMA foreign_keys=ON")
            migrate(writer, migrations, what=self.name, path=self._path)
        except sqlite3.OperationalError as exc:
            writer.close()
            raise _unavailable(exc, self.name, "write") from exc
        except BaseException:
            writer.close()
            raise
        return writer

    def maintain(self) -> None:
        """Put the disk reserve back if it was given away and there is room again."""
        self._reserve.ensure()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._path, isolation_level=None, timeout=self._timeout_s, check_same_thread=False
        )
        conn.row_factory = self._row_factory
        return conn

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one write transaction (see :func:`write_transaction`); a write that
        waits longer than the busy timeout for another raises :class:`StoreUnavailable`."""
        if not self._writer_lock.acquire(timeout=self._timeout_s):
            _BUSY.labels(self.name, "write").inc()
            raise StoreUnavailable(
                f"{self.name} busy: another write in this process took over {self._timeout_s:g} s"
            )
        try:
            if self._closed:
                raise StoreUnavailable(f"{self.name} is closed")
            try:
                return write_transaction(self._writer, fn, self.name)
            except StoreUnavailable as exc:
                if not (is_disk_full(exc) and self._reserve.release()):
                    raise
                return write_transaction(self._writer, fn, self.name)
        finally:
            self._writer_lock.release()

    def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one read transaction (one consistent snapshot of the last commit) on a
        read connection: it never waits for a writer."""
        conn = self._checkout()
        try:
            conn.execute("BEGIN")
            try:
                return fn(conn)
            finally:
                conn.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            raise _unavailable(exc, self.name, "read") from exc
        finally:
            self._checkin(conn)

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """The rows of one query (see :meth:`read`)."""
        return self.read(lambda c: c.execute(sql, args).fetchall())

    def _checkout(self) -> sqlite3.Connection:
        with self._readers_lock:
            if self._closed:
                raise StoreUnavailable(f"{self.name} is closed")
            if self._readers:
                return self._readers.pop()
        try:
            conn = connect_reader(
                self._path, busy_timeout_s=self._timeout_s, rows=self._row_factory is not None
            )
        except sqlite3.OperationalError as exc:
            raise _unavailable(exc, self.name, "read") from exc
        return conn

    def _checkin(self, conn: sqlite3.Connection) -> None:
        with self._readers_lock:
            if not self._closed and len(self._readers) < _KEEP_READERS:
                self._readers.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Close the connections (a read still running closes its own when done)."""
        with self._writer_lock, self._readers_lock:
            self._closed = True
            readers, self._readers = self._readers, []
            self._writer.close()
        for conn in readers:
            conn.close()
