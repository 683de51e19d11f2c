"""The registry's schema on both engines (see :mod:`villagewatch.db.migrations`)."""

from __future__ import annotations

from villagewatch.db.migrations import Migration

__all__ = ["MIGRATIONS"]

MIGRATIONS = (
    Migration(
        "houses, tenants, lock credentials and the generation",
        """
CREATE TABLE IF NOT EXISTS houses (
    village TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, lock TEXT NOT NULL,
    added_ms INTEGER NOT NULL, PRIMARY KEY (village, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS houses_lock ON houses (village, lock);
CREATE TABLE IF NOT EXISTS tenants (
    village TEXT NOT NULL, house TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL,
    phone TEXT NOT NULL, verified INTEGER NOT NULL, added_ms INTEGER NOT NULL,
    ended_ms INTEGER, PRIMARY KEY (village, house, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS credentials (
    village TEXT NOT NULL, house TEXT NOT NULL, id TEXT NOT NULL, tenant TEXT NOT NULL,
    valid_from_ms INTEGER, valid_to_ms INTEGER, added_ms INTEGER NOT NULL, ended_ms INTEGER,
    PRIMARY KEY (village, house, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS generation (one INTEGER PRIMARY KEY CHECK (one = 1), n INTEGER NOT NULL);
INSERT OR IGNORE INTO generation VALUES (1, 0);
""",
        postgres="""
CREATE TABLE houses (
    village TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, lock TEXT NOT NULL,
    added_ms BIGINT NOT NULL, PRIMARY KEY (village, id)
);
CREATE UNIQUE INDEX houses_lock ON houses (village, lock);
CREATE TABLE tenants (
    village TEXT NOT NULL, house TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL,
    phone TEXT NOT NULL, verified INTEGER NOT NULL, added_ms BIGINT NOT NULL,
    ended_ms BIGINT, PRIMARY KEY (village, house, id)
);
CREATE TABLE credentials (
    village TEXT NOT NULL, house TEXT NOT NULL, id TEXT NOT NULL, tenant TEXT NOT NULL,
    valid_from_ms BIGINT, valid_to_ms BIGINT, added_ms BIGINT NOT NULL, ended_ms BIGINT,
    PRIMARY KEY (village, house, id)
);
CREATE TABLE generation (one INTEGER PRIMARY KEY CHECK (one = 1), n BIGINT NOT NULL);
INSERT INTO generation VALUES (1, 0);
""",
    ),
)
"""The schema, migration 1 first (see :mod:`villagewatch.db.migrations`)."""
