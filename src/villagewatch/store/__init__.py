"""Where readings, events and dead letters go: InfluxDB, or SQLite as the embedded default."""

from villagewatch.config import InfluxSettings, SQLiteSettings
from villagewatch.store.base import Batch, Bucket, History, LastValue, Store, WriteResult
from villagewatch.store.influx import InfluxStore
from villagewatch.store.sqlite import SQLiteStore

__all__ = [
    "Batch",
    "Bucket",
    "History",
    "InfluxStore",
    "LastValue",
    "SQLiteStore",
    "Store",
    "WriteResult",
    "open_store",
]


def open_store(settings: InfluxSettings | SQLiteSettings) -> Store:
    """The store the settings describe; nothing is contacted until its first use."""
    if isinstance(settings, SQLiteSettings):
        return SQLiteStore(settings.path)
    return InfluxStore(settings)
