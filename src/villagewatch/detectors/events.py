"""Detectors fed by events: smart locks (with the rental registry), SOS buttons, cameras."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from villagewatch.catalogue import Said, num
from villagewatch.contract import Event, Reading
from villagewatch.detectors.base import Detector, Flags
from villagewatch.detectors.config import CameraDetectionsConfig, LockConfig
from villagewatch.transitions import AlertKey, Severity, Transition

__all__ = ["CameraDetections", "RegisteredCredential", "SmartLock", "SosButton"]

RegisteredCredential = tuple[str, datetime | None, datetime | None]
"""(credential id, valid from, valid to) of a current tenant of the lock's house."""


_REARM_MS = 600_000
"""An alert a person must close is not raised again for the same lock within 10 minutes:
a lock reporting tamper every few seconds is one incident."""


class SmartLock(Detector):
    """Forced open, tamper, jammed, wrong codes, door ajar, unregistered credentials, low battery.

    Forced open, tamper, unregistered credentials and wrong codes need a person
    to close the alert; the others clear when the lock says so (the door locked,
    the battery replaced). A right code after wrong ones is no end of the
    problem — it may be the guess that worked — so it makes the wrong-codes
    alert red instead of clearing it; after a quiet window the detector only
    reports the condition over, and the alert waits for a person.
    """

    name = "lock"

    def __init__(
        self,
        config: LockConfig,
        *,
        village: str,
        device: str,
        label: str,
        credentials: Sequence[RegisteredCredential] | None,
    ) -> None:
        """``credentials``: the house's registered credentials; None: the lock is in no house."""
        self._cfg = config
        self._village, self._device, self._label = village, device, label
        self._credentials = credentials
        self._wrong: deque[int] = deque()
        self._on: set[str] = set()
        self._raised: dict[str, int] = {}
        """When each close-by-hand alert was last raised."""

    def use_credentials(self, credentials: Sequence[RegisteredCredential] | None) -> None:
        """The registry changed: these are the house's registered credentials now."""
        self._credentials = credentials

    def _key(self, kind: str) -> AlertKey:
        return AlertKey(self.name, self._village, self._device, kind)

    def event(self, e: Event) -> list[Transition]:
        """Turn a lock event into alerts."""
        at, hist, out = e.at_ms, e.historical, []
        match e.type:
            case "forced_open":
                out += self._raise("forced_open", Severity.RED, at, hist, "lock.forced_open")
            case "tamper":
                out += self._raise("tamper", Severity.ORANGE, at, hist, "lock.tamper")
            case "jammed":
                if "jammed" not in self._on:
                    out.append(self._fire("jammed", Severity.YELLOW, at, hist, "lock.jammed"))
            case "wrong_code":
                out += self._wrong_code(at, hist)
            case "door_ajar":
                duration = float(e.attrs.get("duration_s", 0))
                if duration >= self._cfg.door_ajar_s and "door_ajar" not in self._on:
                    out.append(
                        self._fire(
                            "door_ajar",
                            Severity.YELLOW,
                            at,
                            hist,
                            "lock.door_ajar",
                            minutes=f"{duration / 60:.0f}",
                        )
                    )
            case "lock" | "unlock":
                out += self._locked_or_opened(e, at, hist)
            case "low_battery":
                if "low_battery" not in self._on:
                    out.append(
                        self._fire("low_battery", Severity.INFO, at, hist, "lock.low_battery")
                    )
        if isinstance(battery := e.attrs.get("battery"), float | int):
            out += self._battery(float(battery), at, hist)
        return out

    def reading(self, r: Reading, flags: Flags) -> list[Transition]:
        """The lock's periodic battery reading."""
        battery = r.values.get("battery")
        if battery is None or not flags.usable("battery"):
            return []
        return self._battery(battery, r.at_ms, r.historical)

    def _battery(self, pct: float, at: int, hist: bool) -> list[Transition]:
        if pct < self._cfg.low_battery_pct and "low_battery" not in self._on:
            return [
                self._fire(
                    "low_battery", Severity.INFO, at, hist, "lock.battery_at", percent=f"{pct:.0f}"
                )
            ]
        if pct >= self._cfg.low_battery_pct + 5 and "low_battery" in self._on:
            return self._clear("low_battery", at, hist, "lock.battery_at", percent=f"{pct:.0f}")
        return []

    def _wrong_code(self, at: int, hist: bool) -> list[Transition]:
        self._wrong.append(at)
        while self._wrong and self._wrong[0] <= at - self._cfg.wrong_window_s * 1000:
            self._wrong.popleft()
        if len(self._wrong) >= self._cfg.wrong_codes and "wrong_codes" not in self._on:
            return [
                self._fire(
                    "wrong_codes",
                    Severity.ORANGE,
                    at,
                    hist,
                    "lock.wrong_codes",
                    needs_close=True,
                    count=str(len(self._wrong)),
                    seconds=num(self._cfg.wrong_window_s),
                )
            ]
        return []

    def _locked_or_opened(self, e: Event, at: int, hist: bool) -> list[Transition]:
        out = self._clear("jammed", at, hist, "lock.works_again")
        if e.type == "lock":  # an unlock says nothing about the door being shut
            return out + self._clear("door_ajar", at, hist, "lock.door_closed")
        return out + self._opened_after_wrong_codes(e, at, hist) + self._credential(e, at, hist)

    def _opened_after_wrong_codes(self, e: Event, at: int, hist: bool) -> list[Transition]:
        """The door opened while the wrong-codes alert is on: perhaps a guess that worked."""
        if "wrong_codes" not in self._on or "wrong_codes_opened" in self._on:
            return []
        self._on.add("wrong_codes_opened")
        credential = e.attrs.get("credential")
        params = {"label": self._label, "count": str(len(self._wrong))}
        if isinstance(credential, str):
            said = Said("lock.opened_with_after_wrong_codes", {**params, "credential": credential})
        else:
            said = Said("lock.opened_after_wrong_codes", params)
        details = {
            "wrong_codes": len(self._wrong),
            **({"credential": credential} if isinstance(credential, str) else {}),
        }
        return [
            Transition(
                self._key("wrong_codes"), "update", Severity.RED, at, said.text, details, hist,
                needs_close=True, message_key=said.key, params=said.params,
            )
        ]  # fmt: skip

    def tick(self, now_ms: int) -> list[Transition]:
        """Wrong codes: the alert ends after a whole window without one."""
        if "wrong_codes" in self._on and (
            not self._wrong or self._wrong[-1] <= now_ms - self._cfg.wrong_window_s * 1000
        ):
            self._wrong.clear()
            self._on.discard("wrong_codes_opened")
            return self._clear("wrong_codes", now_ms, False, "lock.wrong_codes_over")
        return []

    def _credential(self, e: Event, at: int, hist: bool) -> list[Transition]:
        credential = e.attrs.get("credential")
        if self._credentials is None or not isinstance(credential, str):
            return []
        when = datetime.fromtimestamp(at / 1000, tz=UTC)
        for cid, start, end in self._credentials:
            if (
                cid == credential
                and (start is None or start <= when)
                and (end is None or when < end)
            ):
                return []
        # the credential id only: who the tenants are is personal data, not for notifications
        return self._raise(
            "unregistered_credential",
            Severity.ORANGE,
            at,
            hist,
            "lock.unregistered_credential",
            details={"credential": credential},
            credential=credential,
        )

    def _fire(
        self,
        kind: str,
        severity: Severity,
        at: int,
        hist: bool,
        message_key: str,
        *,
        needs_close: bool = False,
        **params: str,
    ) -> Transition:
        self._on.add(kind)
        said = Said(message_key, {"label": self._label, **params})
        return Transition(
            self._key(kind), "fire", severity, at, said.text, {}, hist, needs_close,
            message_key=said.key, params=said.params,
        )  # fmt: skip

    def _raise(
        self,
        kind: str,
        severity: Severity,
        at: int,
        hist: bool,
        message_key: str,
        *,
        details: dict[str, Any] | None = None,
        **params: str,
    ) -> list[Transition]:
        """An alert a person closes; not raised again within the re-arm time."""
        last = self._raised.get(kind)
        if last is not None and 0 <= at - last < _REARM_MS:
            return []
        self._raised[kind] = at
        said = Said(message_key, {"label": self._label, **params})
        return [
            Transition(
                self._key(kind), "fire", severity, at, said.text, details or {}, hist,
                needs_close=True, message_key=said.key, params=said.params,
            )
        ]  # fmt: skip

    def _clear(
        self, kind: str, at: int, hist: bool, message_key: str, **params: str
    ) -> list[Transition]:
        if kind not in self._on:
            return []
        self._on.discard(kind)
        said = Said(message_key, {"label": self._label, **params})
        return [
            Transition(
                self._key(kind), "clear", Severity.INFO, at, said.text, {}, hist,
                message_key=said.key, params=said.params,
            )
        ]  # fmt: skip

    def snapshot(self) -> dict[str, Any]:
        """Recent wrong codes and the alerts that are on."""
        return {"wrong": list(self._wrong), "on": sorted(self._on), "raised": self._raised}

    def restore(self, state: dict[str, Any]) -> None:
        """Put back a :meth:`snapshot`."""
        self._wrong = deque(state["wrong"])
        self._on = set(state["on"])
        self._raised = dict(state["raised"])

    def forget_future(self, limit_ms: int) -> None:
        """See :meth:`Detector.forget_future`."""
        self._wrong = deque(t for t in self._wrong if t <= limit_ms)
        self._raised = {k: t for k, t in self._raised.items() if t <= limit_ms}


