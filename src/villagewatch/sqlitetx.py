"""One write transaction on a SQLite connection, with SQLite's errors mapped to ours."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TypeVar

from villagewatch.errors import StoreUnavailable

__all__ = ["write_transaction"]

T = TypeVar("T")


def write_transaction(
    conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T], what: str
) -> T:
    """Run ``fn`` in a ``BEGIN IMMEDIATE`` transaction (the write lock taken up front, so
    writers queue instead of failing midway): committed if it returns, rolled back if it
    raises. A busy or broken database raises :class:`StoreUnavailable` naming ``what``."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise StoreUnavailable(f"{what} busy or unreadable: {exc}") from exc
    try:
        result = fn(conn)
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.OperationalError):
            raise StoreUnavailable(f"{what} could not write: {exc}") from exc
        raise
    return result
