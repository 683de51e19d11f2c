"""The detectors of one or more villages, fed in order, with state that can be saved and restored.

Per device the engine keeps the device's detectors (see
:func:`villagewatch.detectors.device_detectors`) and which (boot, seq) it has
already processed, so a message the broker delivers again after a restart is not
counted twice; per village it keeps the offline watch. Everything it knows can
be taken out by owner (``village/device`` or ``village``) with
:meth:`DetectEngine.dirty_states` and put back with :meth:`DetectEngine.restore`.

The engine does no I/O. Its only notion of "now" is the receive time the
caller passes in — silence has no device time to go by.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from villagewatch.config.village import Village
from villagewatch.contract import Decoded, Event, Reading
from villagewatch.contract.payloads import StatusMessage
from villagewatch.detectors import (
    DeviceDetectors,
    OfflineWatch,
    Transition,
    WatchedDevice,
    device_detectors,
)
from villagewatch.detectors.config import OfflineConfig
from villagewatch.detectors.device import DeviceInfoForDetect, offline_config
from villagewatch.detectors.events import RegisteredCredential, SmartLock

__all__ = ["DetectEngine", "EngineCounts"]

_RECENT = 128
"""Sequence numbers per device remembered beyond the highest: readings and events of one
device travel on different topics and may swap places by a little."""


@dataclass(slots=True)
class _Seen:
    boot: str | None = None
    high: int = -1
    recent: set[int] | None = None

    def first_time(self, boot: str, seq: int) -> bool:
        if boot != self.boot:
            self.boot, self.high, self.recent = boot, -1, set()
        recent = self.recent if self.recent is not None else set()
        self.recent = recent
        if seq in recent or seq <= self.high - _RECENT:
            return False
        recent.add(seq)
        if seq > self.high:
            self.high = seq
            if len(recent) > 2 * _RECENT:
                self.recent = {s for s in recent if s > self.high - _RECENT}
        return True

    def to_json(self) -> dict[str, Any]:
        return {"boot": self.boot, "high": self.high, "recent": sorted(self.recent or ())}


@dataclass(slots=True)
class EngineCounts:
    """What the engine skipped."""

    duplicates: int = 0
    unknown: int = 0


class _Device:
    __slots__ = ("detectors", "owner", "seen")

    def __init__(self, owner: str, detectors: DeviceDetectors) -> None:
        self.owner = owner
        self.detectors = detectors
        self.seen = _Seen()


class DetectEngine:
    """Detectors for the devices of ``villages``."""

    def __init__(self, villages: Sequence[Village], *, now_ms: int) -> None:
        self._devices: dict[tuple[str, str], _Device] = {}
        self._watches: dict[str, OfflineWatch] = {}
        self._dirty: set[str] = set()
        self.counts = EngineCounts()
        for village in villages:
            credentials = _registry(village)
            watched: list[WatchedDevice] = []
            for spec in village.devices:
                kind_cfg = village.detect.kinds.get(spec.kind)
                device_cfg = village.detect.devices.get(spec.id)
                info = DeviceInfoForDetect(
                    village.id,
                    spec.id,
                    spec.kind,
                    spec.name or spec.id,
                    spec.interval_s,
                    credentials.get(spec.id),
                )
                self._devices[(village.id, spec.id)] = _Device(
                    f"{village.id}/{spec.id}", device_detectors(info, kind_cfg, device_cfg)
                )
                offline = offline_config(kind_cfg, device_cfg)
                if offline is not None:
                    watched.append(WatchedDevice(spec.id, info.label, spec.interval_s, offline))
            village_offline = _village_offline(village)
            self._watches[village.id] = watch = OfflineWatch(
                village.id, watched, config=village_offline
            )
            watch.start(now_ms)

    def use_registry(
        self, village: str, credentials: Mapping[str, Sequence[RegisteredCredential]]
    ) -> int:
        """The rental registry's lock → credentials of a village (a lock missing from it is in
        no house); how many locks' detectors were told."""
        told = 0
        for (v, device), found in self._devices.items():
            if v != village:
                continue
            for d in found.detectors.detectors:
                if isinstance(d, SmartLock):
                    d.use_credentials(credentials.get(device))
                    told += 1
        return told

    def handle(self, decoded: Decoded, received_ms: int) -> list[Transition]:
        """One message's readings and events, each device's in device-time order."""
        items: Sequence[Reading | Event] = decoded.readings
        if decoded.events:
            items = [*decoded.readings, *decoded.events]
        if len(items) > 1:
            items = sorted(items, key=lambda i: (i.device_ts_ms, i.seq))
        out: list[Transition] = []
        # the contract makes every item of a message come from the topic's device
        owner = ("", "")
        device: _Device | None = None
        watch: OfflineWatch | None = None
        for item in items:
            if (item.village, item.device) != owner:
                owner = (item.village, item.device)
                device = self._devices.get(owner)
                watch = self._watches.get(item.village)
            if device is None or watch is None:
                self.counts.unknown += 1
                continue
            if not device.seen.first_time(item.boot, item.seq):
                self.counts.duplicates += 1
                continue
            self._dirty.add(device.owner)
            if not watch.quiet:
                if watch.is_offline(item.device):
                    self._dirty.add(item.village)  # when it was last heard of is not worth saving
                out += watch.seen(item.device, received_ms)
            else:
                watch.seen(item.device, received_ms)
            if isinstance(item, Reading):
                out += device.detectors.reading(item)
            else:
                out += device.detectors.event(item)
        return out

    def status(self, village: str, status: StatusMessage, received_ms: int) -> list[Transition]:
        """An edge agent's birth or death (its last will)."""
        watch = self._watches.get(village)
        if watch is None:
            return []
        self._dirty.add(village)
        return watch.edge_status(status.device, status.state, list(status.devices), received_ms)

    def tick(self, now_ms: int) -> list[Transition]:
        """Time passes: silent devices, windows that empty.

        An offline device's own alerts are held: silence is not evidence that a window
        emptied, so they neither fire nor clear on time alone until its data is back.
        """
        out: list[Transition] = []
        for village, watch in self._watches.items():
            found = watch.tick(now_ms)
            if found:
                self._dirty.add(village)
            out += found
        for (village, device_id), device in self._devices.items():
            if self._watches[village].is_offline(device_id):
                continue
            found = device.detectors.tick(now_ms)
            if found:
                self._dirty.add(f"{village}/{device_id}")
            out += found
        return out

    def dirty_states(self) -> dict[str, dict[str, Any]]:
        """The state of every owner changed since the last call, by owner."""
        out: dict[str, dict[str, Any]] = {}
        for owner in self._dirty:
            if "/" in owner:
                village, device_id = owner.split("/", 1)
                device = self._devices[(village, device_id)]
                out[owner] = {
                    "seen": device.seen.to_json(),
                    "detectors": device.detectors.snapshot(),
                }
            else:
                out[owner] = self._watches[owner].snapshot()
        self._dirty.clear()
        return out

    def restore(self, states: Iterable[tuple[str, dict[str, Any]]], *, now_ms: int) -> int:
        """Put back saved states; owners no longer configured are ignored. Returns how many fit.

        Devices not offline when the state was saved get a fresh grace period from
        ``now_ms``: whether they were silent while the engine was down is unknown.
        """
        restored = 0
        for owner, state in states:
            if "/" in owner:
                village, device_id = owner.split("/", 1)
                device = self._devices.get((village, device_id))
                if device is None:
                    continue
                seen = state["seen"]
                device.seen = _Seen(seen["boot"], seen["high"], set(seen["recent"]))
                device.detectors.restore(state["detectors"])
            elif owner in self._watches:
                self._watches[owner].restore(state)
            else:
                continue
            restored += 1
        for watch in self._watches.values():
            watch.grace(now_ms)
        return restored


def _registry(village: Village) -> dict[str, list[RegisteredCredential]]:
    """Lock → credentials of its house's current tenants, from the rental registry."""
    out: dict[str, list[RegisteredCredential]] = {}
    for house in village.houses:
        out[house.lock] = [
            (c.id, c.valid_from, c.valid_to) for tenant in house.tenants for c in tenant.credentials
        ]
    return out


def _village_offline(village: Village) -> OfflineConfig:
    """Link-down grouping settings for the village: the first kind that sets them, else defaults."""
    for families in village.detect.kinds.values():
        if families.offline:
            return families.offline
    return OfflineConfig()
