"""The closed loop a command centre reports each month: per place and kind, how many alerts,
how fast they were acknowledged and resolved (median, p90), how many escalated, why they were
closed (the resolution reasons); and per day. Months and days are those of the deployment's
time zone (``alerts.time_zone``), which every rendering names."""

from __future__ import annotations

import csv
import dataclasses
import io
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from villagewatch.alerts.changes import SYSTEM
from villagewatch.alerts.lifecycle import Alert
from villagewatch.catalogue import DEFAULT_LOCALE, Locale, kind_name

__all__ = [
    "AUTO",
    "CSV_COLUMNS",
    "UNRECORDED",
    "KindFigures",
    "MonthReport",
    "month_bounds",
    "month_report",
    "render",
    "to_csv",
]

AUTO = "auto"
"""The reason counted for an alert the system resolved (its condition cleared)."""
UNRECORDED = "unrecorded"
"""The reason counted for an alert a person resolved before reasons were kept."""


@dataclass(frozen=True, slots=True)
class KindFigures:
    """One place, one kind, one month."""

    place: str
    kind: str
    alerts: int
    acknowledged: int
    resolved: int
    escalated: int
    ack_median_s: float | None
    ack_p90_s: float | None
    resolve_median_s: float | None
    resolve_p90_s: float | None
    reasons: dict[str, int] = field(default_factory=dict)
    """Resolved alerts by reason (a ResolutionReason value, ``auto`` or ``unrecorded``)."""


@dataclass(frozen=True, slots=True)
class MonthReport:
    """Figures of one month."""

    month: str
    zone: str
    """The IANA time zone of the month's and the days' boundaries."""
    rows: list[KindFigures]
    per_day: dict[str, dict[str, int]] = field(default_factory=dict)
    """date → place → alerts fired that day."""

    @property
    def reasons(self) -> dict[str, int]:
        """Resolved alerts of the month by reason, most frequent first (then by name)."""
        total: Counter[str] = Counter()
        for r in self.rows:
            total.update(r.reasons)
        return dict(sorted(total.items(), key=lambda kv: (-kv[1], kv[0])))


def _reason(a: Alert) -> str:
    if a.resolution is not None:
        return a.resolution
    return AUTO if a.resolved_by == SYSTEM else UNRECORDED


def month_bounds(month: str, zone: str) -> tuple[int, int]:
    """Epoch ms of the month's start and end (``YYYY-MM``): local midnights in ``zone``
    (summer time included)."""
    try:
        start = datetime.strptime(month, "%Y-%m").replace(tzinfo=ZoneInfo(zone))
    except ValueError:
        raise ValueError(f"month {month!r} is not YYYY-MM") from None
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def _p90(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


def month_report(alerts: Sequence[Alert], month: str, zone: str) -> MonthReport:
    """Figures for the alerts that fired in ``month`` of ``zone`` (pending ones that never
    fired: none), with the days of that zone."""
    start, end = month_bounds(month, zone)
    tz = ZoneInfo(zone)
    groups: dict[tuple[str, str], list[Alert]] = defaultdict(list)
    per_day: dict[str, Counter[str]] = defaultdict(Counter)
    for a in alerts:
        if a.fired_ms is None or not start <= a.fired_ms < end:
            continue
        groups[(a.place, a.kind)].append(a)
        day = datetime.fromtimestamp(a.fired_ms / 1000, tz=tz).date().isoformat()
        per_day[day][a.place] += 1
    rows = []
    for (place, kind), items in sorted(groups.items()):
        ack = [(a.acknowledged_ms - a.fired_ms) / 1000 for a in items
               if a.acknowledged_ms is not None and a.fired_ms is not None]  # fmt: skip
        res = [(a.resolved_ms - a.fired_ms) / 1000 for a in items
               if a.resolved_ms is not None and a.fired_ms is not None]  # fmt: skip
        rows.append(
            KindFigures(
                place,
                kind,
                len(items),
                len(ack),
                len(res),
                sum(1 for a in items if a.escalation_level > 0),
                statistics.median(ack) if ack else None,
                _p90(ack),
                statistics.median(res) if res else None,
                _p90(res),
                dict(Counter(_reason(a) for a in items if a.resolved_ms is not None)),
            )
        )
    return MonthReport(month, zone, rows, {d: dict(c) for d, c in sorted(per_day.items())})


def _kind(kind: str, locale: Locale) -> str:
    """A kind by its name, and its id (what configs and filters use) when they differ."""
    name = kind_name(kind, locale)
    return name if name == kind else f"{name} ({kind})"


def render(report: MonthReport, locale: Locale = DEFAULT_LOCALE) -> str:
    """The report as text for a terminal or a document; alert kinds named in ``locale``."""

    def dur(s: float | None) -> str:
        if s is None:
            return "-"
        return f"{s / 60:.0f} min" if s < 86400 else f"{s / 86400:.1f} d"

    lines = [
        f"Alerts {report.month} (months and days in {report.zone})",
        (
            f"{'place':28} {'kind':30} {'alerts':>6} {'esc.':>5} {'ack median':>10} {'ack p90':>9}"
            f" {'res. median':>11} {'res. p90':>9}"
        ),
    ]
    lines += [
        f"{r.place:28} {_kind(r.kind, locale):30} {r.alerts:>6} {r.escalated:>5}"
        f" {dur(r.ack_median_s):>10}"
        f" {dur(r.ack_p90_s):>9} {dur(r.resolve_median_s):>11} {dur(r.resolve_p90_s):>9}"
        for r in report.rows
    ]
    if not report.rows:
        lines.append("(no alerts fired this month)")
    lines.append("")
    reasons = report.reasons
    lines.append(
        "resolved, by reason: "
        + (", ".join(f"{k} {n}" for k, n in reasons.items()) if reasons else "-")
    )
    lines.append(
        "per day: " + ", ".join(f"{d} {sum(c.values())}" for d, c in report.per_day.items())
    )
    return "\n".join(lines)


CSV_COLUMNS = (
    "month", "zone", "place", "kind", "alerts", "acknowledged", "resolved", "escalated",
    "ack_median_min", "ack_p90_min", "resolve_median_min", "resolve_p90_min", "reasons",
)  # fmt: skip


def _cell(text: str) -> str:
    """One CSV text cell; text a spreadsheet would run as a formula (=, +, -, @ first) is quoted
    with a leading apostrophe, since place ids and reasons come from config and users."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(report: MonthReport) -> str:
    """The month as CSV (RFC 4180, a header row, one row per place and kind): durations in
    minutes, the resolution reasons as ``reason=count`` joined by ``; ``."""

    def minutes(s: float | None) -> str:
        return "" if s is None else f"{s / 60:.1f}"

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in report.rows:
        reasons = dataclasses.asdict(r).get("reasons") or {}
        writer.writerow(
            (
                report.month, _cell(report.zone), _cell(r.place), _cell(r.kind), r.alerts,
                r.acknowledged, r.resolved, r.escalated, minutes(r.ack_median_s),
                minutes(r.ack_p90_s), minutes(r.resolve_median_s), minutes(r.resolve_p90_s),
                _cell("; ".join(f"{k}={n}" for k, n in sorted(reasons.items()))),
            )
        )  # fmt: skip
    return out.getvalue()
