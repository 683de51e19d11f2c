"""Two timelines of the same history, alert by alert: what a candidate config adds, removes,
fires earlier or later, or raises at another severity.

An *episode* is one alert from its fire to its clear (or to the end of the range). Episodes
of the same alert key are matched in time order when they overlap; an episode of the
candidate that matches none is *added*, one of today's that matches none is *removed*.
A matched pair fires *earlier*, *later* or at the same time (the shift is the candidate's
fire time less today's), and its severity *changed* when the highest severity it reached
differs.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from villagewatch.transitions import AlertKey, Severity, Transition
from villagewatch.tune.replay import Timeline

__all__ = [
    "ChangeKind",
    "Comparison",
    "Episode",
    "EpisodeChange",
    "GroupCount",
    "compare",
    "episodes",
]

ChangeKind = Literal["added", "removed", "earlier", "later", "unchanged"]


@dataclass(frozen=True, slots=True)
class Episode:
    """One alert from its fire to its clear."""

    key: AlertKey
    fired_ms: int
    cleared_ms: int | None
    """None: still firing at the end of the range."""
    severity: Severity
    """At the fire."""
    peak: Severity
    """The highest it reached."""

    def overlaps(self, other: Episode, until_ms: int) -> bool:
        """Whether the two were firing at a common time."""
        end = self.cleared_ms if self.cleared_ms is not None else until_ms
        other_end = other.cleared_ms if other.cleared_ms is not None else until_ms
        return self.fired_ms <= other_end and other.fired_ms <= end


@dataclass(frozen=True, slots=True)
class EpisodeChange:
    """How one alert episode differs under the candidate."""

    kind: ChangeKind
    key: AlertKey
    grid: str
    today: Episode | None
    candidate: Episode | None
    shift_ms: int | None = None
    """Candidate's fire time less today's (negative: earlier); None unless both fired."""

    @property
    def severity_changed(self) -> bool:
        """Both fired and their highest severities differ."""
        return (
            self.today is not None
            and self.candidate is not None
            and self.today.peak is not self.candidate.peak
        )


@dataclass(slots=True)
class GroupCount:
    """Changes of one alert kind at one place (village, grid)."""

    kind: str
    village: str
    grid: str
    added: int = 0
    removed: int = 0
    earlier: int = 0
    later: int = 0
    unchanged: int = 0
    severity_changed: int = 0
    shifts_ms: list[int] = field(default_factory=list)
    """Fire-time shifts of the matched episodes that moved."""

    @property
    def median_shift_ms(self) -> int | None:
        """Median shift of the moved episodes (negative: earlier); None when none moved."""
        return int(statistics.median(self.shifts_ms)) if self.shifts_ms else None


@dataclass(frozen=True, slots=True)
class Comparison:
    """Every episode's change, and the counts per alert kind and place."""

    changes: tuple[EpisodeChange, ...]
    counts: tuple[GroupCount, ...]

    def total(self, kind: ChangeKind) -> int:
        """How many changes are of ``kind``."""
        return sum(1 for c in self.changes if c.kind == kind)

    @property
    def severity_changes(self) -> int:
        """How many matched episodes reached another severity."""
        return sum(1 for c in self.changes if c.severity_changed)


def episodes(
    transitions: tuple[Transition, ...] | list[Transition],
) -> dict[AlertKey, list[Episode]]:
    """Each alert key's episodes in time order (an update or clear with no fire before it —
    the range starting mid-alert — opens none)."""
    out: dict[AlertKey, list[Episode]] = {}
    open_: dict[AlertKey, Episode] = {}
    for t in transitions:
        current = open_.get(t.key)
        if t.action == "fire":
            if current is not None:  # a fire while firing: the earlier one ends here
                out.setdefault(t.key, []).append(_closed(current, t.at_ms))
            open_[t.key] = Episode(t.key, t.at_ms, None, t.severity, t.severity)
        elif current is not None and t.action == "update":
            peak = t.severity if t.severity.rank > current.peak.rank else current.peak
            open_[t.key] = Episode(t.key, current.fired_ms, None, current.severity, peak)
        elif current is not None and t.action == "clear":
            out.setdefault(t.key, []).append(_closed(current, t.at_ms))
            del open_[t.key]
    for key, episode in open_.items():
        out.setdefault(key, []).append(episode)
    for found in out.values():
        found.sort(key=lambda e: e.fired_ms)
    return out


def _closed(e: Episode, at_ms: int) -> Episode:
    return Episode(e.key, e.fired_ms, at_ms, e.severity, e.peak)


def compare(
    today: Timeline, candidate: Timeline, *, grids: Mapping[tuple[str, str], str]
) -> Comparison:
    """What changes from ``today`` to ``candidate`` (two replays of the same range).
    ``grids``: (village, device) → grid, to place each alert; other subjects (zones, the
    village itself) are placed at the village, grid ``""``."""
    until = max(today.until_ms, candidate.until_ms)
    ours, theirs = episodes(today.transitions), episodes(candidate.transitions)
    changes: list[EpisodeChange] = []
    for key in sorted(ours.keys() | theirs.keys(), key=str):
        grid = grids.get((key.village, key.subject), "")
        a, b = ours.get(key, []), theirs.get(key, [])
        i = j = 0
        while i < len(a) or j < len(b):
            if j == len(b) or (
                i < len(a) and not a[i].overlaps(b[j], until) and a[i].fired_ms < b[j].fired_ms
            ):
                changes.append(EpisodeChange("removed", key, grid, a[i], None))
                i += 1
            elif i == len(a) or not a[i].overlaps(b[j], until):
                changes.append(EpisodeChange("added", key, grid, None, b[j]))
                j += 1
            else:
                shift = b[j].fired_ms - a[i].fired_ms
                kind: ChangeKind = "earlier" if shift < 0 else "later" if shift > 0 else "unchanged"
                changes.append(EpisodeChange(kind, key, grid, a[i], b[j], shift))
                i += 1
                j += 1
    changes.sort(key=lambda c: (_first_fire(c), str(c.key)))
    return Comparison(tuple(changes), _counts(changes))


def _first_fire(c: EpisodeChange) -> int:
    return min(e.fired_ms for e in (c.today, c.candidate) if e is not None)


def _counts(changes: list[EpisodeChange]) -> tuple[GroupCount, ...]:
    groups: dict[tuple[str, str, str], GroupCount] = {}
    for c in changes:
        where = (c.key.kind, c.key.village, c.grid)
        group = groups.get(where)
        if group is None:
            group = groups[where] = GroupCount(*where)
        setattr(group, c.kind, getattr(group, c.kind) + 1)
        group.severity_changed += c.severity_changed
        if c.shift_ms:
            group.shifts_ms.append(c.shift_ms)
    return tuple(groups[k] for k in sorted(groups))
