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
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from villagewatch.config.village import Village
from villagewatch.contract import Decoded, Event, Reading
from villagewatch.contract.control import StatusMessage
from villagewatch.detect.openalerts import OpenAlerts
from villagewatch.detect.plans import DevicePlan, carry_over, offline_watch_of, plan_village
from villagewatch.detect.seen import Seen, seen_of
from villagewatch.detectors import DeviceDetectors, OfflineWatch
from villagewatch.detectors.base import UNFIT_STATE
from villagewatch.detectors.disk import DiskWatch
from villagewatch.detectors.events import RegisteredCredential, SmartLock
from villagewatch.transitions import Transition

__all__ = ["DetectEngine", "EngineCounts", "Reconfigured"]

_DISKS = "@disks"
"""The disks' owner is ``@disks:<the village their alerts show at>``, one per detect process
in a shared database too (villages have no ``@``); an older bare ``@disks`` restores as it."""


@dataclass(slots=True)
class Reconfigured:
    """What :meth:`DetectEngine.reconfigure` did to one village."""

    village: str
    changed: list[str] = field(default_factory=list)
    """Devices rebuilt with their state carried over."""
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    gone: list[tuple[str, str]] = field(default_factory=list)
    """(device, detector name) of detectors a changed device no longer has."""
    transitions: list[Transition] = field(default_factory=list)
    """What the rebuilt detectors decided on their last readings under the new settings,
    then the clears of removed devices' and detectors' alerts."""


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
        self.readings = Seen()
        self.events = Seen()


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
        self._plans: dict[str, dict[str, DevicePlan]] = {}
        self._watch_factories: dict[str, partial[OfflineWatch]] = {}
        self._agents: dict[tuple[str, str], frozenset[str]] = {}
        self._credentials: dict[str, Mapping[str, Sequence[RegisteredCredential]]] = {}
        """The rental registry's credentials last told, by village (a rebuilt lock is told
        again)."""
        self._dirty: set[str] = set()
        self.open_alerts = OpenAlerts()
        """What the engine's transitions left open (seeded by the caller at start)."""
        self.counts = EngineCounts()
        self.failures: list[tuple[str, Exception]] = []
        """Owners whose detectors raised while time passed, with the error (the caller logs
        and clears them); the others went on."""
        self._disks_owner = f"{_DISKS}:{villages[0].id}" if villages else _DISKS
        self._disks = DiskWatch(
            village=villages[0].id if villages else "",
            low_share=disk_low_share,
            critical_share=disk_critical_share,
        )
        for village in villages:
            plans = self._plan(village)
            for device_id, plan in plans.items():
                self._devices[(village.id, device_id)] = _Device(
                    f"{village.id}/{device_id}", plan.build()
                )
            self._watches[village.id] = watch = self._watch_factories[village.id]()
            watch.start(now_ms)

    def _plan(self, village: Village) -> dict[str, DevicePlan]:
        self._plans[village.id] = plans = plan_village(village)
        self._watch_factories[village.id] = offline_watch_of(village, plans)
        for key in [k for k in self._agents if k[0] == village.id]:
            del self._agents[key]
        for agent in village.agents():
            self._agents[(village.id, agent)] = frozenset(d.id for d in village.devices_of(agent))
        return plans

    def reconfigure(self, village: Village, now_ms: int) -> Reconfigured:
        """Follow a changed village file (a village the engine has): only devices whose
        detectors' settings changed are rebuilt, each keeping its detectors' state
        (:func:`~villagewatch.detect.plans.carry_over`: a changed level judges the last
        reading at once); added devices start fresh; removed ones are dropped, and
        what is open of them, or of detectors a device no longer has, clears "removed from
        config" at ``now_ms`` (the engine's alerts are all it knows: :attr:`open_alerts`)."""
        old_plans, old_watch = self._plans[village.id], self._watch_factories[village.id]
        plans = self._plan(village)
        new_watch = self._watch_factories[village.id]
        done = Reconfigured(village.id)
        for device_id in old_plans.keys() - plans.keys():
            del self._devices[(village.id, device_id)]
            done.removed.append(device_id)
        for device_id, plan in plans.items():
            owner = f"{village.id}/{device_id}"
            old = old_plans.get(device_id)
            if old == plan:
                continue
            detectors = plan.build()
            credentials = self._credentials.get(village.id)
            if credentials is not None:
                _tell_locks(detectors, credentials.get(device_id))
            found = self._devices.get((village.id, device_id))
            if found is None:
                self._devices[(village.id, device_id)] = _Device(owner, detectors)
                done.added.append(device_id)
                continue
            out, gone = carry_over(found.detectors, detectors, now_ms)
            found.detectors = detectors
            done.changed.append(device_id)
            done.transitions += out
            done.gone += [(device_id, name) for name in gone]
            self._dirty.add(owner)
        if (old_watch.args, old_watch.keywords) != (new_watch.args, new_watch.keywords):
            self._rewatch(village.id, set(plans), now_ms)
        done.removed.sort()
        self.open_alerts.note(done.transitions)
        done.transitions += self.open_alerts.resolve(
            village.id, set(done.removed), set(done.gone), now_ms
        )
        return done

    def settle(self, now_ms: int) -> list[Transition]:
        """At start, after :meth:`restore` and seeding :attr:`open_alerts`: each detector
        judges its last reading by the config in force (a warning level changed while detect
        was down takes effect now, as a followed change does), and what is open of devices or
        detectors no longer configured clears "removed from config"."""
        out: list[Transition] = []
        configured: dict[str, dict[str, set[str]]] = {v: {} for v in self._plans}
        for (village, device), found in self._devices.items():
            configured[village][device] = {d.name for d in found.detectors.detectors}
            for d in found.detectors.detectors:
                decided = d.reconsider(now_ms)
                if decided:
                    out += decided
                    self._dirty.add(found.owner)
        self.open_alerts.note(out)
        for village, devices in configured.items():
            out += self.open_alerts.unconfigured(village, devices, now_ms)
        return out

    def _rewatch(self, village: str, devices: set[str], now_ms: int) -> None:
        """A new offline watch for the village, with what the old one knew of its devices."""
        state = self._watches[village].snapshot()
        watch = self._watch_factories[village]()
        for part in ("seen", "pending"):
            state[part] = {d: t for d, t in state[part].items() if d in devices}
        for part in ("alerted", "covered"):
            state[part] = [d for d in state[part] if d in devices]
        watch.restore(state)
        watch.start(now_ms)  # added devices count from now
        self._watches[village] = watch
        self._dirty.add(village)

    def use_registry(
        self, village: str, credentials: Mapping[str, Sequence[RegisteredCredential]]
    ) -> int:
        """The rental registry's lock → credentials of a village (a lock missing from it is in
        no house); how many locks' detectors were told."""
        self._credentials[village] = credentials
        return sum(
            _tell_locks(found.detectors, credentials.get(device))
            for (v, device), found in self._devices.items()
            if v == village
        )

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
        return self.open_alerts.note(out)

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
        return self.open_alerts.note(
            watch.edge_status(status.device, status.state, devices, received_ms)
        )

    def disk(
        self, filesystem: str, folders: list[str], free: int, total: int, now_ms: int
    ) -> list[Transition]:
        """What the caller measured of a data disk (see :class:`DiskWatch`)."""
        out = self._disks.measured(filesystem, folders, free, total, now_ms)
        if out:
            self._dirty.add(self._disks_owner)
        return self.open_alerts.note(out)

    def tick(self, now_ms: int) -> list[Transition]:
        """Time passes: silent devices, windows that empty.

        An offline device's own alerts are held: silence is not evidence that a window
        emptied, so they neither fire nor clear on time alone until its data is back.
        """
        out: list[Transition] = []
        # villages where no device is offline, and devices with nothing that time alone moves,
        # are skipped cheaply: a replay ticks a month of them, hundreds of devices at a time
        quiet: set[str] = set()
        for village, watch in self._watches.items():
            try:
                found = watch.tick(now_ms)
            except Exception as exc:  # noqa: BLE001 - supervisor: one village must not stop the rest
                self.failures.append((village, exc))
                continue
            if found:
                self._dirty.add(village)
            out += found
            if watch.quiet:
                quiet.add(village)
        for (village, device_id), device in self._devices.items():
            if not device.detectors.ticks:
                continue
            if village not in quiet and self._watches[village].is_offline(device_id):
                continue
            try:
                found = device.detectors.tick(now_ms)
            except Exception as exc:  # noqa: BLE001 - supervisor: as above, per device
                self.failures.append((device.owner, exc))
                continue
            if found:
                self._dirty.add(device.owner)
            out += found
        return self.open_alerts.note(out)

    def dirty_states(self) -> dict[str, dict[str, Any]]:
        """The state of every owner changed since the last call, by owner."""
        out: dict[str, dict[str, Any]] = {}
        for owner in self._dirty:
            if owner == self._disks_owner:
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
            except UNFIT_STATE:
                self.counts.unrestorable += 1
                self._fresh(owner, now_ms)
                continue
            restored += 1
        for watch in self._watches.values():
            watch.grace(now_ms)
        return restored

    def _restore_one(self, owner: str, state: dict[str, Any], limit_ms: int, now_ms: int) -> bool:
        if owner in (self._disks_owner, _DISKS):
            self._disks.restore(state)
            return True
        if "/" in owner:
            village, device_id = owner.split("/", 1)
            device = self._devices.get((village, device_id))
            if device is None:
                return False
            device.readings, device.events = seen_of(state["seen"])
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
        if owner in (self._disks_owner, _DISKS):
            self._disks.restore({})
            return
        if "/" in owner:
            village, device_id = owner.split("/", 1)
            plan = self._plans.get(village, {}).get(device_id)
            if plan is not None:
                self._devices[(village, device_id)] = _Device(owner, plan.build())
            return
        if owner in self._watch_factories:
            self._watches[owner] = watch = self._watch_factories[owner]()
            watch.start(now_ms)


def _tell_locks(
    detectors: DeviceDetectors, credentials: Sequence[RegisteredCredential] | None
) -> int:
    """Tell a device's lock detectors their credentials; how many were told."""
    told = 0
    for d in detectors.detectors:
        if isinstance(d, SmartLock):
            d.use_credentials(credentials)
            told += 1
    return told
