"""Which alerts detect's decisions left open, so that those of a removed device can end."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from typing import Any

from villagewatch.catalogue import Said
from villagewatch.transitions import AlertKey, Severity, Transition

__all__ = ["REMOVED", "OpenAlerts"]

REMOVED = "removed from config"
"""The reason the alerts of a removed device (or detector) resolve with."""


class OpenAlerts:
    """Alert key → severity of every alert fired and not cleared: seeded from the store's
    firing alerts at start, then kept by every transition the engine decides."""

    def __init__(self) -> None:
        self._open: dict[AlertKey, Severity] = {}

    def seed(self, firing: Iterable[Mapping[str, Any]]) -> None:
        """The store's firing alerts (rows of ``DetectStore.firing``)."""
        for r in firing:
            key = AlertKey(r["detector"], r["village"], r["subject"], r["kind"])
            self._open[key] = Severity(r["severity"])

    def note(self, transitions: list[Transition]) -> list[Transition]:
        """Follow ``transitions`` (returned as they are)."""
        for t in transitions:
            if t.action == "clear":
                self._open.pop(t.key, None)
            else:
                self._open[t.key] = t.severity
        return transitions

    def resolve(
        self, village: str, devices: set[str], detectors: set[tuple[str, str]], now_ms: int
    ) -> list[Transition]:
        """Clear what is open of ``devices`` (every detector, offline included) and of the
        (device, detector name) pairs in ``detectors``, at ``now_ms``, with :data:`REMOVED`."""
        out: list[Transition] = []
        for key, severity in self._open.items():
            if key.village != village or key.detector == "disk":  # the disks are the machine's
                continue
            device = key.subject.split(":", 1)[0]  # a camera's zones: device:zone
            if device in devices or (device, key.detector) in detectors:
                said = Said("removed", {"subject": key.subject, "kind": key.kind})
                out.append(
                    Transition(
                        key, "clear", severity, now_ms, said.text, {"reason": REMOVED},
                        message_key=said.key, params=said.params,
                    )
                )  # fmt: skip
        return self.note(out)

    def unconfigured(
        self, village: str, devices: Mapping[str, Set[str]], now_ms: int
    ) -> list[Transition]:
        """Clear, with :data:`REMOVED`, what is open of devices of ``village`` that are not in
        ``devices`` (device → its detectors' names), or of detectors a device no longer has:
        at start, for a config changed while detect was down."""
        gone_devices: set[str] = set()
        gone_detectors: set[tuple[str, str]] = set()
        for key in self._open:
            if key.village != village or key.detector == "disk":
                continue
            if key.detector == "offline" and key.kind != "device_offline":
                continue  # link down: of the village or an edge agent, not of a device
            device = key.subject.split(":", 1)[0]
            if device not in devices:
                gone_devices.add(device)
            elif key.detector != "offline" and key.detector not in devices[device]:
                gone_detectors.add((device, key.detector))
        return self.resolve(village, gone_devices, gone_detectors, now_ms)
