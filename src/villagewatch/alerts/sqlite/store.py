"""The embedded alert store: every concern over one SQLite file, safe for several writer
processes (see :mod:`villagewatch.alerts.sqlite`)."""

from __future__ import annotations

from pathlib import Path

from villagewatch.alerts.notify import Notifier
from villagewatch.alerts.sqlite.lifecycle import SQLiteLifecycle
from villagewatch.alerts.sqlite.outbox import SQLiteNotificationOutbox
from villagewatch.alerts.sqlite.overview import SQLiteAlertOverview
from villagewatch.alerts.sqlite.queries import SQLiteAlertQueries
from villagewatch.alerts.sqlite.schema import MIGRATIONS
from villagewatch.alerts.sqlite.silences import SQLiteSilences
from villagewatch.db.sqlite import DEFAULT_BUSY_TIMEOUT_S, SQLiteFile

__all__ = ["SQLiteAlertStore"]


class SQLiteAlertStore(
    SQLiteLifecycle,
    SQLiteNotificationOutbox,
    SQLiteSilences,
    SQLiteAlertQueries,
    SQLiteAlertOverview,
):
    """An :class:`~villagewatch.alerts.store.AlertStore` in ``path``; open it in every process
    that writes alerts."""

    def __init__(
        self,
        path: Path,
        *,
        notifier: Notifier | None = None,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
        reserve_bytes: int = 0,
    ) -> None:
        """``notifier``: who is told of what (routing); without one nothing is notified.
        ``busy_timeout_s``: how long a change waits for another writer. ``reserve_bytes``:
        disk space kept beside the file for when the disk is full (see
        :class:`~villagewatch.db.sqlite.SQLiteFile`)."""
        self._db = SQLiteFile(
            path, name="alerts", migrations=MIGRATIONS, busy_timeout_s=busy_timeout_s,
            foreign_keys=True, rows="row", reserve_bytes=reserve_bytes,
        )  # fmt: skip
        self._notifier = notifier
        self._failing: set[int] = set()

    def maintain(self) -> None:
        """See :meth:`villagewatch.alerts.store.AlertStore.maintain`."""
        self._db.maintain()

    def close(self) -> None:
        """Close the database."""
        self._db.close()
