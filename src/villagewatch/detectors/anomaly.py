"""Anomaly: a series that behaves unlike its own past, whatever no threshold names.

Each configured metric of a device is its own series with its own
:class:`~villagewatch.detectors.anomaly_score.SeriesScorer`, learning online from
the first reading. After ``learn_readings`` readings, a score at or above
``fire_score`` fires the series' alert (``anomaly:<metric>``); it clears once the
score has stayed below ``clear_score`` for ``clear_readings`` readings in a row
(hysteresis: a lively change raises one alert, not a flicker).

A value the sensor-health (QARTOD) tests found suspect or missing is a sensor
fault, already alerted as one: it is neither learnt nor able to raise an anomaly.
Readings out of device-time order are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from villagewatch.catalogue import Said, num
from villagewatch.contract import Reading
from villagewatch.detectors.anomaly_score import SeriesScorer
from villagewatch.detectors.base import Detector, Flags
from villagewatch.detectors.config import AnomalyConfig
from villagewatch.transitions import AlertKey, Transition

__all__ = ["Anomaly"]


@dataclass
class _Series:
    scorer: SeriesScorer = field(default_factory=SeriesScorer)
    last_ms: int | None = None
    firing: bool = False
    quiet: int = 0
    """Readings in a row below ``clear_score`` while firing."""
    report: float = 0.0
    """The scorer's report for the last reading (what ``detect-file`` writes)."""


class Anomaly(Detector):
    """The anomaly alerts of one device's numeric series."""

    name = "anomaly"

    def __init__(
        self,
        config: AnomalyConfig,
        *,
        village: str,
        device: str,
        label: str,
        metrics: list[str],
    ) -> None:
        self._cfg = config
        self._village, self._device, self._label = village, device, label
        self._metrics = config.metrics or metrics
        self._series: dict[str, _Series] = {}

    def reading(self, r: Reading, flags: Flags) -> list[Transition]:
        """Score every configured, usable metric of ``r``; fire or clear its alert."""
        out: list[Transition] = []
        at = r.at_ms
        for metric in self._metrics:
            value = r.values.get(metric)
            if value is None or not flags.usable(metric):
                continue
            s = self._series.get(metric)
            if s is None:
                s = self._series[metric] = _Series()
            if s.last_ms is not None and at <= s.last_ms:
                continue
            s.last_ms = at
            s.report = s.scorer.update(at, value)
            t = self._judge(metric, s, value, at, r.historical)
            if t is not None:
                out.append(t)
        return out

    def _judge(
        self, metric: str, s: _Series, value: float, at: int, historical: bool
    ) -> Transition | None:
        c, score = self._cfg, s.scorer.score
        if not s.firing:
            if s.scorer.n <= c.learn_readings or score < c.fire_score:
                return None
            s.firing, s.quiet = True, 0
            said = Said("anomaly.fire", {"value": num(value), "score": f"{score:.2f}"})
            return self._transition(metric, "fire", value, at, historical=historical, said=said)
        s.quiet = s.quiet + 1 if score < c.clear_score else 0
        if s.quiet < c.clear_readings:
            return None
        s.firing = False
        said = Said("anomaly.clear", {"value": num(value)})
        return self._transition(metric, "clear", value, at, historical=historical, said=said)

    def _transition(
        self,
        metric: str,
        action: Literal["fire", "clear"],
        value: float,
        at: int,
        *,
        historical: bool,
        said: Said,
    ) -> Transition:
        full = Said(said.key, {"label": self._label, "metric": metric, **said.params})
        return Transition(
            AlertKey(self.name, self._village, self._device, f"anomaly:{metric}"),
            action,
            self._cfg.severity,
            at,
            full.text,
            {
                "metric": metric,
                "value": value,
                "score": round(self._series[metric].scorer.score, 3),
            },
            historical,
            message_key=full.key,
            params=full.params,
        )

    def firing(self) -> bool:
        """Whether any anomaly alert of this device is firing."""
        return any(s.firing for s in self._series.values())

    def report(self) -> float:
        """0..1 for the last reading: a rise of the score, reported once at its peak (what
        NAB's ``anomaly_score`` asks for; see :mod:`~villagewatch.detectors.anomaly_score`)."""
        return max((s.report for s in self._series.values()), default=0.0)

    def snapshot(self) -> dict[str, Any]:
        """Per metric: the scorer's state, the last time, and the alert's hysteresis."""
        return {
            m: {
                "scorer": s.scorer.to_json(),
                "last_ms": s.last_ms,
                "firing": s.firing,
                "quiet": s.quiet,
            }
            for m, s in self._series.items()
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Put back a :meth:`snapshot`."""
        series: dict[str, _Series] = {}
        for metric, raw in state.items():
            series[metric] = _Series(
                SeriesScorer.from_json(raw["scorer"]),
                raw["last_ms"],
                bool(raw["firing"]),
                int(raw["quiet"]),
            )
        self._series = series

    def forget_future(self, limit_ms: int) -> None:
        """See :meth:`Detector.forget_future`: a last time later than ``limit_ms`` is forgotten."""
        for s in self._series.values():
            if s.last_ms is not None and s.last_ms > limit_ms:
                s.last_ms = None
