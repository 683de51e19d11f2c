"""Stored readings and events through the detectors of a village config, as detect runs them.

The same :class:`~villagewatch.detect.engine.DetectEngine` detect runs, fed in stored-time
order, with time taken from the data alone: an item is received at its own time, and time
passes (offline devices, windows that empty) in steps of detect's ``tick_s`` from the start
of the range to its end — or of a ``_MAX_TICKS``-th of the range when that is longer, so a
year's replay does not spend itself on millions of steps of silence. Nothing is read or
written but what the caller passes in.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

from villagewatch.config.village import Village
from villagewatch.contract import Decoded, Event, Reading
from villagewatch.detect.engine import DetectEngine
from villagewatch.errors import VillagewatchError
from villagewatch.store.base import History
from villagewatch.transitions import Transition

__all__ = ["ReplayError", "Timeline", "replay", "scoped", "with_candidate"]

_BOOT = "replay"

_MAX_TICKS = 200_000
"""Most steps of time a replay takes: a month at detect's 5 s is 518,400; at this cap a step
is 13 s, still well inside any offline threshold (a few times a device's interval)."""


class ReplayError(VillagewatchError):
    """A replay cannot run as asked (an unknown village or device, a candidate for a village
    the deployment does not have, an empty range)."""


@dataclass(frozen=True, slots=True)
class Timeline:
    """What the detectors said over a range: every transition, in the order they came."""

    transitions: tuple[Transition, ...]
    items: int
    """Readings and events replayed."""
    since_ms: int
    until_ms: int
    failures: tuple[str, ...] = ()
    """Detectors that raised while time passed, as ``owner: error`` (the others went on)."""


def _key(item: Reading | Event) -> tuple[int, str, str, int]:
    return (item.time_ns, item.village, item.device, item.seq)


def replay(
    history: History,
    villages: Sequence[Village],
    *,
    since_ms: int,
    until_ms: int,
    tick_s: float,
) -> Timeline:
    """Run ``history`` through fresh detectors of ``villages`` from ``since_ms`` to
    ``until_ms``; the transitions they emit. Items of devices the villages do not have are
    skipped, as detect skips them."""
    if until_ms <= since_ms:
        raise ReplayError("the range is empty: --to must be after --from")
    engine = DetectEngine(villages, now_ms=since_ms)
    tick_ms = max(int(tick_s * 1000), -(-(until_ms - since_ms) // _MAX_TICKS), 1)
    next_tick = since_ms + tick_ms
    out: list[Transition] = []
    failures: list[str] = []
    # the store kept one copy of each item: numbering them afresh per device means detect's
    # memory of redeliveries never mistakes two boots' items for one another
    numbers: dict[tuple[str, str], int] = {}
    readings: list[Reading | Event] = list(history.readings)
    items = heapq.merge(readings, history.events, key=_key)
    count = 0
    for item in items:
        at = item.at_ms
        if not since_ms <= at < until_ms:
            continue
        while next_tick <= at:
            out += engine.tick(next_tick)
            next_tick += tick_ms
        owner = (item.village, item.device)
        seq = numbers[owner] = numbers.get(owner, -1) + 1
        if isinstance(item, Reading):
            decoded = Decoded([item._replace(boot=_BOOT, seq=seq)], [], 0)
        else:
            decoded = Decoded([], [item._replace(boot=_BOOT, seq=seq)], 0)
        out += engine.handle(decoded, at)
        count += 1
    while next_tick < until_ms:
        out += engine.tick(next_tick)
        next_tick += tick_ms
    failures += [f"{owner}: {exc}" for owner, exc in engine.failures]
    return Timeline(tuple(out), count, since_ms, until_ms, tuple(failures))


def scoped(
    villages: Sequence[Village], *, village: str | None = None, device: str | None = None
) -> list[Village]:
    """The villages (and devices) a replay covers: all, one village, or one device (in one
    village, or in whichever village has it). Raises :class:`ReplayError` for a name the
    config does not have."""
    chosen = [v for v in villages if village in (None, v.id)]
    if not chosen:
        known = ", ".join(v.id for v in villages) or "none"
        raise ReplayError(f"no village {village!r} in the config (villages: {known})")
    if device is None:
        return chosen
    out = [
        v.model_copy(update={"devices": [d for d in v.devices if d.id == device]})
        for v in chosen
        if any(d.id == device for d in v.devices)
    ]
    if not out:
        where = f"village {village!r}" if village else "any village of the config"
        raise ReplayError(f"no device {device!r} in {where}")
    return out


def with_candidate(villages: Sequence[Village], candidate: Village) -> list[Village]:
    """The deployment's villages with ``candidate`` in place of the village of its id."""
    if not any(v.id == candidate.id for v in villages):
        known = ", ".join(v.id for v in villages) or "none"
        raise ReplayError(
            f"the candidate is village {candidate.id!r}, which the config does not have"
            f" (villages: {known})"
        )
    return [candidate if v.id == candidate.id else v for v in villages]
