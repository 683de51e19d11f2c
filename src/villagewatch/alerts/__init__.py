"""Alerts: their lifecycle, the store that keeps them, routing and notifications.

:mod:`~villagewatch.alerts.lifecycle` says what an alert is and how it lives;
:mod:`~villagewatch.alerts.store` what a store does with it, by concern
(lifecycle, notification outbox, silences, queries);
:class:`~villagewatch.alerts.database.store.AlertDatabase` keeps them (SQLite or PostgreSQL).
"""

from villagewatch.alerts.database.store import AlertDatabase
from villagewatch.alerts.lifecycle import (
    ActionRefused,
    Alert,
    AlertPolicy,
    AlertState,
    AuditEntry,
    Note,
)
from villagewatch.alerts.store import AlertStore

__all__ = [
    "ActionRefused",
    "Alert",
    "AlertDatabase",
    "AlertPolicy",
    "AlertState",
    "AlertStore",
    "AuditEntry",
    "Note",
]
