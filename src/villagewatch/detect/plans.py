"""What the engine builds for each device of a village, and how a rebuilt device keeps its state.

A :class:`DevicePlan` is everything a device's detectors are made from (the device, its
kind's and its own settings); two plans are equal exactly when they build the same
detectors, which is how a changed village file tells which devices to rebuild.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from villagewatch.config.village import Village
from villagewatch.detectors import DeviceDetectors, OfflineWatch, WatchedDevice, device_detectors
from villagewatch.detectors.base import UNFIT_STATE
from villagewatch.detectors.config import FamilyConfigs, OfflineConfig
from villagewatch.detectors.device import DeviceInfoForDetect, offline_config
from villagewatch.detectors.events import RegisteredCredential
from villagewatch.transitions import Transition

__all__ = ["DevicePlan", "carry_over", "offline_watch_of", "plan_village"]


@dataclass(frozen=True, slots=True)
class DevicePlan:
    """One device's detectors, before they are built."""

    info: DeviceInfoForDetect
    kind_cfg: FamilyConfigs | None
    device_cfg: FamilyConfigs | None

    def build(self) -> DeviceDetectors:
        """The device's detectors, fresh."""
        return device_detectors(self.info, self.kind_cfg, self.device_cfg)

    def watched(self) -> WatchedDevice | None:
        """How the offline watch follows the device; None when it is not watched."""
        offline = offline_config(self.kind_cfg, self.device_cfg)
        if offline is None:
            return None
        return WatchedDevice(self.info.id, self.info.label, self.info.interval_s, offline)


def plan_village(village: Village) -> dict[str, DevicePlan]:
    """Device id → plan, in the order of the village file."""
    credentials = _houses(village)
    plans: dict[str, DevicePlan] = {}
    for spec in village.devices:
        info = DeviceInfoForDetect(
            village.id, spec.id, spec.kind, spec.name or spec.id, spec.interval_s,
            credentials.get(spec.id),
        )  # fmt: skip
        plans[spec.id] = DevicePlan(
            info, village.detect.kinds.get(spec.kind), village.detect.devices.get(spec.id)
        )
    return plans


def offline_watch_of(village: Village, plans: dict[str, DevicePlan]) -> partial[OfflineWatch]:
    """A maker of the village's offline watch (fresh each call)."""
    watched = [w for w in (p.watched() for p in plans.values()) if w is not None]
    return partial(OfflineWatch, village.id, watched, config=_village_offline(village))


def carry_over(
    old: DeviceDetectors, new: DeviceDetectors, now_ms: int
) -> tuple[list[Transition], list[str]]:
    """Put each of ``old``'s detector states into ``new``'s detector of the same name, and let
    it judge its last reading by its new settings (:meth:`Detector.reconsider`, decided at
    ``now_ms``). A state that no longer fits (the detector's settings changed shape) leaves
    that detector fresh. Returns the transitions and the names of ``old``'s detectors that
    ``new`` no longer has (their alerts are the caller's to resolve)."""
    states = old.snapshot()
    out: list[Transition] = []
    for d in new.detectors:
        state = states.pop(d.name, None)
        if state is None:
            continue
        fresh = d.snapshot()
        try:
            d.restore(state)
        except UNFIT_STATE:
            d.restore(fresh)
            continue
        out += d.reconsider(now_ms)
    return out, sorted(states)


def _houses(village: Village) -> dict[str, list[RegisteredCredential]]:
    """Lock → credentials of its house's current tenants, from the village file."""
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