class SosButton(Detector):
    """An SOS press is an immediate red alert for the button's place; a person closes it.

    Presses within the re-arm time of the last alert are the same call for help.
    """

    name = "sos"

    def __init__(self, *, village: str, device: str, label: str) -> None:
        self._key = AlertKey(self.name, village, device, "sos")
        self._label = label
        self._raised: int | None = None

    def event(self, e: Event) -> list[Transition]:
        """SOS → red alert."""
        at = e.at_ms
        if e.type != "sos" or (self._raised is not None and 0 <= at - self._raised < _REARM_MS):
            return []
        self._raised = at
        said = Said("sos.fire", {"label": self._label})
        return [
            Transition(
                self._key, "fire", Severity.RED, at, said.text, {}, e.historical,
                needs_close=True, message_key=said.key, params=said.params,
            )
        ]  # fmt: skip

    def snapshot(self) -> dict[str, Any]:
        """When the last alert was raised."""
        return {"raised": self._raised}

    def restore(self, state: dict[str, Any]) -> None:
        """Put back a :meth:`snapshot`."""
        self._raised = state["raised"]

    def forget_future(self, limit_ms: int) -> None:
        """See :meth:`Detector.forget_future`."""
        if self._raised is not None and self._raised > limit_ms:
            self._raised = None


