"""The replay report as JSON for tools: field names are stable (``format`` 1; a change that
removes or renames a field raises it). Times are ISO 8601 in UTC, durations in seconds."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from villagewatch.transitions import AlertKey
from villagewatch.tune.compare import Comparison, Episode, EpisodeChange
from villagewatch.tune.replay import Timeline

__all__ = ["FORMAT", "iso", "report"]

FORMAT = 1


def iso(ms: int) -> str:
    """``ms`` (epoch) as ISO 8601 in UTC, to the second or the millisecond."""
    stamp = datetime.fromtimestamp(ms / 1000, tz=UTC)
    spec = "seconds" if ms % 1000 == 0 else "milliseconds"
    return stamp.isoformat(timespec=spec).replace("+00:00", "Z")


def _key(key: AlertKey, grid: str) -> dict[str, str]:
    return {
        "alert": str(key),
        "detector": key.detector,
        "kind": key.kind,
        "village": key.village,
        "grid": grid,
        "subject": key.subject,
    }


def _episode(e: Episode | None) -> dict[str, Any] | None:
    if e is None:
        return None
    return {
        "fired_at": iso(e.fired_ms),
        "cleared_at": iso(e.cleared_ms) if e.cleared_ms is not None else None,
        "severity": e.severity.value,
        "peak": e.peak.value,
    }


def _change(c: EpisodeChange) -> dict[str, Any]:
    return {
        "change": c.kind,
        **_key(c.key, c.grid),
        "severity_changed": c.severity_changed,
        "shift_s": c.shift_ms / 1000 if c.shift_ms is not None else None,
        "today": _episode(c.today),
        "candidate": _episode(c.candidate),
    }


def _timeline(t: Timeline, grids: Mapping[tuple[str, str], str]) -> dict[str, Any]:
    by_key: dict[AlertKey, list[dict[str, Any]]] = {}
    for tr in t.transitions:
        by_key.setdefault(tr.key, []).append(
            {
                "action": tr.action,
                "severity": tr.severity.value,
                "at": iso(tr.at_ms),
                "message": tr.message,
            }
        )
    return {
        "fired": sum(1 for tr in t.transitions if tr.action == "fire"),
        "failures": list(t.failures),
        "alerts": [
            {**_key(k, grids.get((k.village, k.subject), "")), "transitions": v}
            for k, v in sorted(by_key.items(), key=lambda kv: str(kv[0]))
        ],
    }


def report(
    today: Timeline,
    candidate: Timeline,
    comparison: Comparison,
    *,
    grids: Mapping[tuple[str, str], str],
    scope: Mapping[str, str | None],
) -> dict[str, Any]:
    """Everything the replay found, as plain JSON values (see docs/detectors.md)."""
    return {
        "format": FORMAT,
        "from": iso(today.since_ms),
        "to": iso(today.until_ms),
        "scope": dict(scope),
        "items": today.items,
        "summary": {
            kind: comparison.total(kind)
            for kind in ("added", "removed", "earlier", "later", "unchanged")
        }
        | {"severity_changed": comparison.severity_changes},
        "counts": [
            {
                "kind": g.kind,
                "village": g.village,
                "grid": g.grid,
                "added": g.added,
                "removed": g.removed,
                "earlier": g.earlier,
                "later": g.later,
                "unchanged": g.unchanged,
                "severity_changed": g.severity_changed,
                "median_shift_s": g.median_shift_ms / 1000
                if g.median_shift_ms is not None
                else None,
            }
            for g in comparison.counts
        ],
        "changes": [_change(c) for c in comparison.changes],
        "today": _timeline(today, grids),
        "candidate": _timeline(candidate, grids),
    }
