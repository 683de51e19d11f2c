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

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from villagewatch.config.village import Village
from villagewatch.contract import Decoded, Event, Reading
from villagewatch.contract.payloads import StatusMessage
from villagewatch.detectors import DeviceDetectors, OfflineWatch, WatchedDevice, device_detectors
from villagewatch.detectors.config import OfflineConfig
from villagewatch.detectors.device import DeviceInfoForDetect, offline_config
from villagewatch.detectors.disk import DiskWatch
from villagewatch.detectors.events import RegisteredCredential, SmartLock
from villagewatch.transitions import Transition

__all__ = ["DetectEngine", "EngineCounts"]

_DISKS = "@disks"
"""The owner name of the data disks' state (village names are identifiers: no ``@``)."""

_RECENT = 128
"""Items per device and channel remembered so a redelivery is dropped: more than a redelivery
after a restart or a reconnect brings back of one device. A memory of what was seen and never
a highest number, so no sequence number, however large, makes the ones after it look old."""


class _Seen:
    """The (boot, seq) of one device's recently processed readings, or of its events.

    Readings and events travel on different topics (and the edge sends alarms before
    backlog), so each channel has its own memory: a lock's old battery readings are not
    duplicates of the events that overtook them. Per boot, the sequence numbers in the order
    they came; past ``_RECENT`` in all, the oldest boot's oldest go first.
    """

    __slots__ = ("boots", "size")

    def __init__(self, boots: dict[str, dict[int, None]] | None = None) -> None:
        self.boots = boots if boots is not None else {}
        self.size = sum(len(seqs) for seqs in self.boots.values())

    def first_time(self, boot: str, seq: int) -> bool:
        seqs = self.boots.get(boot)
        if seqs is None:
            seqs = self.boots[boot] = {}
        elif seq in seqs:
            return False
        seqs[seq] = None
        self.size += 1
        if self.size > _RECENT:
            oldest = next(iter(self.boots))
            first = self.boots[oldest]
            del first[next(iter(first))]
            if not first:
                del self.boots[oldest]
            self.size -= 1
        return True

    def to_json(self) -> dict[str, list[int]]:
        return {boot: list(seqs) for boot, seqs in self.boots.items()}

    @classmethod
    def from_json(cls, raw: dict[str, list[int]]) -> _Seen:
        return cls({str(boot): dict.fromkeys(map(int, seqs)) for boot, seqs in raw.items()})


def _seen_of(saved: dict[str, Any]) -> tuple[_Seen, _Seen]:
    """Readings' and events' memories from a saved state (and from the older one-boot form)."""
    if "readings" in saved:
        return _Seen.from_json(saved["readings"]), _Seen.from_json(saved["events"])
    recent = {str(saved["boot"]): list(saved["recent"])} if saved.get("boot") else {}
    return _Seen.from_json(recent), _Seen.from_json(recent)


@dataclass(slots=True)
class EngineCounts:
    """What the engine skipped."""

    duplicates: int = 0
    unknown: int = 0
    unrestorable: int = 0
    """Saved states that could not be put back (those devices started afresh)."""
    not_owned: int = 0
    """Devices an edge agent's status listed that the village config does not give it."""


class _Device:
    __slots__ = ("detectors", "events", "owner", "readings")

    def __init__(self, owner: str, detectors: DeviceDetectors) -> None:
        self.owner = owner
        self.detectors = detectors
        self.readings = _Seen()
        self.events = _Seen()


