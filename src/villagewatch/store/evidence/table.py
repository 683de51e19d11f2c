"""Evidence pictures in the relational store (PostgreSQL's ``evidence`` schema, or an SQLite
file): what every API node can read, wherever the ingester that saved the picture runs.

One row per picture: village, device, evidence id (the key), when it was stored, its size
and the JPEG (``bytea`` / ``BLOB``). The checks are the folder's (see
:mod:`villagewatch.store.evidence.base`): a whole JPEG within the size limit, identifiers
only.

- **Written once**: the row is inserted only when the key is new, in one write transaction
  that the database layer serialises with every other writer of the schema, so two ingesters
  saving the same picture at once (a redelivery, a consumer rebalance) keep one row; other
  bytes under a key already stored are refused and the first picture is kept, as on disk.
- **Bounded**: pictures older than ``max_age_s`` go, then the oldest until the total is within
  ``budget_bytes`` — checked at most every ``prune_every_s`` by each ingester, in its own
  transaction. Ages are measured on the database's clock (``db_clock``), never a node's: an
  ingester with a wrong clock neither keeps pictures forever nor deletes new ones.
- **Failures**: a database that cannot be reached raises
  :class:`~villagewatch.errors.StoreUnavailable`; the ingester retries the batch, and its
  readings wait for it rather than being lost.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from villagewatch.contract import MAX_EVIDENCE_BYTES, RejectReason, is_identifier
from villagewatch.db.database import Connection, Location, open_database
from villagewatch.db.migrations import Migration
from villagewatch.store.evidence.base import EvidenceRejected, jpeg_refusal, parts_refusal

__all__ = ["MIGRATIONS", "EvidenceTable"]

log = logging.getLogger(__name__)

MIGRATIONS = (
    Migration(
        "evidence pictures and the database clock",
        """
