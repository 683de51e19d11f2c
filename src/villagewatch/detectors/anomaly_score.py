"""How unusual one reading of one series is, learnt online: the math of the anomaly family.

Written for this project from published ideas, no code taken:

* **Experts** — measures of surprise. Five residuals, each a ratio to its own running
  typical size: the *step* from the last reading (spikes, level shifts); the residual from
  a *daily* profile (48 half-hour slots) and from a *weekly* profile (168 hourly slots) of
  the series, indexed by the reading's own time (a day that breaks the pattern); the
  residual from the series' *smoothed level* (an exponential average over about
  ``1 / _SMOOTH_RATE`` readings: a drift or a shift that builds over several readings,
  which no single step shows); and the *silence* before the reading — the time since the
  last one (a sensor or the system behind it that went quiet and came back). The
  *relative entropy* of the last 32 readings' value distribution against the long-run one
  (a change of variance, a series that leaves its usual band). Three *novelty* experts
  (:mod:`~villagewatch.detectors.anomaly_contexts`): whether the last two readings' levels
  (a quarter of a standard deviation each) or the last three's (a whole one each) form a
  context the series has not shown in the last few thousand readings (a spike of a new
  shape, a pattern it never followed), and whether the reading is at a *rare level* — a
  quarter of a long-run standard deviation wide, the long run being the series' whole
  history, forgetting over about ``_LONG_RUN_SPAN`` readings — that it has not visited in
  the last few thousand (a slow slide to where it has not been for weeks, which the
  recent scale, following the slide, does not see). And *calm*: how
  small the steps have been lately against their typical size (the running mean of
  ``-ln(step ratio)`` over about ``_CALM_SPAN`` readings; a log, so that a run of zero
  steps counts at once) — a stuck sensor or a collapse of variance, which no measure of
  *large* surprise sees.
* **Calibration** — each expert's surprise, as it is and averaged over the last 8 readings
  (as HTM's anomaly likelihood averages), is turned into a tail probability by
  peaks-over-threshold (Siffer et al., KDD 2017): a generalised Pareto fitted by moments
  to the excesses over the running mean + 2 sd (calm as it is only). The score is the rarest
  of the calibrated measures, corrected for how many were asked (Bonferroni: ``p * k``, so
  a reading is not called rare merely because fifteen measures looked at it), as
  ``-log10 p / 12`` in 0..1 (1: one in 10^12 or rarer).
* **Reporting** — :meth:`SeriesScorer.update` also returns a *report*: the peak score of
  each episode — reported once the score has stayed below that peak for ``_SETTLE``
  readings, so a rise that dips and rises again within a few readings is one episode, one
  report — and only when it beats the memory of what was last reported, held for
  ``_HOLD`` readings then fading. A change is reported once, near its start, not for as
  long as it lasts — what NAB rewards, and what a person wants.

Everything is plain floats, small lists and bit sets, so a state is at most about 6.5 KB of
JSON (:meth:`SeriesScorer.to_json`), and nothing reads a clock.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from villagewatch.detectors.anomaly_contexts import Contexts
from villagewatch.detectors.anomaly_state import floats, pack, slots
from villagewatch.detectors.anomaly_tail import Tail

__all__ = ["SeriesScorer"]

_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000
_DAY_SLOTS = 48
_WEEK_SLOTS = 168
_PROFILE_RATE = 0.25
"""How fast a profile slot follows its readings (each slot sees one visit per day/week)."""
_SMOOTH_RATE = 0.02
"""How fast the smoothed level follows the series (it mostly remembers 50 readings)."""
_SCALE_SPAN = 500
"""Readings the typical size of each expert's surprise mostly remembers."""
_BINS = 8
_RECENT = 32
"""Readings in the recent distribution compared with the long-run one."""
_LONG_SPAN = 1000
_AVERAGED = 8
"""Readings the averaged surprises are taken over."""
_SETTLE = 4
"""Readings the score must stay below an episode's peak before the peak is reported: the
report comes this many readings after the peak (the alerts of detect do not wait)."""
_HOLD = 150
"""Readings a report stays the bar a later one must beat, before the bar fades."""
_FADE = 0.99
_CONTEXTS = ((32, 2), (8, 3))
"""The novelty experts' (levels over +-4 recent sd, context length): fine pairs, coarse
triples."""
_RARE_LEVELS = 32
"""Levels of the rare-level expert over +-4 long-run sd."""
_LONG_RUN_SPAN = 20_000
"""Readings the long-run mean and sd of the rare-level expert mostly remember."""
_RESIDUALS = 5
"""Experts measured as a ratio to their typical size: step, daily, weekly, smoothed level,
silence."""
_EXPERTS = _RESIDUALS + 1 + len(_CONTEXTS) + 1
_CALM_SPAN = 16
"""Readings calm's running mean of small steps mostly remembers."""
_CALM_FLOOR = 1e-3
"""Smallest step, relative to the typical one, that calm tells apart: a step of zero counts
``-ln(1e-3)``, about 6.9, where a step of typical size counts about 0."""
_CALM_ALARM = 4.0
"""``-log10 p`` from which calm's excess is an alarm, left out of its tail's fit."""
_LARGEST = 1e100
"""A reading this large or larger is neither learnt nor scored: the squares of the math
would overflow, and no sensor reads it (a corrupt value, which health's range test flags)."""
_EXPERT_WARM = 20
"""Measures an expert takes before its surprise is calibrated: until its typical size is
known, a ratio to it says nothing (and would skew the calibration for thousands of readings)."""