class CameraDetections(Detector):
    """A camera's detections (decided at the edge) as alerts per zone and detection type."""

    name = "camera"

    def __init__(
        self, config: CameraDetectionsConfig, *, village: str, device: str, label: str
    ) -> None:
        self._cfg = config
        self._village, self._device, self._label = village, device, label
        self._on: set[str] = set()

    def event(self, e: Event) -> list[Transition]:
        """``detection`` fires (once, while it lasts), ``cleared`` clears."""
        detection, zone = e.attrs.get("detection"), e.attrs.get("zone")
        if not isinstance(detection, str) or not isinstance(zone, str):
            return []
        name = f"{zone}/{detection}"
        key = AlertKey(self.name, self._village, f"{self._device}:{zone}", detection)
        severity = self._cfg.severity.get(detection, Severity.YELLOW)
        details: dict[str, Any] = {
            k: e.attrs[k]
            for k in (
                "zone",
                "dwell_s",
                "evidence",
                "box",
                "score",
                "covered_fraction",
                "label",
                "label_score",
                "objects",
            )
            if k in e.attrs
        }
        params = {"label": self._label, "detection": detection, "zone": zone}
        if e.type == "detection" and name not in self._on:
            self._on.add(name)
            dwell, seen = e.attrs.get("dwell_s"), _seen_as(e.attrs)
            if isinstance(dwell, float | int) and seen:
                minutes = f"{float(dwell) / 60:.0f}"
                said = Said("camera.fire_dwell_seen", {**params, "minutes": minutes, "what": seen})
            elif isinstance(dwell, float | int):
                said = Said("camera.fire_dwell", {**params, "minutes": f"{float(dwell) / 60:.0f}"})
            else:
                said = Said("camera.fire", params)
            action: Literal["fire", "clear"] = "fire"
        elif e.type == "cleared" and name in self._on:
            self._on.discard(name)
            said, action = Said("camera.clear", params), "clear"
        else:
            return []
        return [
            Transition(
                key, action, severity, e.at_ms, said.text, details, e.historical,
                message_key=said.key, params=said.params,
            )
        ]  # fmt: skip

    def snapshot(self) -> dict[str, Any]:
        """Detections that are on."""
        return {"on": sorted(self._on)}

    def restore(self, state: dict[str, Any]) -> None:
        """Put back a :meth:`snapshot`."""
        self._on = set(state["on"])


def _seen_as(attrs: Mapping[str, object]) -> str:
    """What the camera's model said the object is, with its score (``person 87%``); empty
    when no model said."""
    label, score = attrs.get("label"), attrs.get("label_score")
    if not isinstance(label, str):
        return ""
    return f"{label} {round(float(score) * 100)}%" if isinstance(score, float | int) else label
