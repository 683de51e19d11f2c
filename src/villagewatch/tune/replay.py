"""Stored readings and events through the detectors of a village config, as detect runs them.

The same :class:`~villagewatch.detect.engine.DetectEngine` detect runs, fed in stored-time
order, with time taken from the data alone: an item is received at its own time, and time
passes (offline devices, windows that empty) in steps of detect's ``tick_s`` from the start
of the range to its end — or of a ``_MAX_TICKS``-th of the range when that is longer, so a
year's replay does not spend itself on millions of steps of silence. Nothing is read or
written but what the caller passes in.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from villagewatch.config.village import Village
from villagewatch.contract import Decoded, Event, Reading
from villagewatch.detect.engine import DetectEngine
from villagewatch.errors import VillagewatchError
from villagewatch.store.base import History
from villagewatch.transitions import Transition

__all__ = ["ReplayError", "Timeline", "replay", "replay_each", "scoped", "with_candidate"]

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
    (timeline,) = replay_each(
        history, [villages], since_ms=since_ms, until_ms=until_ms, tick_s=tick_s
    )
    return timeline


def replay_each(
    history: History,
    configs: Sequence[Sequence[Village]],
    *,
    since_ms: int,
    until_ms: int,
    tick_s: float,
) -> list[Timeline]:
    """:func:`replay` of ``history`` through each of ``configs``, in one pass over the items:
    each is merged, numbered and wrapped once and handed to every config's engine in turn
    (engines and detectors never change an item), so each timeline is the one a replay of that
    config alone gives."""
    if until_ms <= since_ms:
        raise ReplayError("the range is empty: --to must be after --from")
    engines = [DetectEngine(villages, now_ms=since_ms) for villages in configs]
    tick_ms = max(int(tick_s * 1000), -(-(until_ms - since_ms) // _MAX_TICKS), 1)
    next_tick = since_ms + tick_ms
    outs: list[list[Transition]] = [[] for _ in engines]
    runs = list(zip(engines, outs, strict=True))
    # the store kept one copy of each item: numbering them afresh per device means detect's
    # memory of redeliveries never mistakes two boots' items for one another
    numbers: dict[tuple[str, str], int] = {}
    count = 0
    for item in _merged(history.readings, history.events):
        at = item.time_ns // 1_000_000
        if not since_ms <= at < until_ms:
            continue
        while next_tick <= at:
            for engine, out in runs:
                out.extend(engine.tick(next_tick))
            next_tick += tick_ms
        owner = (item.village, item.device)
        seq = numbers[owner] = numbers.get(owner, -1) + 1
        # the fields before ``seq`` and after ``boot`` are the item's own (see contract.records)
        renumbered = tuple.__new__(type(item), (*item[:5], seq, _BOOT, *item[7:]))
        if type(item) is Reading:
            decoded = Decoded([renumbered], [], 0)  # type: ignore[list-item]
        else:
            decoded = Decoded([], [renumbered], 0)  # type: ignore[list-item]
        for engine, out in runs:
            out.extend(engine.handle(decoded, at))
        count += 1
    while next_tick < until_ms:
        for engine, out in runs:
            out.extend(engine.tick(next_tick))
        next_tick += tick_ms
    return [
        Timeline(
            tuple(out),
            count,
            since_ms,
            until_ms,
            tuple(f"{owner}: {exc}" for owner, exc in engine.failures),
        )
        for engine, out in runs
    ]


def _merged(readings: list[Reading], events: list[Event]) -> Iterator[Reading | Event]:
    """Both lists (each in stored-time order, ties by village, device, seq) as one, in that
    order; a reading before an event of the same key."""
    i, j, n, m = 0, 0, len(readings), len(events)
    while i < n and j < m:
        r, e = readings[i], events[j]
        if r.time_ns < e.time_ns or (r.time_ns == e.time_ns and _key(r) <= _key(e)):
            yield r
            i += 1
        else:
            yield e
            j += 1
    yield from readings[i:]
    yield from events[j:]


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
