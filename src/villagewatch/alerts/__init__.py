"""Alerts: their lifecycle, the store that keeps them, and (next) routing and notifications.

:mod:`~villagewatch.alerts.lifecycle` says what an alert is and how it lives;
:class:`~villagewatch.alerts.store.AlertStore` what a store does with it;
:class:`~villagewatch.alerts.sqlite.SQLiteAlertStore` is the embedded store.
"""

from villagewatch.alerts.lifecycle import (
    ActionRefused,
    Alert,
    AlertPolicy,
    AlertState,
    AuditEntry,
    Note,
)
from villagewatch.alerts.sqlite import SQLiteAlertStore
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
