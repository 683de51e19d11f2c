"""Tail probability of a surprise by peaks over threshold: the calibration of the anomaly
family (:mod:`~villagewatch.detectors.anomaly_score`).

After Siffer et al., "Anomaly detection in streams with extreme value theory" (KDD 2017),
written for this project: the excesses of a non-negative surprise over its running mean +
2 sd are fitted, by moments, with a generalised Pareto distribution; the probability of a
new value is the rate of exceedance times the fitted survival of its excess.
"""

from __future__ import annotations

import math

__all__ = ["Tail"]

_TAIL_SPAN = 3000
"""Readings the running mean and sd of the surprise mostly remember."""
_TAIL_WARM = 100
"""Readings before a calibrator gives any probability below 1."""
_EXCESS_SPAN = 300
"""Excesses the fitted tail mostly remembers."""
_FLOOR_P = 1e-12


class Tail:
    """Tail probability of a non-negative surprise: peaks over mean + 2 sd, GPD by moments."""

    __slots__ = ("em", "ev", "mu", "n", "ne", "pi", "var")

    def __init__(self) -> None:
        self.n = 0
        self.mu = self.var = self.em = self.ev = 0.0
        self.pi = 0.05
        self.ne = 0

    def surprise(self, z: float, alarm: float = math.inf) -> float:
        """``-log10`` of how rare ``z`` is, then learn it (its excess only while it is no rarer
        than 1 in ``10 ** alarm``: an alarm is left out of the fitted tail, as SPOT does)."""
        self.n += 1
        a = max(1.0 / _TAIL_SPAN, 1.0 / self.n)
        t = self.mu + 2.0 * math.sqrt(self.var)
        out = 0.0
        if z > t:
            if self.n > _TAIL_WARM and self.ne >= 5:
                out = -math.log10(max(self.pi * self._sf(z - t), _FLOOR_P))
            if out < alarm:
                self.ne += 1
                b = max(1.0 / self.ne, 1.0 / _EXCESS_SPAN)
                d = z - t - self.em
                self.em += b * d
                self.ev = (1 - b) * (self.ev + b * d * d)
            self.pi += a * (1.0 - self.pi)
        else:
            self.pi -= a * self.pi
        d = z - self.mu
        self.mu += a * d
        self.var = (1 - a) * (self.var + a * d * d)
        return out

    def _sf(self, excess: float) -> float:
        """Survival of the fitted generalised Pareto at ``excess`` (shape kept in 0..0.5)."""
        m, v = self.em, max(self.ev, 1e-12)
        r = m * m / v
        # no lighter than exponential: a bounded fitted tail would call anything past its end
        # impossible (p = 0), which is overconfidence, not evidence
        shape = max(0.0, min(0.5 * (1 - r), 0.5))
        scale = max(0.5 * m * (1 + r), 1e-9)
        x = excess / scale
        if abs(shape) < 1e-6:
            return math.exp(-x)
        base = 1 + shape * x
        return 0.0 if base <= 0 else float(base ** (-1 / shape))

    def to_json(self) -> list[float]:
        """The state as seven numbers."""
        return [self.n, self.mu, self.var, self.pi, self.em, self.ev, self.ne]

    @classmethod
    def from_json(cls, raw: list[float]) -> Tail:
        """Take back a :meth:`to_json` (``ValueError`` when it does not fit)."""
        t = cls()
        n, t.mu, t.var, t.pi, t.em, t.ev, ne = (float(x) for x in raw)
        t.n, t.ne = int(n), int(ne)
        return t
