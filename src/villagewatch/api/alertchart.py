"""What the console draws around an alert: which series, over which span, with the levels the
detector runs with now (from the running config, not the alert's copy), the reading that
fired and the value now; and for a camera's alert, where its box and zone lie on the picture.

The span is the alert's own: from a while before it started (as long again as it lasted,
between 30 min and 24 h) to its clear, or to now while it is open, so a rise is the chart and
not a sliver at its edge.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from villagewatch.alerts.lifecycle import Alert, AuditEntry
from villagewatch.api.schemas import Reply
from villagewatch.config import DeviceSpec
from villagewatch.config.village import Village
from villagewatch.contract import metric_names
from villagewatch.detectors.config import MAIN_METRICS, HealthConfig, LevelConfig, RiseConfig
from villagewatch.detectors.device import FamilyConfig, resolve
from villagewatch.edge.vision.config import ZoneKind
from villagewatch.transitions import Severity
from villagewatch.versions.cameras import CameraZones

__all__ = [
    "CONTEXT_MAX_MS",
    "CONTEXT_MIN_MS",
    "ChartOut",
    "LevelOut",
    "PictureOut",
    "PointOut",
    "ZoneOut",
    "chart_metric",
    "chart_span",
    "detector_levels",
    "ended_ms",
    "families_of",
    "picture_box",
    "picture_zone",
]

CONTEXT_MIN_MS = 30 * 60_000
"""At least this much before the alert, so what led to it shows."""
CONTEXT_MAX_MS = 24 * 3600_000
"""At most this much before it: a week-long alert keeps a day of lead-up, not a week."""
_AFTER_MAX_MS = 3600_000
_MIN_SPAN_MS = 60_000

LevelName = Literal[
    "blue", "warning", "guaranteed", "historical_max",
    "sensor_min", "plausible_min", "plausible_max", "sensor_max",
]  # fmt: skip


class LevelOut(Reply):
    """One horizontal line: a level the detector compares the series with."""

    name: LevelName = Field(description="Which level: the console names it in the reader's words.")
    value: float
    severity: Severity | None = Field(description="The alert's colour at or above it (None: none).")


class PointOut(Reply):
    """One reading."""

    at: Any = Field(description="When (RFC 3339).")
    value: float


class ChartOut(Reply):
    """The series around an alert, the levels that judge it, the reading that fired it and now."""

    village: str
    device: str
    metric: str
    own: bool = Field(
        description="The series the alert is about (False: context, e.g. a camera's gauge)."
    )
    since: Any = Field(description="Start of the span (RFC 3339).")
    until: Any = Field(description="End of the span (RFC 3339).")
    started: Any = Field(description="When the alert's condition started (device time).")
    ended: Any | None = Field(description="When it cleared (None: open).")
    levels: list[LevelOut] = Field(description="The detector's levels for this device now.")
    fired: PointOut | None = Field(description="The reading that fired the alert, if found.")
    current: PointOut | None = Field(description="The device's newest value of the metric.")
    slices: int = Field(description="The span was cut into this many slices (empty ones left out).")
    buckets: list[dict[str, Any]] = Field(description="start, mean, min, max, count per slice.")


class ZoneOut(Reply):
    """The camera zone the detection happened in, as the camera's zones are configured now."""

    id: str
    kind: ZoneKind
    polygon: list[tuple[float, float]] = Field(description="Corners, 0-1 of the picture.")


class PictureOut(Reply):
    """A camera alert's picture and what to draw on it."""

    url: str = Field(description="The picture (JPEG).")
    taken: Any = Field(description="When the camera took it (the detection's time).")
    box: tuple[float, float, float, float] | None = Field(
        description="The detection's box: x, y, width, height, 0-1 of the picture (None: none)."
    )
    zone: ZoneOut | None = Field(description="The zone (None: no longer configured).")
    detection: str | None = Field(description="What was detected, e.g. illegal_parking.")


_CHARTED_BY: dict[str, str] = {"water_level": "level", "water_rise": "rise"}
"""Detectors whose series is their family's metric."""


def chart_metric(
    alert: Alert, spec: DeviceSpec | None, families: Mapping[str, FamilyConfig]
) -> tuple[str, bool] | None:
    """The series worth drawing around ``alert`` and whether it is the alert's own (the
    level of a gauge's level or rise alert, the rain of a rain alert, the series of a health
    or anomaly alert) or context (a camera's gauge reading beside its detection); None when
    the device has no series (a button, a lock: its place says more than a line)."""
    if spec is None:
        return None
    allowed = metric_names(spec.kind)
    family = _CHARTED_BY.get(alert.detector)
    metric: object = None
    if family is not None:
        cfg = families.get(family)
        metric = cfg.metric if isinstance(cfg, LevelConfig | RiseConfig) else "level_cm"
    elif alert.detector == "rain":
        metric = "mm"
    elif alert.detector in ("health", "anomaly"):
        metric = alert.details.get("metric")
    if isinstance(metric, str) and metric in allowed:
        return metric, True
    main = MAIN_METRICS.get(spec.kind, [])
    return (main[0], False) if main and main[0] in allowed else None