class DetectEngine:
    """Detectors for the devices of ``villages``."""

    def __init__(
        self,
        villages: Sequence[Village],
        *,
        now_ms: int,
        disk_low_share: float = 0.10,
        disk_critical_share: float = 0.02,
    ) -> None:
        """``disk_*_share``: free shares below which a data disk raises ``disk_low`` (orange,
        red); the alert is shown at the first village's place."""
        self._devices: dict[tuple[str, str], _Device] = {}
        self._watches: dict[str, OfflineWatch] = {}
        self._built: dict[tuple[str, str], Callable[[], DeviceDetectors]] = {}
        self._watch_factories: dict[str, Callable[[], OfflineWatch]] = {}
        self._agents: dict[tuple[str, str], frozenset[str]] = {
            (v.id, agent): frozenset(d.id for d in v.devices_of(agent))
            for v in villages
            for agent in v.agents()
        }
        self._dirty: set[str] = set()
        self.counts = EngineCounts()
        self.failures: list[tuple[str, Exception]] = []
        """Owners whose detectors raised while time passed, with the error (the caller logs
        and clears them); the others went on."""
        self._disks = DiskWatch(
            village=villages[0].id if villages else "",
            low_share=disk_low_share,
            critical_share=disk_critical_share,
        )
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
                build = partial(device_detectors, info, kind_cfg, device_cfg)
                self._built[(village.id, spec.id)] = build
                self._devices[(village.id, spec.id)] = _Device(f"{village.id}/{spec.id}", build())
                offline = offline_config(kind_cfg, device_cfg)
                if offline is not None:
                    watched.append(WatchedDevice(spec.id, info.label, spec.interval_s, offline))
            make_watch = partial(
                OfflineWatch, village.id, watched, config=_village_offline(village)
            )
            self._watch_factories[village.id] = make_watch
            self._watches[village.id] = watch = make_watch()
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
            items = sorted(items, key=lambda i: (i.at_ms, i.seq))
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
            is_reading = type(item) is Reading
            seen = device.readings if is_reading else device.events
            if not seen.first_time(item.boot, item.seq):
                self.counts.duplicates += 1
                continue
            self._dirty.add(device.owner)
            if not watch.quiet:
                if watch.is_offline(item.device):
                    self._dirty.add(item.village)  # when it was last heard of is not worth saving
                out += watch.seen(item.device, received_ms)
            else:
                watch.seen(item.device, received_ms)
            if is_reading:
                out += device.detectors.reading(item)  # type: ignore[arg-type]
            else:
                out += device.detectors.event(item)  # type: ignore[arg-type]
        return out

    def status(self, village: str, status: StatusMessage, received_ms: int) -> list[Transition]:
        """An edge agent's birth or death (its last will). It speaks only for the devices the
        village config says it publishes for: a status from anyone else is ignored (counted in
        ``counts.unknown``), and devices it lists that are not its own are left out (counted in
        ``counts.not_owned``) — one agent cannot hide another's dead gauge."""
        watch = self._watches.get(village)
        owned = self._agents.get((village, status.device))
        if watch is None or owned is None:
            self.counts.unknown += 1
            return []
        devices = [d for d in status.devices if d in owned]
        self.counts.not_owned += len(status.devices) - len(devices)
        self._dirty.add(village)
        return watch.edge_status(status.device, status.state, devices, received_ms)

    def disk(
        self, filesystem: str, folders: list[str], free: int, total: int, now_ms: int
    ) -> list[Transition]:
        """What the caller measured of a data disk (see :class:`DiskWatch`)."""
        out = self._disks.measured(filesystem, folders, free, total, now_ms)
        if out:
            self._dirty.add(_DISKS)
        return out

    def tick(self, now_ms: int) -> list[Transition]:
        """Time passes: silent devices, windows that empty.

        An offline device's own alerts are held: silence is not evidence that a window
        emptied, so they neither fire nor clear on time alone until its data is back.
        """
        out: list[Transition] = []
        for village, watch in self._watches.items():
            try:
                found = watch.tick(now_ms)
            except Exception as exc:  # noqa: BLE001 - supervisor: one village must not stop the rest
                self.failures.append((village, exc))
                continue
            if found:
                self._dirty.add(village)
            out += found
        for (village, device_id), device in self._devices.items():
            if self._watches[village].is_offline(device_id):
                continue
            try:
                found = device.detectors.tick(now_ms)
            except Exception as exc:  # noqa: BLE001 - supervisor: as above, per device
                self.failures.append((device.owner, exc))
                continue
            if found:
                self._dirty.add(device.owner)
            out += found
        return out

    def dirty_states(self) -> dict[str, dict[str, Any]]:
        """The state of every owner changed since the last call, by owner."""
        out: dict[str, dict[str, Any]] = {}
        for owner in self._dirty:
            if owner == _DISKS:
                out[owner] = self._disks.snapshot()
            elif "/" in owner:
                village, device_id = owner.split("/", 1)
                device = self._devices[(village, device_id)]
                out[owner] = {
                    "seen": {
                        "readings": device.readings.to_json(),
                        "events": device.events.to_json(),
                    },
                    "detectors": device.detectors.snapshot(),
                }
            else:
                out[owner] = self._watches[owner].snapshot()
        self._dirty.clear()
        return out

    def restore(
        self,
        states: Iterable[tuple[str, dict[str, Any]]],
        *,
        now_ms: int,
        max_ahead_ms: int = 300_000,
    ) -> int:
        """Put back saved states; owners no longer configured are ignored, and a state that
        does not fit (damaged, or from an incompatible version) leaves its owner fresh and is
        counted in ``counts.unrestorable``. Returns how many fit.

        Times later than ``now_ms + max_ahead_ms`` (what the decoder lets a device clock run
        ahead) are forgotten, and devices not offline when the state was saved get a fresh
        grace period from ``now_ms``: whether they were silent while the engine was down is
        unknown.
        """
        restored = 0
        for owner, state in states:
            try:
                if not self._restore_one(owner, state, now_ms + max_ahead_ms, now_ms):
                    continue
            except (KeyError, TypeError, ValueError, AttributeError, IndexError):
                self.counts.unrestorable += 1
                self._fresh(owner, now_ms)
                continue
            restored += 1
        for watch in self._watches.values():
            watch.grace(now_ms)
        return restored

    def _restore_one(self, owner: str, state: dict[str, Any], limit_ms: int, now_ms: int) -> bool:
        if owner == _DISKS:
            self._disks.restore(state)
            return True
        if "/" in owner:
            village, device_id = owner.split("/", 1)
            device = self._devices.get((village, device_id))
            if device is None:
                return False
            device.readings, device.events = _seen_of(state["seen"])
            device.detectors.restore(state["detectors"])
            device.detectors.forget_future(limit_ms)
            return True
        watch = self._watches.get(owner)
        if watch is None:
            return False
        watch.restore(state)
        watch.forget_future(now_ms)  # offline times are the receive clock's: never ahead of it
        return True

    def _fresh(self, owner: str, now_ms: int) -> None:
        """Put an owner whose saved state could not be restored back to its initial state."""
        if owner == _DISKS:
            self._disks.restore({})
            return
        if "/" in owner:
            village, device_id = owner.split("/", 1)
            found = self._built.get((village, device_id))
            if found is not None:
                self._devices[(village, device_id)] = _Device(owner, found())
            return
        if owner in self._watch_factories:
            self._watches[owner] = watch = self._watch_factories[owner]()
            watch.start(now_ms)


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
