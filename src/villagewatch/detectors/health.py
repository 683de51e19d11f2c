"""Sensor health of numeric series: the QARTOD family of tests.

Per metric of one device, in device-time order:

* **missing** — a sentinel such as ``-9999`` is no measurement: flagged, never a value;
* **gross range** — outside the sensor's limits fails (alert ``range``), outside
  the plausible limits is suspect;
* **spike** — a reading further than ``spike`` from the median of the last good
  readings starts an excursion (alert ``spike``). It stays suspect until the
  series is back near where it was (alert clears) — or, if it stays away longer
  than ``spike_max_s``, it was a real change of level: the alert clears and the
  new level counts as good;
* **rate of change** — faster than ``rate_max_per_s`` is suspect;
* **flat line** — unchanged within ``flat_tolerance`` for ``flat_s``: the sensor
  is stuck (alert ``flat``);
* **gap** — after a silence longer than ``gap_factor`` expected intervals the
  spike median starts afresh, so a level that changed while the sensor was
  silent isn't taken for a spike. The silence itself is the offline detector's
  alert.

Suspect and missing metrics are reported in :class:`Flags`, and value
detectors (water level, rise, rain) leave them alone.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from villagewatch.catalogue import Said, num
from villagewatch.contract import Reading
from villagewatch.detectors.base import CLEAN, Detector, Flags
from villagewatch.detectors.config import HealthConfig
from villagewatch.transitions import AlertKey, Severity, Transition

__all__ = ["SensorHealth"]


@dataclass
class _Series:
    good: deque[float]
    last_ms: int | None = None
    last_value: float | None = None
    flat_ref: float | None = None
    flat_since: int | None = None
    spike_since: int | None = None
    spike_baseline: float | None = None
    spike_steady: int = 0
    """Readings in a row of the excursion that held together (each near the one before)."""
    noise: float = 0.0
    """Running mean of the absolute change between consecutive good readings."""
    last_good: float | None = None
    firing: set[str] = field(default_factory=set)
    score: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "good": list(self.good),
            "last_ms": self.last_ms,
            "last_value": self.last_value,
            "flat_ref": self.flat_ref,
            "flat_since": self.flat_since,
            "spike_since": self.spike_since,
            "spike_baseline": self.spike_baseline,
            "spike_steady": self.spike_steady,
            "noise": self.noise,
            "last_good": self.last_good,
            "firing": sorted(self.firing),
        }


_NOISE_SPAN = 96
"""Readings the running mean of change mostly remembers (a day at 15 minutes)."""


class _Point(NamedTuple):
    """One value of one metric being checked, and where its transitions go."""

    metric: str
    series: _Series
    value: float
    at: int
    historical: bool
    out: list[Transition]


class SensorHealth(Detector):
    """The health tests for the metrics of one device."""

    name = "health"

    def __init__(
        self,
        config: HealthConfig,
        *,
        village: str,
        device: str,
        label: str,
        metrics: list[str],
        interval_s: float,
    ) -> None:
        self._cfg = config
        self._village, self._device, self._label = village, device, label
        self._metrics = config.metrics or metrics
        self._interval_ms = interval_s * 1000
        self._sentinels = frozenset(config.sentinels)
        self._series: dict[str, _Series] = {}

    def _get(self, metric: str) -> _Series:
        series = self._series.get(metric)
        if series is None:
            series = self._series[metric] = _Series(good=deque(maxlen=self._cfg.spike_window))
        return series

    def reading(self, r: Reading, flags: Flags) -> list[Transition]:  # noqa: ARG002 - flags are ours
        """Check every configured metric of ``r`` (see :meth:`check` for its flags too)."""
        return self.check(r)[0]

    def check(self, r: Reading) -> tuple[list[Transition], Flags]:
        """Check every configured metric of ``r``: transitions, and which values are not usable."""
        out: list[Transition] = []
        suspect: set[str] = set()
        missing: set[str] = set()
        at = r.at_ms
        for metric in self._metrics:
            value = r.values.get(metric)
            if value is None:
                continue
            if value in self._sentinels:
                missing.add(metric)
                continue
            series = self._get(metric)
            if series.last_ms is not None and at <= series.last_ms:
                suspect.add(metric)  # out of order or repeated: not evidence of anything
                continue
            point = _Point(metric, series, value, at, r.historical, out)
            if not self._check(point):
                suspect.add(metric)
            series.last_ms, series.last_value = at, value
        if not (suspect or missing):
            return out, CLEAN
        return out, Flags(frozenset(suspect), frozenset(missing))

    def _check(self, p: _Point) -> bool:
        """Run the tests on one value; True when it is good."""
        c, s, value, at = self._cfg, p.series, p.value, p.at
        fail = (c.sensor_min is not None and value < c.sensor_min) or (
            c.sensor_max is not None and value > c.sensor_max
        )
        if fail != ("range" in s.firing):
            self._toggle(p, "range", fail, "health.range", {"value": num(value)})
        if fail:
            return False
        good = not (
            (c.plausible_min is not None and value < c.plausible_min)
            or (c.plausible_max is not None and value > c.plausible_max)
        )
        gap = c.gap_factor is not None and s.last_ms is not None
        if gap and at - (s.last_ms or 0) > (c.gap_factor or 0) * self._interval_ms:
            s.good.clear()  # the level may have moved while silent: start the median afresh
        if c.rate_max_per_s is not None and s.last_ms is not None and s.last_value is not None:
            rate = abs(value - s.last_value) / max((at - s.last_ms) / 1000, 1e-3)
            good = good and rate <= c.rate_max_per_s
        if c.spike is not None:
            threshold = c.spike
            if c.spike_noise_factor is not None:
                threshold = max(threshold, c.spike_noise_factor * s.noise)
            good = self._spike(p, threshold) and good
        if c.flat_s is not None:
            if s.flat_ref is not None and abs(value - s.flat_ref) <= c.flat_tolerance:
                stuck = s.flat_since is not None and at - s.flat_since >= c.flat_s * 1000
            else:
                s.flat_ref, s.flat_since, stuck = value, at, False
            if stuck != ("flat" in s.firing):
                self._toggle(p, "flat", stuck, "health.flat", {"hours": num(c.flat_s / 3600)})
            good = good and not stuck
        if good and s.spike_since is None:
            s.good.append(value)
            if s.last_good is not None:
                s.noise += (abs(value - s.last_good) - s.noise) / _NOISE_SPAN
            s.last_good = value
        return good

    def _spike(self, p: _Point, threshold: float) -> bool:
        s, value = p.series, p.value
        if s.spike_since is not None and s.spike_baseline is not None:
            away = abs(value - s.spike_baseline)
            s.score = min(1.0, away / threshold)
            if away <= threshold / 2:
                self._end_spike(p, "health.spike_back")
                return True
            if p.at - s.spike_since > self._cfg.spike_max_s * 1000:
                self._end_spike(p, "health.spike_level")
                s.good.clear()
                return True
            if self._settled(p, threshold):
                self._end_spike(p, "health.spike_settled")
                s.good.clear()
                return True
            return False
        if len(s.good) < min(3, s.good.maxlen or 3):
            s.score = 0.0
            return True
        median = _median(s.good)
        away = abs(value - median)
        s.score = min(0.49, 0.49 * away / threshold)
        if away <= threshold:
            return True
        s.spike_since, s.spike_baseline, s.score = p.at, median, 1.0
        said = {"value": num(value), "baseline": num(median)}
        self._toggle(p, "spike", True, "health.spike", said, baseline=median)
        return False

    def _settled(self, p: _Point, threshold: float) -> bool:
        """Whether the excursion's readings have held together — each within ``threshold`` of
        the one before — for ``spike_settle_readings`` readings: a flood rising faster than the
        median follows, or a median built on wrong readings, is no spike to hold for an hour."""
        s, limit = p.series, self._cfg.spike_settle_readings
        if limit is None or s.last_value is None:
            return False
        s.spike_steady = s.spike_steady + 1 if abs(p.value - s.last_value) <= threshold else 0
        return s.spike_steady >= limit

    def _end_spike(self, p: _Point, message_key: str) -> None:
        """The spike is over; ``message_key`` says why."""
        p.series.spike_steady = 0
        p.series.spike_since = p.series.spike_baseline = None
        p.series.score = 0.0
        self._toggle(p, "spike", False, message_key, {"value": num(p.value)})

    def _toggle(
        self,
        p: _Point,
        test: str,
        on: bool,
        message_key: str,
        params: dict[str, str],
        **details: Any,
    ) -> None:
        """Fire the test's alert when it turns on, clear it when it turns off."""
        if on == (test in p.series.firing):
            return
        if on:
            p.series.firing.add(test)
        else:
            p.series.firing.discard(test)
            if test != "spike":
                message_key, params = f"health.{test}_passes", {}
        said = Said(message_key, {"label": self._label, "metric": p.metric, **params})
        p.out.append(
            Transition(
                AlertKey(self.name, self._village, self._device, f"{test}:{p.metric}"),
                "fire" if on else "clear", Severity.YELLOW, p.at, said.text,
                {"metric": p.metric, "value": p.value, **details}, p.historical,
                message_key=said.key, params=said.params,
            )
        )  # fmt: skip

    def firing(self) -> bool:
        """Whether any health alert of this device is firing."""
        return any(s.firing for s in self._series.values())

    def score(self) -> float:
        """0..1: how anomalous the last reading looked (1 while an alert fires)."""
        if self.firing():
            return 1.0
        return max((s.score for s in self._series.values()), default=0.0)

    def snapshot(self) -> dict[str, Any]:
        """Per metric: the median window, last reading, flat-line and spike state, firing tests."""
        return {m: s.to_json() for m, s in self._series.items()}

    def restore(self, state: dict[str, Any]) -> None:
        """Put back a :meth:`snapshot`."""
        self._series = {}
        for metric, raw in state.items():
            s = self._get(metric)
            s.good.extend(raw["good"])
            s.last_ms, s.last_value = raw["last_ms"], raw["last_value"]
            s.flat_ref, s.flat_since = raw["flat_ref"], raw["flat_since"]
            s.spike_since, s.spike_baseline = raw["spike_since"], raw["spike_baseline"]
            s.spike_steady = raw.get("spike_steady", 0)
            s.noise, s.last_good = raw["noise"], raw["last_good"]
            s.firing = set(raw["firing"])

    def forget_future(self, limit_ms: int) -> None:
        """See :meth:`Detector.forget_future`: the last reading is forgotten, and an excursion or
        a flat line that started later than ``limit_ms`` counts from ``limit_ms``."""
        for s in self._series.values():
            if s.last_ms is not None and s.last_ms > limit_ms:
                s.last_ms = s.last_value = None
            if s.flat_since is not None and s.flat_since > limit_ms:
                s.flat_since = limit_ms
            if s.spike_since is not None and s.spike_since > limit_ms:
                s.spike_since = limit_ms


def _median(values: deque[float]) -> float:
    """The median (statistics.median without its type checks: this runs for every reading)."""
    ordered = sorted(values)
    half = len(ordered) // 2
    return ordered[half] if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2
