"""Where readings, events and dead letters go: InfluxDB, VictoriaMetrics (with a relational
store), or SQLite as the embedded default."""

from typing import assert_never

from villagewatch.config import InfluxSettings, Settings, SQLiteSettings, VictoriaSettings
from villagewatch.db import configured
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


def open_store(settings: Settings) -> Store:
    """The reading store the settings describe (``store``; VictoriaMetrics' relational part
    where :func:`~villagewatch.db.configured.readings_location` puts it). The relational tables
    are opened here, so a bad path or an unreachable PostgreSQL fails at start-up; no other
    server is contacted until its first use."""
    store, wait_s = settings.store, configured.busy_timeout_s(settings)
    match store:
        case SQLiteSettings():
            return RelationalStore(store.path)
        case VictoriaSettings():
            relational = configured.readings_location(settings)
            assert relational is not None  # a VictoriaMetrics store always has one
            return VictoriaStore(store, relational=relational, busy_timeout_s=wait_s)
        case InfluxSettings():
            return InfluxStore(store)
        case _:
            assert_never(store)