CREATE TABLE IF NOT EXISTS pictures (
    village TEXT NOT NULL, device TEXT NOT NULL, evidence_id TEXT NOT NULL,
    stored_ms INTEGER NOT NULL, size INTEGER NOT NULL, jpeg BLOB NOT NULL,
    PRIMARY KEY (village, device, evidence_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pictures_by_age ON pictures (stored_ms);
CREATE INDEX IF NOT EXISTS pictures_newest ON pictures (village, device, stored_ms);
CREATE VIEW IF NOT EXISTS db_clock AS
    SELECT CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) AS now_ms;
""",
        postgres="""
CREATE TABLE pictures (
    village TEXT NOT NULL, device TEXT NOT NULL, evidence_id TEXT NOT NULL,
    stored_ms BIGINT NOT NULL, size INTEGER NOT NULL, jpeg BYTEA NOT NULL,
    PRIMARY KEY (village, device, evidence_id)
);
CREATE INDEX pictures_by_age ON pictures (stored_ms);
CREATE INDEX pictures_newest ON pictures (village, device, stored_ms);
CREATE VIEW db_clock AS
    SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now_ms;
""",
    ),
)
"""The ``evidence`` schema, migration 1 first (see :mod:`villagewatch.db.migrations`)."""

_ONE = "SELECT size, jpeg FROM pictures WHERE village = ? AND device = ? AND evidence_id = ?"


class EvidenceTable:
    """Evidence JPEGs as rows at ``location``; safe across threads and processes."""

    def __init__(
        self,
        location: Location,
        *,
        busy_timeout_s: float,
        max_bytes: int = MAX_EVIDENCE_BYTES,
        budget_bytes: int | None = None,
        max_age_s: float | None = None,
        prune_every_s: float = 600,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``budget_bytes`` and ``max_age_s``: pictures beyond them are deleted, oldest first
        (None: no limit); ``prune_every_s``: how often a save checks them."""
        self._db = open_database(
            location, name="evidence", migrations=MIGRATIONS, busy_timeout_s=busy_timeout_s
        )
        self._max_bytes = max_bytes
        self._budget = budget_bytes
        self._max_age_ms = None if max_age_s is None else int(max_age_s * 1000)
        self._prune_every_s = prune_every_s
        self._monotonic = monotonic
        self._pruned_at = -math.inf
        self.deleted = 0
        """Pictures deleted by the budget and age limits since start (by this process)."""

    def save(self, village: str, device: str, evidence_id: str, jpeg: bytes) -> bool:
        """Keep the picture; True when this call stored it, False when it was there already
        (the same bytes). Raises :class:`EvidenceRejected` as the folder does, and
        :class:`~villagewatch.errors.StoreUnavailable` when the database cannot be reached."""
        refusal = jpeg_refusal(jpeg, self._max_bytes)
        if refusal is not None:
            raise EvidenceRejected(*refusal)
        bad_name = parts_refusal(village, device, evidence_id)
        if bad_name is not None:
            raise bad_name
        key = (village, device, evidence_id)

        def run(c: Connection) -> bool:
            row = c.execute(_ONE, key).fetchone()
            if row is not None:
                if bytes(row[1]) != jpeg:
                    raise EvidenceRejected(
                        RejectReason.INVALID_PAYLOAD,
                        f"evidence id already stored with other content ({row[0]} bytes); "
                        "the first picture is kept",
                    )
                return False
            # WHERE true: SQLite needs it to read ON CONFLICT after INSERT … SELECT; the
            # conflict clause keeps the first copy even where writers were not serialised
            c.execute(
                "INSERT INTO pictures (village, device, evidence_id, stored_ms, size, jpeg)"
                " SELECT ?, ?, ?, now_ms, ?, ? FROM db_clock WHERE true ON CONFLICT DO NOTHING",
                (*key, len(jpeg), jpeg),
            )
            return True

        stored = self._db.write(run)
        if self._monotonic() - self._pruned_at >= self._prune_every_s:
            self.prune()
        return stored

    def prune(self) -> tuple[int, int]:
        """Delete pictures older than the age limit (on the database's clock), then the oldest
        until the total is within the budget; returns (pictures, bytes) deleted."""
        self._pruned_at = self._monotonic()
        budget, max_age_ms = self._budget, self._max_age_ms

        def run(c: Connection) -> tuple[int, int]:
            gone: list[Any] = []
            if max_age_ms is not None:
                gone += c.execute(
                    "DELETE FROM pictures WHERE stored_ms < (SELECT now_ms FROM db_clock) - ?"
                    " RETURNING size",
                    (max_age_ms,),
                ).fetchall()
            if budget is not None:
                gone += c.execute(
                    "DELETE FROM pictures WHERE (village, device, evidence_id) IN ("
                    " SELECT village, device, evidence_id FROM ("
                    "  SELECT village, device, evidence_id, SUM(size) OVER (ORDER BY stored_ms"
                    "   DESC, village DESC, device DESC, evidence_id DESC) AS kept"
                    "  FROM pictures) AS newest_first WHERE kept > ?)"
                    " RETURNING size",
                    (budget,),
                ).fetchall()
            return len(gone), sum(int(r[0]) for r in gone)

        deleted, freed = self._db.write(run)
        if deleted:
            self.deleted += deleted
            log.info("Evidence: deleted the %d oldest pictures (%.1f MB)", deleted, freed / 1e6)
        return deleted, freed

    def picture(self, village: str, device: str, evidence_id: str) -> bytes | None:
        """The picture's bytes; None when it is not there or a part is no identifier."""
        if parts_refusal(village, device, evidence_id) is not None:
            return None
        rows = self._db.rows(_ONE, (village, device, evidence_id))
        return bytes(rows[0][1]) if rows else None

    def newest(self, village: str, device: str) -> bytes | None:
        """The device's newest picture (by when it was stored); None when it has none or a
        part is no identifier."""
        if not (is_identifier(village) and is_identifier(device)):
            return None
        rows = self._db.rows(
            "SELECT jpeg FROM pictures WHERE village = ? AND device = ?"
            " ORDER BY stored_ms DESC, evidence_id DESC LIMIT 1",
            (village, device),
        )
        return bytes(rows[0][0]) if rows else None

    def close(self) -> None:
        """Close the database."""
        self._db.close()
