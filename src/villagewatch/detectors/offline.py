"""Devices that fall silent, and links that go down: one village's watch over its devices.

A device is offline when nothing arrived from it for ``factor`` times its
expected interval, or when the edge agent it sits behind announces its death
(the broker publishes the agent's last will). Offline devices are not alerted
one by one at once: they wait ``group_s``, and if by then a large share of the
village is offline — ``link_down_share`` and at least ``link_down_min_devices``
— a single ``link_down`` alert for the village stands for all of them. An edge
agent's last will likewise raises one ``link_down`` for that agent, not one
alert per device behind it.

Time: ``seen`` and ``tick`` take the receive time the caller measured (a silent
device gives no device time to go by); everything else about the detector is
pure and its state survives a restart through snapshot/restore.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from villagewatch.catalogue import Said
from villagewatch.detectors.base import Detector
from villagewatch.detectors.config import OfflineConfig
from villagewatch.transitions import AlertKey, Severity, Transition

__all__ = ["OfflineWatch", "WatchedDevice"]


@dataclass(frozen=True, slots=True)
class WatchedDevice:
    """A device the watch expects to hear from."""

    id: str
    label: str
    interval_s: float
    config: OfflineConfig


class OfflineWatch(Detector):
    """Offline devices and link-down for one village."""

    name = "offline"

    def __init__(
        self, village: str, devices: list[WatchedDevice], *, config: OfflineConfig
    ) -> None:
        self._village = village
        self._devices = {d.id: d for d in devices}
        self._silent_ms = {d.id: d.config.factor * d.interval_s * 1000 for d in devices}
        """How long each device may be silent before it is offline (looked at every tick)."""
        self._cfg = config
        self._seen: dict[str, int] = {}
        self._pending: dict[str, int] = {}
        """Silent devices waiting to be grouped: device → when it was found silent."""
        self._alerted: set[str] = set()
        """Devices with their own device_offline alert."""
        self._covered: set[str] = set()
        """Devices covered by the village's link_down alert."""
        self._edges: dict[str, list[str]] = {}
        """Edge agents that died → the devices they listed."""
        self._village_down = False

    def _key(self, subject: str, kind: str) -> AlertKey:
        return AlertKey(self.name, self._village, subject, kind)

    def start(self, now_ms: int) -> None:
        """Begin watching: devices never heard from count from now."""
        for device in self._devices:
            self._seen.setdefault(device, now_ms)

    def grace(self, now_ms: int) -> None:
        """After a restart: devices not known to be offline count as heard from now."""
        for device in self._devices:
            if not self.is_offline(device):
                self._seen[device] = max(self._seen.get(device, now_ms), now_ms)

    def seen(self, device: str, now_ms: int) -> list[Transition]:
        """Something arrived from ``device``: whatever silence it was in is over."""
        if device not in self._devices:
            return []
        if now_ms > self._seen.get(device, now_ms - 1):
            self._seen[device] = now_ms
        if self.quiet:
            return []
        self._pending.pop(device, None)
        out: list[Transition] = []
        label = self._devices[device].label
        if device in self._alerted:
            self._alerted.discard(device)
            said = Said("offline.back", {"label": label})
            out.append(
                Transition(
                    self._key(device, "device_offline"), "clear", Severity.YELLOW, now_ms,
                    said.text, message_key=said.key, params=said.params,
                )
            )  # fmt: skip
        self._covered.discard(device)
        if self._village_down and len(self._covered) < self._cfg.link_down_min_devices / 2:
            self._village_down = False
            for straggler in self._covered:  # still silent once the link is back: on their own
                self._pending[straggler] = now_ms
            self._covered.clear()
            said = Said("offline.village_back", {"village": self._village})
            out.append(
                Transition(
                    self._key(self._village, "link_down"), "clear", Severity.ORANGE, now_ms,
                    said.text, message_key=said.key, params=said.params,
                )
            )  # fmt: skip
        for edge, behind in list(self._edges.items()):
            if device in behind:
                out += self.edge_status(edge, "online", [], now_ms)
        return out

    def edge_status(
        self, edge: str, state: str, devices: list[str], now_ms: int
    ) -> list[Transition]:
        """An edge agent's birth (``online``) or death (``offline``, its last will)."""
        if state == "offline":
            if edge in self._edges:
                return []
            behind = [d for d in devices if d in self._devices]
            self._edges[edge] = behind
            for d in behind:
                self._pending.pop(d, None)
            said = Said("offline.edge_down", {"edge": edge, "count": str(len(behind))})
            return [
                Transition(
                    self._key(edge, "link_down"), "fire", Severity.ORANGE, now_ms, said.text,
                    {"devices": behind}, message_key=said.key, params=said.params,
                )
            ]  # fmt: skip
        if edge not in self._edges:
            return []
        del self._edges[edge]
        for d in devices:
            self._seen[d] = max(self._seen.get(d, now_ms), now_ms)
        said = Said("offline.edge_back", {"edge": edge})
        return [
            Transition(
                self._key(edge, "link_down"), "clear", Severity.ORANGE, now_ms, said.text,
                message_key=said.key, params=said.params,
            )
        ]  # fmt: skip

    @property
    def quiet(self) -> bool:
        """Whether no device is offline or waiting to be, and no link is down."""
        return not (
            self._pending or self._alerted or self._covered or self._edges or self._village_down
        )

    def is_offline(self, device: str) -> bool:
        """Whether ``device`` counts as offline (alone, through a link, or pending)."""
        return (
            device in self._alerted
            or device in self._covered
            or device in self._pending
            or any(device in behind for behind in self._edges.values())
        )

    def tick(self, now_ms: int) -> list[Transition]:
        """Find newly silent devices; group the ones that waited long enough."""
        for device, allowed_ms in self._silent_ms.items():
            seen = self._seen.setdefault(device, now_ms)
            if seen > now_ms:  # heard of "later than now": the clock it was told went back
                self._seen[device] = seen = now_ms
            if now_ms - seen > allowed_ms and not self.is_offline(device):
                self._pending[device] = now_ms
        ready = [
            d for d, since in self._pending.items() if now_ms - since >= self._cfg.group_s * 1000
        ]
        if not ready:
            return []
        offline = {d for d in self._devices if self.is_offline(d)}
        out: list[Transition] = []
        share = len(offline) / max(len(self._devices), 1)
        if share >= self._cfg.link_down_share and len(offline) >= self._cfg.link_down_min_devices:
            self._covered.update(ready)
            for d in ready:
                self._pending.pop(d)
            if not self._village_down:
                self._village_down = True
                counts = {"count": str(len(offline)), "total": str(len(self._devices))}
                said = Said("offline.village_down", {"village": self._village, **counts})
                out.append(
                    Transition(
                        self._key(self._village, "link_down"), "fire", Severity.ORANGE, now_ms,
                        said.text, {"devices": sorted(offline)},
                        message_key=said.key, params=said.params,
                    )
                )  # fmt: skip
            return out
        for d in ready:
            self._pending.pop(d)
            self._alerted.add(d)
            spec = self._devices[d]
            minutes = (now_ms - self._seen[d]) / 60_000
            said = Said("offline.device", {"label": spec.label, "minutes": f"{minutes:.0f}"})
            out.append(
                Transition(
                    self._key(d, "device_offline"), "fire", Severity.YELLOW, now_ms, said.text,
                    {"expected_interval_s": spec.interval_s},
                    message_key=said.key, params=said.params,
                )
            )  # fmt: skip
        return out

    def snapshot(self) -> dict[str, Any]:
        """Last heard from, pending, alerted, covered, dead edges."""
        return {
            "seen": self._seen,
            "pending": self._pending,
            "alerted": sorted(self._alerted),
            "covered": sorted(self._covered),
            "edges": self._edges,
            "village_down": self._village_down,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Put back a :meth:`snapshot`."""
        self._seen = dict(state["seen"])
        self._pending = dict(state["pending"])
        self._alerted = set(state["alerted"])
        self._covered = set(state["covered"])
        self._edges = {k: list(v) for k, v in state["edges"].items()}
        self._village_down = state["village_down"]

    def forget_future(self, limit_ms: int) -> None:
        """Last-heard-of times later than ``limit_ms`` (now) become now: after a clock that ran
        ahead, a device must still be found silent once its interval has passed."""
        self._seen = {d: min(t, limit_ms) for d, t in self._seen.items()}
        self._pending = {d: min(t, limit_ms) for d, t in self._pending.items()}
