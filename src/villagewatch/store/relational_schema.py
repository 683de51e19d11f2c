"""The relational reading store's schema (:mod:`villagewatch.store.relational`), SQLite's and
PostgreSQL's."""

from __future__ import annotations

from villagewatch.db.migrations import Migration

__all__ = ["MIGRATIONS"]

# PostgreSQL: BIGINT for nanoseconds and sequence numbers, DOUBLE PRECISION (REAL is 4 bytes
# there), BYTEA, and the byte order of SQLite (COLLATE "C") so both engines sort alike.
_PG_V1 = """
CREATE TABLE IF NOT EXISTS items (
    village TEXT COLLATE "C" NOT NULL, device TEXT COLLATE "C" NOT NULL,
    boot TEXT COLLATE "C" NOT NULL, seq BIGINT NOT NULL,
    PRIMARY KEY (village, device, boot, seq)
);
CREATE TABLE IF NOT EXISTS readings (
    village TEXT COLLATE "C" NOT NULL, grid TEXT NOT NULL, device TEXT COLLATE "C" NOT NULL,
    kind TEXT NOT NULL, metric TEXT COLLATE "C" NOT NULL, time_ns BIGINT NOT NULL,
    value DOUBLE PRECISION NOT NULL, boot TEXT COLLATE "C" NOT NULL, seq BIGINT NOT NULL,
    clock TEXT NOT NULL, historical INTEGER NOT NULL, rescued INTEGER NOT NULL,
    device_ts_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS readings_series ON readings (village, device, metric, time_ns);
CREATE TABLE IF NOT EXISTS latest (
    village TEXT COLLATE "C" NOT NULL, device TEXT COLLATE "C" NOT NULL,
    metric TEXT COLLATE "C" NOT NULL, time_ns BIGINT NOT NULL, value DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (village, device, metric)
);
CREATE TABLE IF NOT EXISTS events (
    village TEXT COLLATE "C" NOT NULL, grid TEXT NOT NULL, device TEXT COLLATE "C" NOT NULL,
    kind TEXT NOT NULL, type TEXT NOT NULL, time_ns BIGINT NOT NULL, attrs TEXT NOT NULL,
    boot TEXT COLLATE "C" NOT NULL, seq BIGINT NOT NULL, clock TEXT NOT NULL,
    historical INTEGER NOT NULL, rescued INTEGER NOT NULL, device_ts_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_device ON events (village, device, time_ns);
CREATE TABLE IF NOT EXISTS dead_letters (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, received_ns BIGINT NOT NULL,
    topic TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL, payload BYTEA NOT NULL
);
"""

_PG_V2 = """
ALTER TABLE readings ADD COLUMN lot TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE latest ADD COLUMN lot TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE latest DROP CONSTRAINT latest_pkey;
ALTER TABLE latest ADD PRIMARY KEY (village, device, lot, metric);
"""

MIGRATIONS = (
    Migration(
        "items, readings, latest values, events and dead letters",
        """
CREATE TABLE IF NOT EXISTS items (
    village TEXT NOT NULL, device TEXT NOT NULL, boot TEXT NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (village, device, boot, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS readings (
    village TEXT NOT NULL, grid TEXT NOT NULL, device TEXT NOT NULL, kind TEXT NOT NULL,
    metric TEXT NOT NULL, time_ns INTEGER NOT NULL, value REAL NOT NULL,
    boot TEXT NOT NULL, seq INTEGER NOT NULL, clock TEXT NOT NULL,
    historical INTEGER NOT NULL, rescued INTEGER NOT NULL, device_ts_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS readings_series ON readings (village, device, metric, time_ns);
CREATE TABLE IF NOT EXISTS latest (
    village TEXT NOT NULL, device TEXT NOT NULL, metric TEXT NOT NULL,
    time_ns INTEGER NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (village, device, metric)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    village TEXT NOT NULL, grid TEXT NOT NULL, device TEXT NOT NULL, kind TEXT NOT NULL,
    type TEXT NOT NULL, time_ns INTEGER NOT NULL, attrs TEXT NOT NULL,
    boot TEXT NOT NULL, seq INTEGER NOT NULL, clock TEXT NOT NULL,
    historical INTEGER NOT NULL, rescued INTEGER NOT NULL, device_ts_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_device ON events (village, device, time_ns);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY, received_ns INTEGER NOT NULL, topic TEXT NOT NULL,
    reason TEXT NOT NULL, detail TEXT NOT NULL, payload BLOB NOT NULL
);
""",
        postgres=_PG_V1,
    ),
    Migration(
        "a camera's space counts per parking lot: readings and latest values keep the lot",
        """
ALTER TABLE readings ADD COLUMN lot TEXT NOT NULL DEFAULT '';
CREATE TABLE latest_by_lot (
    village TEXT NOT NULL, device TEXT NOT NULL, lot TEXT NOT NULL, metric TEXT NOT NULL,
    time_ns INTEGER NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (village, device, lot, metric)
) WITHOUT ROWID;
INSERT INTO latest_by_lot SELECT village, device, '', metric, time_ns, value FROM latest;
DROP TABLE latest;
ALTER TABLE latest_by_lot RENAME TO latest;
""",
        postgres=_PG_V2,
    ),
)
"""The schema, migration 1 first (see :mod:`villagewatch.db.migrations`)."""
