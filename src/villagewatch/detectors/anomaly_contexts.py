"""Which short runs of levels a series has shown lately: the novelty experts of the anomaly
family (:mod:`~villagewatch.detectors.anomaly_score`).

The idea is the contextual anomaly detector's (CAD OSE, Smirnov & Fedorov, NAB 2016),
written for this project: quantise each reading to a level, take the last ``length``
levels as the *context*, remember which contexts were seen, and call an unseen one a
surprise. A spike of a new shape, a pattern the series never followed or a sequence that
breaks its rhythm makes contexts it has not made before; a series repeating itself does
not. Memory is two bit sets of ``levels ** length`` bits (this generation's contexts and
the last one's), so it is bounded and what a series stopped doing is forgotten after one
to two generations.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Contexts"]

GENERATION = 3000
"""Readings per generation of remembered contexts."""


class Contexts:
    """The contexts of ``length`` levels (each 0..``levels``-1) one series made lately."""

    __slots__ = ("context", "length", "levels", "n", "seen", "seen_before")

    def __init__(self, levels: int, length: int) -> None:
        self.levels, self.length = levels, length
        self.context = 0
        """The last ``length`` levels as one number in base ``levels``."""
        self.seen = self.seen_before = 0
        """Bit sets of the contexts seen in this generation and the one before."""
        self.n = 0
        """Readings in this generation."""

    def novel(self, level: int) -> float:
        """1.0 when the context ending at ``level`` was not seen lately, else 0.0; learn it."""
        self.context = (self.context * self.levels + level) % self.levels**self.length
        bit = 1 << self.context
        out = 0.0 if (self.seen | self.seen_before) & bit else 1.0
        self.seen |= bit
        self.n += 1
        if self.n >= GENERATION:
            self.seen_before, self.seen, self.n = self.seen, 0, 0
        return out

    def to_json(self) -> list[Any]:
        """The state as JSON values (the bit sets in hexadecimal)."""
        return [self.context, f"{self.seen:x}", f"{self.seen_before:x}", self.n]

    @classmethod
    def from_json(cls, levels: int, length: int, raw: list[Any]) -> Contexts:
        """Take back a :meth:`to_json` (``ValueError`` when it does not fit)."""
        if len(raw) != 4:
            raise ValueError("contexts of another shape")
        c = cls(levels, length)
        size = levels**length
        c.context, c.n = int(raw[0]), int(raw[3])
        c.seen, c.seen_before = int(str(raw[1]), 16), int(str(raw[2]), 16)
        if not 0 <= c.context < size or not 0 <= c.n < GENERATION:
            raise ValueError("a context out of range")
        if not (0 <= c.seen < 1 << size and 0 <= c.seen_before < 1 << size):
            raise ValueError("a set of contexts out of range")
        return c
