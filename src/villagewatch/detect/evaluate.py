"""Score a detector's output against labelled events: recall, and false alerts per week.

An *alert* starts where the anomaly score reaches 1 after being below it. An
event (a run of labelled rows) is caught when an alert starts inside it; an
alert that starts outside every event is a false alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Evaluation", "evaluate", "label_runs"]


@dataclass(frozen=True, slots=True)
class Evaluation:
    """How a run compares with the labels."""

    events: int
    caught: int
    alerts: int
    false_alerts: int
    weeks: float

    @property
    def recall(self) -> float:
        """Share of events caught (1 when there are none)."""
        return self.caught / self.events if self.events else 1.0

    @property
    def false_per_week(self) -> float:
        """False alerts per week of data."""
        return self.false_alerts / self.weeks if self.weeks else 0.0

    def __str__(self) -> str:
        return (
            f"{self.caught}/{self.events} events caught (recall {self.recall:.2f}), "
            f"{self.alerts} alerts, {self.false_alerts} false "
            f"({self.false_per_week:.2f} a week over {self.weeks:.1f} weeks)"
        )


def label_runs(labels: Sequence[bool]) -> list[tuple[int, int]]:
    """(first, last) row of each run of labelled rows."""
    runs: list[tuple[int, int]] = []
    start = None
    for i, on in enumerate(labels):
        if on and start is None:
            start = i
        elif not on and start is not None:
            runs.append((start, i - 1))
            start = None
    if start is not None:
        runs.append((start, len(labels) - 1))
    return runs


def evaluate(
    scores: Sequence[float], labels: Sequence[bool], times_ms: Sequence[int]
) -> Evaluation:
    """Compare alert starts (score reaching 1) with the labelled runs."""
    onsets = [i for i, s in enumerate(scores) if s >= 1.0 and (i == 0 or scores[i - 1] < 1.0)]
    runs = label_runs(labels)
    caught = sum(1 for a, b in runs if any(a <= o <= b for o in onsets))
    false = sum(1 for o in onsets if not any(a <= o <= b for a, b in runs))
    weeks = (times_ms[-1] - times_ms[0]) / (7 * 86_400_000) if len(times_ms) > 1 else 0.0
    return Evaluation(len(runs), caught, len(onsets), false, weeks)
