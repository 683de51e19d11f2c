"""The fault campaign's table: every scenario (a test marked ``campaign``) records one row —
what was offered, what was stored, alerts expected and raised, what was lost or duplicated,
and how long the pipeline made no progress — and the run prints them all at the end (and
writes ``test-output/campaign.md``). See docs/reliability.md.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

__all__ = ["ROWS", "Campaign", "Row", "render", "stall_watch"]


@dataclass
class Row:
    """One scenario of the campaign."""

    scenario: str
    offered: int = 0
    """Messages (or actions) the scenario put in."""
    stored: int = 0
    """Of those, what ended where it belongs (stored, delivered, recorded)."""
    alerts_expected: int = 0
    alerts_raised: int = 0
    lost: int = 0
    duplicated: int = 0
    stalled_s: float = 0.0
    """Longest time with work outstanding and no progress."""
    outcome: str = "?"


ROWS: list[Row] = []
"""Rows recorded in this run, in order."""


@dataclass
class Campaign:
    """What a scenario test fills in (the ``campaign`` fixture)."""

    rows: list[Row] = field(default_factory=list)

    def row(self, scenario: str, **figures: float) -> Row:
        """Record the scenario's figures; returns the row (its checks are the test's)."""
        found = Row(scenario, **figures)  # type: ignore[arg-type]
        self.rows.append(found)
        return found


@contextmanager
def stall_watch(progress: Callable[[], float], *, every_s: float = 0.1) -> Iterator[list[float]]:
    """Poll ``progress`` (a count that grows while work is done) in a thread; the list yielded
    holds, once the block ends, the longest time in seconds between two changes of it (from
    the start of the block to the last change)."""
    out = [0.0]
    stop = threading.Event()
    changes = [time.monotonic()]

    def poll() -> None:
        last = _safe(progress)
        while not stop.wait(every_s):
            now = _safe(progress)
            if now != last:
                changes.append(time.monotonic())
                last = now

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield out
    finally:
        stop.set()
        thread.join()
        out[0] = max((b - a for a, b in pairwise(changes)), default=0.0)


def _safe(probe: Callable[[], float]) -> float:
    try:
        return probe()
    except Exception:  # noqa: BLE001 - a probe of a process that is restarting
        return -1.0


COLUMNS = (
    "scenario", "offered", "stored", "alerts expected", "alerts raised", "lost", "duplicated",
    "seconds stalled", "result",
)  # fmt: skip


def render(rows: list[Row]) -> str:
    """The table, as Markdown."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        cells = [
            r.scenario, f"{r.offered:,}", f"{r.stored:,}", str(r.alerts_expected),
            str(r.alerts_raised), str(r.lost), str(r.duplicated), f"{r.stalled_s:.1f}", r.outcome,
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_table(rows: list[Row], path: Path) -> None:
    """Keep the table beside the other test output."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(rows), encoding="utf-8")
