"""The pure arithmetic of bench/city.py: the load plan, latency from two count timelines,
percentiles, lost and duplicated readings (no servers, no clocks: unit-tested)."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass

BATCH = 50
"""Readings in one edge batch message."""


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """``rate`` readings/s offered: ``singles`` single-reading messages/s from as many gauges
    (one a second each), the rest in edge batches of BATCH readings, one a second from each
    batch device."""

    rate: int
    singles: int

    def __post_init__(self) -> None:
        if self.singles > self.rate or (self.rate - self.singles) % BATCH:
            raise ValueError(
                f"--rate {self.rate} minus --singles {self.singles} must be a non-negative "
                f"multiple of {BATCH} (the edge batches)"
            )

    @property
    def batches(self) -> int:
        """Batch messages a second (= batch devices)."""
        return (self.rate - self.singles) // BATCH


def latencies(
    published: list[tuple[float, int]], stored: list[tuple[float, int]]
) -> list[tuple[float, int]]:
    """Publish→stored latencies from two timelines of cumulative reading counts,
    ``(seconds, count)`` ascending: the readings stored between two samples of ``stored``
    count as published when ``published`` reached their count, interpolated linearly between
    its samples (first in, first out). Returns ``(latency_s, readings)`` weights; samples
    ahead of every publish are skipped."""
    times = [t for t, _ in published]
    counts = [n for _, n in published]
    out: list[tuple[float, int]] = []
    before = 0
    for t, n in stored:
        if n <= before:
            continue
        k = bisect.bisect_left(counts, n)
        if k < len(counts):
            at = times[k]
            if k > 0 and counts[k] > counts[k - 1]:
                share = (n - counts[k - 1]) / (counts[k] - counts[k - 1])
                at = times[k - 1] + share * (times[k] - times[k - 1])
            if at <= t:
                out.append((t - at, n - before))
        before = n
    return out


def percentile(weighted: Iterable[tuple[float, int]], q: float) -> float:
    """The ``q`` quantile (0…1) of values given with weights; nan when there are none."""
    ordered = sorted(weighted)
    total = sum(w for _, w in ordered)
    if total == 0:
        return float("nan")
    goal, seen = q * total, 0
    for value, w in ordered:
        seen += w
        if seen >= goal:
            return value
    return ordered[-1][0]


def lost_and_duplicated(
    expected: dict[str, int], stored: Iterable[tuple[str, list[int]]]
) -> tuple[int, int, list[tuple[str, int]]]:
    """(lost, duplicated, a few lost (device, seq)) readings: ``expected`` seqs 0…n-1 per
    device, ``stored`` the seq values found per device (a series may come in several parts).
    Duplicated: copies beyond the first of a (device, seq); lost: expected (device, seq) never
    found. A seq outside the expected range counts as duplicated (something stored that was
    not sent once)."""
    seen: dict[str, set[int]] = {}
    copies = 0
    for device, seqs in stored:
        have = seen.setdefault(device, set())
        want = expected.get(device, 0)
        for seq in seqs:
            if seq in have or not 0 <= seq < want:
                copies += 1
            else:
                have.add(seq)
    lost = sum(n - len(seen.get(device, ())) for device, n in expected.items())
    examples: list[tuple[str, int]] = []
    for device, n in expected.items():
        have = seen.get(device, set())
        if len(have) < n:
            examples += [(device, q) for q in range(n) if q not in have][: 5 - len(examples)]
        if len(examples) >= 5:
            break
    return lost, copies, examples


def histogram_quantile(texts: Iterable[str], name: str, q: float) -> float:
    """The ``q`` quantile of a Prometheus histogram summed over several /metrics texts (the
    bound of the first bucket reaching it: no interpolation); nan when it has no samples."""
    buckets: dict[float, float] = {}
    for text in texts:
        for line in text.splitlines():
            if line.startswith(name + "_bucket{"):
                bound = line.split('le="', 1)[1].split('"', 1)[0]
                le = float("inf") if bound == "+Inf" else float(bound)
                buckets[le] = buckets.get(le, 0.0) + float(line.rsplit(" ", 1)[1])
    total = buckets.get(float("inf"), 0.0)
    if not total:
        return float("nan")
    return next(le for le in sorted(buckets) if buckets[le] >= q * total)
