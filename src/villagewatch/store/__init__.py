"""Where readings, events and dead letters go: InfluxDB, VictoriaMetrics (with a relational
store), or SQLite as the embedded default."""

from typing import assert_never

from villagewatch.config import InfluxSettings, SQLiteSettings, VictoriaSettings
from villagewatch.store.base import Batch, Bucket, History, LastValue, Store, WriteResult
from villagewatch.store.influx import InfluxStore
from villagewatch.store.relational import RelationalStore
from villagewatch.store.victoria import VictoriaStore

__all__ = [
    "Batch",
    "Bucket",
    "History",
    "InfluxStore",
    "LastValue",
    "RelationalStore",
    "Store",
    "VictoriaStore",
    "WriteResult",
    "open_store",
]


def open_store(settings: InfluxSettings | VictoriaSettings | SQLiteSettings) -> Store:
    """The store the settings describe; no server is contacted until its first use."""
    match settings:
        case SQLiteSettings():
            return RelationalStore(settings.path)
        case VictoriaSettings():
            return VictoriaStore(settings)
        case InfluxSettings():
            return InfluxStore(settings)
        case _:
            assert_never(settings)
