"""What a driver hands the agent, and the one interface every driver has.

A driver turns one local source (a Modbus register, a serial line, a Zigbee2MQTT
bridge, a tipping bucket, a simulation) into :class:`Measurement` values in the
contract's terms — telemetry metrics such as ``level_cm`` or ``mm``, or events
such as ``{"type": "forced_open"}``. The agent stamps them (time, clock
quality, boot, sequence), makes them durable in the outbox, and sends them. A driver that
knows when a measurement was made (a camera frame's capture time) says so in ``at``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = ["Driver", "Emit", "Measurement"]


@dataclass(frozen=True, slots=True)
class Measurement:
    """One reading or one event of one device, not yet stamped."""

    device: str
    """The device id of the contract (``[a-z0-9][a-z0-9_-]{0,63}``)."""
    channel: Literal["telemetry", "event", "evidence"]
    data: dict[str, Any] = field(default_factory=dict)
    """Telemetry: the metrics (``{"level_cm": 123.4, "battery": 87}``). Event: ``type`` and
    the event's other fields (``{"type": "unlock", "credential": "c-12", "method": "code"}``);
    never ``seq``, ``ts`` or ``clock`` — the agent adds those. Evidence: ``{"id": …}``, the
    evidence id an event refers to."""
    blob: bytes = b""
    """Evidence only: the JPEG, sent as it is on ``…/evidence/<id>``."""
    at: float | None = None
    """When it was measured (epoch seconds), when the driver knows better than "now": a
    camera frame's capture time. The agent believes it when its own clock is trusted and it
    is not from before 2020 nor ahead of the agent's clock (see ``EdgeClock.stamp_at``)."""


Emit = Callable[[Measurement], None]
"""Hands a measurement to the agent; returns at once (the agent batches and syncs)."""


class Driver(Protocol):
    """A source of measurements for one or more devices."""

    devices: list[str]
    """The device ids this driver speaks for (in the agent's birth message)."""

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        """Emit measurements until ``stop``; survive the source going away (retry, log)."""
        ...
