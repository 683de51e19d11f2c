"""The alert store on the relational database: every concern over one SQLite file or one
PostgreSQL schema, safe for several writer processes (see :mod:`villagewatch.alerts.database`)."""

from __future__ import annotations

from villagewatch.alerts.database.lifecycle import AlertDatabaseLifecycle
from villagewatch.alerts.database.outbox import AlertDatabaseOutbox
from villagewatch.alerts.database.overview import AlertDatabaseOverview
from villagewatch.alerts.database.queries import AlertDatabaseQueries
from villagewatch.alerts.database.schema import MIGRATIONS
from villagewatch.alerts.database.silences import AlertDatabaseSilences
from villagewatch.alerts.notify import Notifier
from villagewatch.db.database import Location, open_database
from villagewatch.db.sqlite import DEFAULT_BUSY_TIMEOUT_S, SQLiteFile

__all__ = ["AlertDatabase"]


class AlertDatabase(
    AlertDatabaseLifecycle,
    AlertDatabaseOutbox,
    AlertDatabaseSilences,
    AlertDatabaseQueries,
    AlertDatabaseOverview,
):
    """An :class:`~villagewatch.alerts.store.AlertStore` at ``location`` (an SQLite file, or the
    ``alerts`` schema of a PostgreSQL database: see
    :func:`~villagewatch.db.configured.alerts_location`); open it in every process that writes
    or reads alerts."""

    def __init__(
        self,
        location: Location,
        *,
        notifier: Notifier | None = None,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
        reserve_bytes: int = 0,
    ) -> None:
        """``notifier``: who is told of what (routing); without one nothing is notified.
        ``busy_timeout_s``: how long a change waits for another writer. ``reserve_bytes``:
        disk space kept beside an SQLite file for when the disk is full (see
        :class:`~villagewatch.db.sqlite.SQLiteFile`)."""
        self._db = open_database(
            location, name="alerts", migrations=MIGRATIONS, busy_timeout_s=busy_timeout_s,
            foreign_keys=True, reserve_bytes=reserve_bytes,
        )  # fmt: skip
        self._notifier = notifier
        self._failing: set[int] = set()

    def maintain(self) -> None:
        """See :meth:`villagewatch.alerts.store.AlertStore.maintain`."""
        if isinstance(self._db, SQLiteFile):  # PostgreSQL's disk is the server's
            self._db.maintain()

    def close(self) -> None:
        """Close the database."""
        self._db.close()
