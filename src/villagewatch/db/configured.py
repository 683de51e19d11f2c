"""Where a deployment's relational stores are, as its settings say: an SQLite file each, or a
schema each of one PostgreSQL database (the settings' ``relational`` section)."""

from __future__ import annotations

from pathlib import Path

from villagewatch.config import Settings, SQLiteSettings, VictoriaSettings, read_secret
from villagewatch.config.relational import PostgresSettings
from villagewatch.db.database import Location, PostgresLocation
from villagewatch.db.sqlite import DEFAULT_BUSY_TIMEOUT_S

__all__ = [
    "alerts_location",
    "busy_timeout_s",
    "detect_location",
    "evidence_location",
    "logins_location",
    "readings_location",
    "registry_location",
    "transition_sources",
    "users_location",
    "versions_location",
]


def _location(settings: Settings, schema: str, path: Path) -> Location:
    rel = settings.relational
    if isinstance(rel, PostgresSettings):
        password = read_secret(rel.password_file) if rel.password_file is not None else None
        return PostgresLocation(rel.dsn, schema, password)
    return path


def busy_timeout_s(settings: Settings, sqlite_s: float = DEFAULT_BUSY_TIMEOUT_S) -> float:
    """How long a change waits for another writer: PostgreSQL's own setting, or ``sqlite_s``."""
    rel = settings.relational
    return rel.busy_timeout_s if isinstance(rel, PostgresSettings) else sqlite_s


def registry_location(settings: Settings) -> Location:
    """The registry: ``registry.path``, or the ``registry`` schema."""
    return _location(settings, "registry", settings.registry.path)


def users_location(settings: Settings) -> Location:
    """The API's users, sessions and audit log: ``api.db`` in ``api.state_dir``, or the
    ``users`` schema."""
    return _location(settings, "users", settings.api.state_dir / "api.db")


def versions_location(settings: Settings) -> Location:
    """The config versions: ``config-versions.db`` beside the alert store, or the
    ``config_versions`` schema."""
    return _location(
        settings, "config_versions", settings.alerts.state_path.parent / "config-versions.db"
    )


def alerts_location(settings: Settings) -> Location:
    """The alert store (alerts, notification outbox, silences, audit log):
    ``alerts.state_path``, or the ``alerts`` schema shared by every alert engine and API node."""
    return _location(settings, "alerts", settings.alerts.state_path)


def detect_location(settings: Settings) -> Location:
    """Detect's state and transition log: ``detect.state_path``, or the one ``detect`` schema
    every detect process shares (states keyed by owner, one transition log)."""
    return _location(settings, "detect", settings.detect.state_path)


def transition_sources(settings: Settings) -> list[Location]:
    """Where the alert engine reads detect's transitions: the SQLite files of
    ``alerts.detect_state_paths`` (one per detect process), or the ``detect`` schema alone —
    on PostgreSQL no file is shared between the roles."""
    if isinstance(settings.relational, PostgresSettings):
        return [detect_location(settings)]
    return list(settings.alerts.detect_state_paths)


def evidence_location(settings: Settings) -> Location:
    """The evidence pictures: the folder ``ingest.evidence_dir``, or the ``evidence`` schema
    (so that every API node reads what any ingester saved)."""
    return _location(settings, "evidence", settings.ingest.evidence_dir)


def logins_location(settings: Settings) -> PostgresLocation | None:
    """The login throttle's counts, shared by the API nodes: the ``logins`` schema; None when
    the users are an SQLite file (one API process, which counts in its memory)."""
    location = _location(settings, "logins", settings.api.state_dir / "api.db")
    return location if isinstance(location, PostgresLocation) else None


def readings_location(settings: Settings) -> Location | None:
    """The reading store's relational tables: the SQLite store's file; with VictoriaMetrics,
    its relational part (events, dead letters, dedupe keys, readings kept whole) —
    ``store.relational.path``, or the ``readings`` schema every ingester and API node shares;
    None for InfluxDB, which keeps everything itself."""
    store = settings.store
    if isinstance(store, SQLiteSettings):
        return store.path
    if isinstance(store, VictoriaSettings):
        return _location(settings, "readings", store.relational.path)
    return None
