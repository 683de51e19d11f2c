"""The wall's figures from the alert database, in one read transaction. Counting is
SQL's (GROUP BY over the fired_ms index); the median too, so 500 open alerts or a year of
history stay one query each, not rows carried into Python."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from villagewatch.alerts.overview import OpenBrief, Overview, TodayFigures, TrendBucket
from villagewatch.db.database import Connection, Database

__all__ = ["AlertDatabaseOverview"]

_MAX_EDGES = 400  # a year of days and then some; SQLite binds at most 32766 values

# {scope} is a condition of placeholders only (see _scope); every value is bound
_OPEN = (
    "SELECT id, village, place, kind, severity, state, updated_ms FROM alerts "
    "WHERE state != 'resolved' AND {scope} ORDER BY id"
)
_TODAY = (
    "SELECT count(*), count(acknowledged_ms), count(resolved_ms) FROM alerts "
    "WHERE fired_ms >= ? AND fired_ms < ? AND {scope}"
)
# the median of an ordered list: the middle one, or the mean of the middle two (PostgreSQL
# wants the subquery named)
_ACK_MEDIAN = (
    "WITH d(s) AS (SELECT acknowledged_ms - fired_ms FROM alerts WHERE fired_ms >= ? "
    "AND fired_ms < ? AND acknowledged_ms IS NOT NULL AND {scope}) "
    "SELECT avg(s) FROM (SELECT s FROM d ORDER BY s "
    "LIMIT 2 - (SELECT count(*) FROM d) % 2 OFFSET ((SELECT count(*) FROM d) - 1) / 2) AS mid"
)
_BY_VILLAGE = (
    "SELECT village, count(*) FROM alerts "
    "WHERE fired_ms >= ? AND fired_ms < ? AND {scope} GROUP BY village"
)
_TREND = (
    "WITH edges(i, lo, hi) AS (VALUES {values}) "
    "SELECT e.i, a.severity, count(*) FROM edges e JOIN alerts a "
    "ON a.fired_ms >= e.lo AND a.fired_ms < e.hi WHERE {scope} GROUP BY e.i, a.severity"
)


def _scope(places: Sequence[str] | None) -> tuple[str, list[Any]]:
    if places is None:
        return "1=1", []
    return f"place IN ({','.join('?' * len(places))})", list(places)


def _trend(
    conn: Connection, edges: Sequence[int], scope: str, args: list[Any]
) -> list[TrendBucket]:
    if len(edges) < 2:
        return []
    pairs = list(itertools.pairwise(edges))
    if len(edges) > _MAX_EDGES or any(hi <= lo for lo, hi in pairs):
        raise ValueError(f"bucket edges must be at most {_MAX_EDGES} ascending times")
    bound: list[Any] = []
    for i, (lo, hi) in enumerate(pairs):
        bound += [i, lo, hi]
    sql = _TREND.format(values=",".join("(?,?,?)" for _ in pairs), scope=scope)
    out = [TrendBucket(lo, hi, {}) for lo, hi in pairs]
    for i, severity, n in conn.execute(sql, [*bound, *args]).fetchall():
        out[i].by_severity[severity] = int(n)
    return out


class AlertDatabaseOverview:
    """:class:`~villagewatch.alerts.overview.AlertOverview` over the store's file (a part of
    :class:`~villagewatch.alerts.database.store.AlertDatabase`)."""

    _db: Database

    def overview(
        self,
        *,
        places: Sequence[str] | None,
        day: tuple[int, int],
        hour_edges: Sequence[int],
        day_edges: Sequence[int],
    ) -> Overview:
        """See :meth:`villagewatch.alerts.overview.AlertOverview.overview`."""
        scope, args = _scope(places)
        today = [*day, *args]

        def read(conn: Connection) -> Overview:
            open_rows = conn.execute(_OPEN.format(scope=scope), args).fetchall()
            fired, acked, resolved = conn.execute(_TODAY.format(scope=scope), today).fetchone()
            (median,) = conn.execute(_ACK_MEDIAN.format(scope=scope), today).fetchone()
            by_village = conn.execute(_BY_VILLAGE.format(scope=scope), today).fetchall()
            return Overview(
                open=[
                    OpenBrief(int(r[0]), r[1], r[2], r[3], r[4], r[5], int(r[6])) for r in open_rows
                ],
                today=TodayFigures(
                    fired=int(fired),
                    acknowledged=int(acked),
                    resolved=int(resolved),
                    ack_median_s=None if median is None else max(0.0, float(median) / 1000),
                    fired_by_village={v: int(n) for v, n in by_village},
                ),
                hourly=_trend(conn, hour_edges, scope, args),
                daily=_trend(conn, day_edges, scope, args),
            )

        return self._db.read(read)
