"""``villagewatch detect-file``: one detector over a CSV of ``timestamp,value``, for evaluation.

Writes ``timestamp,value,anomaly_score``. For ``anomaly`` the score is the
detector's report: 0..1 at the peak of each rise of its score, 0 otherwise (NAB
rewards the earliest detection and counts every row above its threshold). For the
others it is 1 while the detector's alert is firing after that row, otherwise the
detector's own 0..0.5 measure of how unusual the value looked (0 when it has none).
Timestamps without an offset are read as UTC and written back exactly as they came;
an empty or non-numeric value is a missing measurement.
"""

from __future__ import annotations

import csv
import itertools
import math
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from villagewatch.config.yamlfile import read_yaml
from villagewatch.contract import Clock, DeviceKind, Reading, point_time_ns
from villagewatch.detectors import (
    CLEAN,
    Anomaly,
    AnomalyConfig,
    Detector,
    Flags,
    HealthConfig,
    LevelConfig,
    RainConfig,
    RiseConfig,
    SensorHealth,
)
from villagewatch.detectors.device import DeviceInfoForDetect, FamilyConfig, build

__all__ = ["DETECTORS", "FileRun", "run_file"]

_MISSING = -9999.0

# name → (config model, metric the CSV's value stands for, kind of device)
DETECTORS: dict[str, tuple[type[BaseModel], str, DeviceKind]] = {
    "sensor_health": (HealthConfig, "level_cm", DeviceKind.WATER_LEVEL),
    "water_level": (LevelConfig, "level_cm", DeviceKind.WATER_LEVEL),
    "water_rise": (RiseConfig, "level_cm", DeviceKind.WATER_LEVEL),
    "rain": (RainConfig, "mm", DeviceKind.RAIN_GAUGE),
    "anomaly": (AnomalyConfig, "level_cm", DeviceKind.WATER_LEVEL),
}


@dataclass(frozen=True, slots=True)
class FileRun:
    """What a run did."""

    rows: int
    missing: int
    alerts: int
    """Alerts fired (not counting severity changes)."""


def _parse_time(text: str) -> int:
    stamp = datetime.fromisoformat(text.strip())
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return int(stamp.timestamp() * 1000)


def _parse_value(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        return _MISSING
    return value if math.isfinite(value) else _MISSING


def run_file(detector: str, config_path: Path | None, source: Path, target: Path) -> FileRun:
    """Run ``detector`` over ``source`` and write the scored rows to ``target``."""
    if detector not in DETECTORS:
        raise ValueError(f"no detector {detector!r}; choose one of {', '.join(DETECTORS)}")
    model, metric, kind = DETECTORS[detector]
    # without a file, the defaults: water_level has none and says which settings it needs
    config = read_yaml(config_path).validate(model) if config_path is not None else model()
    with source.open(newline="", encoding="utf-8") as f:
        rows = [row for row in csv.reader(f) if row]
    header, body = rows[0], rows[1:]
    if len(header) < 2 or header[0].strip().lower() not in ("timestamp", "datetime", "time"):
        raise ValueError(f"{source}: expected a header 'timestamp,value', got {','.join(header)!r}")
    times = [_parse_time(r[0]) for r in body]
    steps = [b - a for a, b in itertools.pairwise(times) if b > a]
    interval_s = statistics.median(steps) / 1000 if steps else 60.0
    info = DeviceInfoForDetect("file", "series", kind, source.stem, interval_s)
    assert isinstance(config, FamilyConfig)
    d = build(config, info)
    alerts = missing = 0
    with target.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["timestamp", "value", "anomaly_score"])
        for seq, (row, ms) in enumerate(zip(body, times, strict=True)):
            value = _parse_value(row[1])
            missing += value == _MISSING
            r = Reading("file", "g", "series", kind.value, point_time_ns(ms, "f", seq), seq, "f",
                        {metric: value}, Clock.SYNCED, False, False, ms)  # fmt: skip
            flags = Flags(missing=frozenset({metric})) if value == _MISSING else CLEAN
            transitions = d.reading(r, flags)
            alerts += sum(1 for t in transitions if t.action == "fire")
            out.writerow([row[0], row[1], f"{_score(d):.4f}"])
    return FileRun(rows=len(body), missing=missing, alerts=alerts)


def _score(d: Detector) -> float:
    if isinstance(d, SensorHealth):
        return d.score()
    if isinstance(d, Anomaly):
        return d.report()
    firing = getattr(d, "firing", None)
    return 1.0 if callable(firing) and firing() else 0.0