class SeriesScorer:
    """The experts, calibration and reporting for one series (see the module docstring)."""

    def __init__(self) -> None:
        self.n = 0
        self.last: float | None = None
        self.last_ms: int | None = None
        """Device time of the last reading learnt (None: unknown, from an older state)."""
        self.mean = self.var = 0.0
        self.smooth = 0.0
        """The smoothed level."""
        self.scales = [0.0] * _EXPERTS
        self.seen = [0] * _EXPERTS
        self.day: list[float | None] = [None] * _DAY_SLOTS
        self.week: list[float | None] = [None] * _WEEK_SLOTS
        self.recent: deque[int] = deque()
        self.counts = [0] * _BINS
        self.long = [1.0 / _BINS] * _BINS
        self.averaged: list[deque[float]] = [deque(maxlen=_AVERAGED) for _ in range(_EXPERTS)]
        self.tails = [Tail() for _ in range(2 * _EXPERTS + 1)]
        """Each expert as it is, each averaged, then calm."""
        self.contexts = [Contexts(levels, length) for levels, length in _CONTEXTS]
        self.levels = Contexts(_RARE_LEVELS, 1)
        """The levels visited lately, on the long-run scale (the rare-level expert)."""
        self.long_mean = self.long_var = 0.0
        self.still = 0.0
        """Running mean of ``-ln`` of the step's ratio to its typical size (under 1 while a
        series moves as it always did, towards 6.9 once it stops moving)."""
        self.score = 0.0
        """The last reading's score, 0..1."""
        self.bar = 0.0
        self.since_report = 0
        self.peak = 0.0
        """The highest score of the episode not yet reported (0 between episodes)."""
        self.since_peak = 0

    def update(self, at_ms: int, x: float) -> float:
        """Learn reading ``x`` at ``at_ms`` (device time); return its report (0 unless this
        reading ends a rise of the score that beats the last report)."""
        if not abs(x) < _LARGEST:
            return 0.0
        self.n += 1
        if self.last is None:
            self.last = self.mean = self.smooth = x
            self.last_ms = at_ms
            self._profiles(at_ms, x)
            return 0.0
        eps = 1e-6 * (abs(x) + 1.0)
        entropy = self._entropy(x, eps)  # also moves the long-run mean and sd novelty uses
        off_level = abs(x - self.smooth)
        self.smooth += _SMOOTH_RATE * (x - self.smooth)
        raw = (
            abs(x - self.last),
            *self._profiles(at_ms, x),
            off_level,
            None if self.last_ms is None else float(at_ms - self.last_ms),
            entropy,
            *self._novel(x, eps),
        )
        self.last, self.last_ms = x, at_ms
        a = max(1.0 / _SCALE_SPAN, 1.0 / self.n)
        top = 0.0
        asked = 0
        for i, r in enumerate(raw):
            if r is None:
                continue
            self.seen[i] += 1
            if i < _RESIDUALS:  # a ratio to the residual's typical size (not entropy,
                # already in its own units, nor novelty, 0 or 1)
                z = min(r / (self.scales[i] + eps), 50.0)
                self.scales[i] += a * (r - self.scales[i])
            else:
                z = r
            if self.seen[i] <= _EXPERT_WARM:
                continue
            if i == 0:
                top = max(top, self._calm(z))
                asked += self.seen[0] > _EXPERT_WARM + _CALM_SPAN
            asked += 2
            window = self.averaged[i]
            window.append(z)
            top = max(
                top,
                self.tails[i].surprise(z),
                self.tails[_EXPERTS + i].surprise(sum(window) / len(window)),
            )
        if asked:
            top = max(top - math.log10(asked), 0.0)
        self.score = min(top / 12.0, 1.0)
        return self._report()

    def _calm(self, step_ratio: float) -> float:
        """``-log10 p`` of how still the series has become (0 until calm has warmed up)."""
        self.still += (-math.log(step_ratio + _CALM_FLOOR) - self.still) / _CALM_SPAN
        if self.seen[0] <= _EXPERT_WARM + _CALM_SPAN:
            return 0.0
        # a stuck sensor's stillness rises for CALM_SPAN readings: one event, whose excesses
        # must not teach the tail that it is usual (SPOT's rule: an alarm is not learnt)
        return self.tails[-1].surprise(max(self.still, 0.0), alarm=_CALM_ALARM)

    def _profiles(self, at_ms: int, x: float) -> tuple[float | None, float | None]:
        """Residuals from the daily and the weekly profile (None for a slot not seen yet)."""
        out: list[float | None] = []
        for profile, slot in (
            (self.day, at_ms % _DAY_MS * _DAY_SLOTS // _DAY_MS),
            (self.week, at_ms // _HOUR_MS % _WEEK_SLOTS),
        ):
            p = profile[slot]
            if p is None:
                profile[slot] = x
                out.append(None)
            else:
                profile[slot] = p + _PROFILE_RATE * (x - p)
                out.append(abs(x - p))
        return out[0], out[1]

    def _entropy(self, x: float, eps: float) -> float:
        """Relative entropy of the recent value distribution against the long-run one."""
        sd = math.sqrt(self.var) + eps
        b = max(0, min(_BINS - 1, int((x - self.mean) / sd + _BINS / 2)))
        d = x - self.mean
        a = max(1.0 / _SCALE_SPAN, 1.0 / self.n)
        self.mean += a * d
        self.var = (1 - a) * (self.var + a * d * d)
        a = max(1.0 / _LONG_SPAN, 1.0 / (self.n - 1))
        self.recent.append(b)
        self.counts[b] += 1
        if len(self.recent) > _RECENT:
            self.counts[self.recent.popleft()] -= 1
        m = len(self.recent)
        long = self.long
        kl = 0.0
        for c, q in zip(self.counts, long, strict=True):
            if c:
                p = c / m
                kl += p * math.log(p / (q + 1e-4))
        for i in range(_BINS):
            long[i] *= 1 - a
        long[b] += a
        return kl

    def _novel(self, x: float, eps: float) -> list[float]:
        """Per novelty expert, 1 when the context ending at ``x`` (or, for the rare-level
        expert, its level on the long-run scale) was not seen lately."""
        u = (x - self.mean) / (math.sqrt(self.var) + eps) / 8 + 0.5  # +-4 sd as 0..1
        out = [c.novel(max(0, min(c.levels - 1, int(u * c.levels)))) for c in self.contexts]
        d = x - self.long_mean
        a = max(1.0 / _LONG_RUN_SPAN, 1.0 / (self.n - 1))
        self.long_mean += a * d
        self.long_var = (1 - a) * (self.long_var + a * d * d)
        u = (x - self.long_mean) / (math.sqrt(self.long_var) + eps) / 8 + 0.5
        out.append(self.levels.novel(max(0, min(_RARE_LEVELS - 1, int(u * _RARE_LEVELS)))))
        return out

    def _report(self) -> float:
        """An episode's peak once it has settled, if it beats the bar; else 0."""
        out = 0.0
        if self.score > self.peak:
            self.peak, self.since_peak = self.score, 0
        elif self.peak:
            self.since_peak += 1
            if self.since_peak >= _SETTLE:
                if self.peak > self.bar:
                    out = self.bar = self.peak
                    self.since_report = 0
                self.peak = 0.0
        self.since_report += 1
        if self.since_report > _HOLD:
            self.bar *= _FADE
        return out

    def to_json(self) -> dict[str, Any]:
        """The whole state as JSON values (a few KB)."""
        return {
            "n": self.n,
            "last": self.last,
            "last_ms": self.last_ms,
            "mean": self.mean,
            "smooth": self.smooth,
            "var": self.var,
            "scales": self.scales,
            "seen": self.seen,
            "day": pack(self.day),
            "week": pack(self.week),
            "recent": list(self.recent),
            "long": self.long,
            "averaged": [list(w) for w in self.averaged],
            "tails": [t.to_json() for t in self.tails],
            "contexts": [c.to_json() for c in self.contexts],
            "levels": self.levels.to_json(),
            "long_mean": self.long_mean,
            "long_var": self.long_var,
            "still": self.still,
            "score": self.score,
            "bar": self.bar,
            "since_report": self.since_report,
            "peak": self.peak,
            "since_peak": self.since_peak,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> SeriesScorer:
        """Take back a :meth:`to_json` (raises one of ``UNFIT_STATE`` when it does not fit)."""
        s = cls()
        raw = _upgraded(raw)
        s.n, s.last = int(raw["n"]), raw["last"]
        s.last_ms = None if raw["last_ms"] is None else int(raw["last_ms"])
        s.mean, s.var = float(raw["mean"]), float(raw["var"])
        s.smooth = float(raw["smooth"])
        s.scales = floats(raw["scales"], _EXPERTS)
        s.seen = [int(v) for v in floats(raw["seen"], _EXPERTS)]
        s.day = slots(raw["day"], _DAY_SLOTS)
        s.week = slots(raw["week"], _WEEK_SLOTS)
        recent = [int(b) for b in raw["recent"]][-_RECENT:]
        if any(not 0 <= b < _BINS for b in recent):
            raise ValueError("a recent bin out of range")
        s.recent = deque(recent)
        for b in recent:
            s.counts[b] += 1
        s.long = floats(raw["long"], _BINS)
        windows = raw["averaged"]
        if len(windows) != _EXPERTS:
            raise ValueError("averaged windows of another shape")
        s.averaged = [deque((float(z) for z in w), maxlen=_AVERAGED) for w in windows]
        if len(raw["tails"]) != 2 * _EXPERTS + 1:
            raise ValueError("tails of another shape")
        s.tails = [Tail.from_json(t) for t in raw["tails"]]
        s.still = float(raw["still"])
        if len(raw["contexts"]) != len(_CONTEXTS):
            raise ValueError("contexts of another shape")
        s.contexts = [
            Contexts.from_json(levels, length, c)
            for (levels, length), c in zip(_CONTEXTS, raw["contexts"], strict=True)
        ]
        s.levels = Contexts.from_json(_RARE_LEVELS, 1, raw["levels"])
        s.long_mean, s.long_var = float(raw["long_mean"]), float(raw["long_var"])
        s.score, s.bar = float(raw["score"]), float(raw["bar"])
        s.since_report = int(raw["since_report"])
        s.peak, s.since_peak = float(raw["peak"]), int(raw["since_peak"])
        return s


_NEW_EXPERTS = (4, _EXPERTS - 1)
"""Where the experts added after the first release sit: silence, rare level."""


def _upgraded(raw: dict[str, Any]) -> dict[str, Any]:
    """A state saved before the silence and rare-level experts, given both, not learnt yet
    (the other experts keep what they learnt, so an upgrade does not start a series over;
    the long-run scale starts from the recent one)."""
    if "last_ms" in raw:
        return raw
    old = _EXPERTS - len(_NEW_EXPERTS)
    raw = dict(raw)
    for key, blank in (("scales", 0.0), ("seen", 0), ("averaged", [])):
        values = list(raw[key])
        if len(values) != old:
            raise ValueError(f"{key}: expected {old} values, got {len(values)}")
        for at in _NEW_EXPERTS:
            values.insert(at, blank)
        raw[key] = values
    tails = list(raw["tails"])
    if len(tails) != 2 * old + 1:
        raise ValueError("tails of another shape")
    as_is, averaged = tails[:old], tails[old:-1]
    for at in _NEW_EXPERTS:
        as_is.insert(at, Tail().to_json())
        averaged.insert(at, Tail().to_json())
    raw["tails"] = [*as_is, *averaged, tails[-1]]
    return raw | {
        "last_ms": None,
        "peak": 0.0,
        "since_peak": 0,
        "levels": Contexts(_RARE_LEVELS, 1).to_json(),
        "long_mean": raw["mean"],
        "long_var": raw["var"],
    }
