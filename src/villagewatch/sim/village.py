"""A simulated village: what each device would send, as a pure function of simulated time.

Water levels drift with a daily cycle plus noise, and one gauge can see a
scripted flood (rise, crest, fall) with rain on the gauges before and during
the rise. Smart locks see tenants come and go with the odd wrong code; call
buttons report their battery and, rarely, an SOS. Seeded: the same seed and
the same calls give the same messages.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass

from villagewatch.config import DeviceSpec, FloodScenario, SimulateSettings, Village
from villagewatch.contract import Channel, DeviceKind, encode_items, topic_for

__all__ = ["SimMessage", "VillageSimulator", "flood_offset_cm"]

_DAY_S = 86_400.0
_LOT_SPACES = 24
"""Spaces of each simulated public lot."""


@dataclass(frozen=True, slots=True)
class SimMessage:
    """One MQTT message to publish."""

    topic: str
    payload: bytes


def _smoothstep(x: float) -> float:
    x = min(1.0, max(0.0, x))
    return x * x * (3 - 2 * x)


def flood_offset_cm(flood: FloodScenario, t_s: float) -> float:
    """Rise above normal at ``t_s`` simulated seconds after the start, for the scripted flood."""
    t = t_s - flood.start_s
    if t <= 0:
        return 0.0
    if t < flood.rise_s:
        return flood.rise_cm * _smoothstep(t / flood.rise_s)
    t -= flood.rise_s
    if t < flood.hold_s:
        return flood.rise_cm
    t -= flood.hold_s
    return flood.rise_cm * (1 - _smoothstep(t / flood.fall_s))


class VillageSimulator:
    """Generates the messages of a village's devices, round-robin, one per call."""

    def __init__(
        self,
        village: Village,
        settings: SimulateSettings,
        *,
        boot: str,
        devices: int | None = None,
    ) -> None:
        chosen = village.devices if devices is None else village.devices[:devices]
        if devices is not None and devices > len(village.devices):
            raise ValueError(
                f"village {village.id!r} has {len(village.devices)} devices, not {devices}"
            )
        if not chosen:
            raise ValueError(f"village {village.id!r} has no devices to simulate")
        self._village = village
        self._settings = settings
        self._devices = chosen
        self._boot = boot
        self._rng = random.Random(settings.seed)
        self._seq = dict.fromkeys((d.id for d in chosen), 0)
        self._base = {d.id: settings.base_level_cm + self._rng.uniform(-20, 20) for d in chosen}
        self._battery = {d.id: self._rng.uniform(60, 100) for d in chosen}
        self._unlocked: set[str] = set()
        self._next = 0
        self._lots: dict[str, list[str]] = {}
        """The public lots each camera counts (the demo's page has something to show)."""
        for lot in village.public_lots:
            self._lots.setdefault(lot.camera, []).append(lot.id)
        self._taken = {lot.id: _LOT_SPACES // 2 for lot in village.public_lots}

    def next_message(self, now_ms: int, start_ms: int) -> SimMessage:
        """The next device's message at simulated time ``now_ms`` (run started at ``start_ms``)."""
        device = self._devices[self._next]
        self._next = (self._next + 1) % len(self._devices)
        t_s = (now_ms - start_ms) / 1000
        match device.kind:
            case DeviceKind.WATER_LEVEL:
                return self._telemetry(device, now_ms, self._water(device, now_ms, t_s))
            case DeviceKind.RAIN_GAUGE:
                return self._telemetry(device, now_ms, {"mm": self._rain(t_s)})
            case DeviceKind.SMART_LOCK:
                return self._lock(device, now_ms)
            case DeviceKind.CALL_BUTTON:
                if self._rng.random() < 0.0005:
                    return self._event(device, now_ms, {"type": "sos"})
                return self._telemetry(device, now_ms, {"battery": self._drain(device)})
            case DeviceKind.CAMERA:
                lots = self._lots.get(device.id)
                if lots and self._seq[device.id] % 2:  # every other message: a lot's count
                    return self._telemetry(device, now_ms, self._lot(lots))
                return self._telemetry(device, now_ms, {"fps": round(self._rng.uniform(4.5, 5), 2)})

    def _water(self, device: DeviceSpec, now_ms: int, t_s: float) -> dict[str, float]:
        day_phase = 2 * math.pi * ((now_ms / 1000) % _DAY_S) / _DAY_S
        level = self._base[device.id] + 5 * math.sin(day_phase) + self._rng.gauss(0, 0.3)
        flood = self._settings.flood
        if flood is not None and flood.device == device.id:
            level += flood_offset_cm(flood, t_s)
        values = {"level_cm": round(level, 1)}
        if self._seq[device.id] % 10 == 0:
            values["battery"] = self._drain(device)
        return values

    def _lot(self, lots: list[str]) -> dict[str, object]:
        """A lot's count: a car comes or goes now and then."""
        lot = self._rng.choice(lots)
        taken = min(_LOT_SPACES, max(0, self._taken[lot] + self._rng.choice((-1, 0, 0, 1))))
        self._taken[lot] = taken
        return {"lot": lot, "free_spaces": _LOT_SPACES - taken, "occupied_spaces": taken}

    def _rain(self, t_s: float) -> float:
        flood = self._settings.flood
        interval_s = self._device_interval_s()
        if flood is not None and flood.start_s - 3 * 3600 <= t_s <= flood.start_s + flood.rise_s:
            return round(max(0.0, self._rng.gauss(12, 4)) * interval_s / 3600, 2)
        if self._rng.random() < 0.05:
            return round(self._rng.uniform(0, 0.4), 2)
        return 0.0

    def _lock(self, device: DeviceSpec, now_ms: int) -> SimMessage:
        r = self._rng.random()
        if r < 0.15:
            return self._telemetry(device, now_ms, {"battery": self._drain(device)})
        if r < 0.17:
            return self._event(device, now_ms, {"type": "wrong_code", "method": "code"})
        if device.id in self._unlocked:
            self._unlocked.discard(device.id)
            return self._event(device, now_ms, {"type": "lock"})
        self._unlocked.add(device.id)
        tenant = self._rng.randrange(1, 4)
        return self._event(
            device, now_ms, {"type": "unlock", "credential": f"card-{tenant}", "method": "card"}
        )

    def _drain(self, device: DeviceSpec) -> float:
        self._battery[device.id] = max(0.0, self._battery[device.id] - 0.001)
        return round(self._battery[device.id], 1)

    def _device_interval_s(self) -> float:
        return len(self._devices) / self._settings.rate * self._settings.speed

    def _item(self, device: DeviceSpec, now_ms: int) -> dict[str, object]:
        seq = self._seq[device.id]
        self._seq[device.id] = seq + 1
        return {"seq": seq, "ts": now_ms, "clock": "synced"}

    def _telemetry(
        self, device: DeviceSpec, now_ms: int, values: Mapping[str, object]
    ) -> SimMessage:
        return self._message(device, Channel.TELEMETRY, {**self._item(device, now_ms), **values})

    def _event(self, device: DeviceSpec, now_ms: int, fields: dict[str, object]) -> SimMessage:
        return self._message(device, Channel.EVENT, {**self._item(device, now_ms), **fields})

    def _message(self, device: DeviceSpec, channel: Channel, item: dict[str, object]) -> SimMessage:
        payload = encode_items(device=device.id, boot=self._boot, channel=channel, items=[item])
        return SimMessage(topic_for(self._village.id, device.id, channel), payload)