def families_of(village: Village | None, spec: DeviceSpec) -> dict[str, FamilyConfig]:
    """The detector families the device runs with under its village's config."""
    if village is None:
        return {}
    detect = village.detect
    return resolve(spec.kind, detect.devices.get(spec.id), detect.kinds.get(spec.kind))


def detector_levels(
    alert: Alert, metric: str, families: Mapping[str, FamilyConfig]
) -> list[LevelOut]:
    """The levels to draw, lowest first: a gauge's blue, warning, guaranteed and record levels
    on its level series (whichever alert it is); a health alert's sensor and plausible range."""
    out: list[LevelOut] = []
    level = families.get("level")
    if isinstance(level, LevelConfig) and level.metric == metric:
        if level.blue_margin_cm > 0:
            out.append(
                LevelOut(
                    name="blue",
                    value=level.warning_cm - level.blue_margin_cm,
                    severity=Severity.BLUE,
                )
            )
        out.append(LevelOut(name="warning", value=level.warning_cm, severity=Severity.YELLOW))
        if level.guaranteed_cm is not None:
            out.append(
                LevelOut(name="guaranteed", value=level.guaranteed_cm, severity=Severity.ORANGE)
            )
        if level.historical_max_cm is not None:
            out.append(
                LevelOut(
                    name="historical_max", value=level.historical_max_cm, severity=Severity.RED
                )
            )
    health = families.get("health")
    if alert.detector == "health" and isinstance(health, HealthConfig):
        names: tuple[LevelName, ...] = (
            "sensor_min",
            "plausible_min",
            "plausible_max",
            "sensor_max",
        )
        for name in names:
            value = getattr(health, name)
            if value is not None:
                out.append(LevelOut(name=name, value=float(value), severity=None))
    return sorted(out, key=lambda lv: lv.value)


def ended_ms(alert: Alert, audit: list[AuditEntry]) -> int | None:
    """When the alert's condition ended, in device time where the detector said so: the clear
    that resolved it, else its resolution; None while it is open."""
    if alert.resolved_ms is None:
        return None
    for entry in reversed(audit):
        if entry.action == "resolved":
            at = entry.detail.get("at_ms")
            return at if isinstance(at, int) and not isinstance(at, bool) else alert.resolved_ms
    return alert.resolved_ms


def chart_span(started_ms: int, ended: int | None, now_ms: int) -> tuple[int, int]:
    """[since, until) in epoch ms: as long before the start as the alert lasted (30 min to
    24 h), to a tenth of its length (at most an hour, never past now) after its end, or to now.
    A start in the future (a device clock ahead) still gives a span of a minute or more."""
    end = ended if ended is not None else now_ms
    end = max(end, started_ms + _MIN_SPAN_MS)
    lasted = end - started_ms
    before = min(max(lasted, CONTEXT_MIN_MS), CONTEXT_MAX_MS)
    after = min(lasted // 10, _AFTER_MAX_MS, max(now_ms - end, 0)) if ended is not None else 0
    return started_ms - before, end + after


def picture_box(details: Mapping[str, Any]) -> tuple[float, float, float, float] | None:
    """The detection's box from the event (x, y, w, h, 0-1, a list or the store's
    ``"x,y,w,h"``); None when absent or not a box inside the picture (an edge agent's bad
    value is not drawn, not an error)."""
    box = details.get("box")
    if isinstance(box, str):  # as a store keeps it: "x,y,w,h"
        try:
            box = [float(v) for v in box.split(",")]
        except ValueError:
            return None
    if not isinstance(box, list | tuple) or len(box) != 4:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in box):
        return None
    x, y, w, h = (float(v) for v in box)
    if not (0 <= x <= 1 and 0 <= y <= 1 and 0 < w <= 1 and 0 < h <= 1):
        return None
    return x, y, min(w, 1 - x), min(h, 1 - y)


def picture_zone(details: Mapping[str, Any], zones: CameraZones) -> ZoneOut | None:
    """The zone the event names, as the camera's zones are configured now (None: gone)."""
    zone_id = details.get("zone")
    for zone in zones.zones:
        if zone.id == zone_id:
            corners = [(float(x), float(y)) for x, y in zone.polygon]
            return ZoneOut(id=zone.id, kind=zone.kind, polygon=corners)
    return None
