"""Building readings and events for detector tests, and reading their transitions back."""

from __future__ import annotations

from collections.abc import Iterable

from villagewatch.contract import Clock, Event, Reading, point_time_ns
from villagewatch.contract.records import EventValue
from villagewatch.transitions import Transition

T0 = 1_795_000_000_000  # ms, 2026-11-18


def at(minutes: float) -> int:
    """Device time ``minutes`` after T0, in ms."""
    return int(T0 + minutes * 60_000)


def reading(
    minutes: float,
    *,
    device: str = "wl-1",
    seq: int | None = None,
    historical: bool = False,
    **values: float,
) -> Reading:
    ms = at(minutes)
    n = int(minutes * 60) if seq is None else seq
    return Reading(
        "v", "g", device, "water_level", point_time_ns(ms, "b", n), n, "b", dict(values),
        Clock.SYNCED, historical, False, ms,
    )  # fmt: skip


def event(
    minutes: float,
    type_: str,
    *,
    device: str = "lock-1",
    seq: int | None = None,
    **attrs: EventValue,
) -> Event:
    ms = at(minutes)
    n = int(minutes * 60) if seq is None else seq
    return Event(
        "v", "g", device, "smart_lock", point_time_ns(ms, "b", n), n, "b", type_, dict(attrs),
        Clock.SYNCED, False, False, ms,
    )  # fmt: skip


def summary(transitions: Iterable[Transition]) -> list[tuple[str, str, str]]:
    """(kind, action, severity) of each transition: what a table row expects."""
    return [(t.key.kind, t.action, t.severity.value) for t in transitions]
