"""Alerts: their lifecycle, the store that keeps them, routing and notifications.

:mod:`~villagewatch.alerts.lifecycle` says what an alert is and how it lives;
:mod:`~villagewatch.alerts.store` what a store does with it, by concern
(lifecycle, notification outbox, silences, queries);
:class:`~villagewatch.alerts.sqlite.store.SQLiteAlertStore` is the embedded store.
"""

from villagewatch.alerts.lifecycle import (
    ActionRefused,
    Alert,
    AlertPolicy,
    AlertState,
    AuditEntry,
    Note,
)
from villagewatch.alerts.sqlite.store import SQLiteAlertStore
from villagewatch.alerts.store import AlertStore

__all__ = [
    "ActionRefused",
    "Alert",
    "AlertPolicy",
    "AlertState",
    "AlertStore",
    "AuditEntry",
    "Note",
    "SQLiteAlertStore",
]
