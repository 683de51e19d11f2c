"""What Zigbee2MQTT's device payloads mean in contract terms — pure, no MQTT here.

Zigbee2MQTT publishes a device's whole cached state as one JSON object on
``<base_topic>/<friendly_name>`` whenever anything changes, so most fields repeat in every
message: events are taken from *changes*, kept per device. Shapes handled (from
zigbee-herdsman-converters' generic lock, battery and IAS-zone converters):

smart locks
  ``state`` ``"LOCK"``/``"UNLOCK"`` — a change is a ``lock``/``unlock`` event. The first state
  seen is the baseline, not an event. ``action`` is the door-lock cluster's operation event
  (``unlock``, ``keypad_unlock``, ``manual_lock``, ``auto_lock``, ``one_touch_lock``,
  ``unlock_failure_invalid_pin_or_id`` …) with ``action_source_name`` (``keypad``, ``rf``,
  ``manual``, ``rfid``, ``fingerprint``) and ``action_user`` (slot number → credential
  ``u<n>``, for code, card and fingerprint only). A lock reports one operation twice — the
  action and the state change, in either order — so a state change waits ``merge_s`` for its
  action and is dropped when the action comes (the action knows who and how), and a state
  change within ``merge_s`` after the same action is the echo of it. Failures (invalid pin or
  schedule) are ``wrong_code``; ``tamper``/``forced``/``jammed`` actions, ``tamper: true``,
  ``door_state: "error_forced_open"``/``"error_jammed"`` and ``battery_low: true`` are events
  on the rising edge (the first ``true`` seen counts: an alarm is better twice than never).
SOS buttons
  ``action`` ``"emergency"`` or ``"sos"`` (configurable per device), or the rising edge of
  ``sos: true`` (IAS zone) or ``alarm: true``, is one ``{"type": "sos"}``.
both
  ``battery`` (percent) is telemetry when it changes, and at least every ``battery_every_s``.

Unknown fields are ignored; a payload that isn't a JSON object is counted in ``skipped``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from pydantic import Field, field_validator

from villagewatch.contract import Identifier, StrictModel
from villagewatch.edge.measurement import Measurement

__all__ = ["BridgedDevice", "Zigbee2MqttNormaliser"]

_SOURCE_METHODS = {
    "keypad": "code",
    "rf": "remote",
    "manual": "key",
    "rfid": "card",
    "fingerprint": "fingerprint",
}
# the word before `_lock`/`_unlock` in an action, when no action_source_name says more
_PREFIX_METHODS = {
    "keypad": "code",
    "pin": "code",
    "rf": "remote",
    "zigbee": "remote",
    "remote": "remote",
    "rfid": "card",
    "card": "card",
    "manual": "key",
    "key": "key",
    "fingerprint": "fingerprint",
    "face": "face",
    "app": "app",
    "bluetooth": "app",
}
_CREDENTIAL_METHODS = {"code", "card", "fingerprint", "face"}
_FAILURES = {
    "lock_failure_invalid_pin_or_id",
    "unlock_failure_invalid_pin_or_id",
    "lock_failure_invalid_schedule",
    "unlock_failure_invalid_schedule",
}
_ALARM_ACTIONS = {"tamper": "tamper", "forced": "forced_open", "jammed": "jammed"}
_NO_USER = 0xFFFF  # the door-lock cluster's "no user id"


class BridgedDevice(StrictModel):
    """One device behind the Zigbee2MQTT bridge."""

    friendly_name: str = Field(
        min_length=1,
        description="Its friendly name in Zigbee2MQTT (topic `<base_topic>/<friendly_name>`).",
    )
    device: Identifier = Field(description="Its device id in the village config.")
    kind: Literal["smart_lock", "call_button"] = Field(description="What it is.")
    sos_actions: list[str] = Field(
        ["emergency", "sos"],
        description="call_button: `action` values that are a press (add `single` for buttons "
        "that report plain clicks, such as the Heiman HS1EB).",
    )

    @field_validator("friendly_name")
    @classmethod
    def _no_wildcards(cls, name: str) -> str:
        if "+" in name or "#" in name:
            raise ValueError("an MQTT topic can't hold `+` or `#`")
        return name


@dataclass
class _State:
    reported: str | None = None  # the last `state` seen
    pending: tuple[str, float] | None = None  # a state change waiting for its action
    recent_action: tuple[str, float] | None = None  # a lock/unlock action its change may echo
    flags: dict[str, bool] = field(default_factory=dict)  # edge-triggered booleans, last value
    battery: float | None = None
    battery_sent_at: float | None = None


class Zigbee2MqttNormaliser:
    """Turns one bridge's payloads into measurements; see the module docstring for the rules.

    ``now`` is a monotonic time in seconds, passed in so that the rules are plain functions
    of their input. Call :meth:`flush` about once a second: it releases state changes whose
    action didn't come.
    """

    def __init__(
        self,
        devices: list[BridgedDevice],
        *,
        merge_s: float = 3.0,
        battery_every_s: float = 3600.0,
    ) -> None:
        self._devices = {d.friendly_name: d for d in devices}
        self._states = {d.friendly_name: _State() for d in devices}
        self._merge_s = merge_s
        self._battery_every_s = battery_every_s
        self.skipped = 0
        """Payloads that were not a JSON object."""

    def feed(self, friendly_name: str, payload: bytes | bytearray, now: float) -> list[Measurement]:
        """The measurements one message of ``friendly_name`` makes (often none)."""
        dev = self._devices.get(friendly_name)
        if dev is None:
            return []
        try:
            obj = orjson.loads(payload)
        except orjson.JSONDecodeError:
            obj = None
        if not isinstance(obj, dict):
            self.skipped += 1
            return []
        st = self._states[friendly_name]
        battery = _percent(obj.get("battery"))
        battery_due = battery is not None and self._battery_due(st, battery, now)
        if battery is not None:
            st.battery = battery
        if dev.kind == "smart_lock":
            events = self._lock_events(st, obj, now)
        else:
            events = self._button_events(dev, st, obj)
        out = [Measurement(dev.device, "event", e) for e in events]
        if battery_due:
            out.append(Measurement(dev.device, "telemetry", {"battery": battery}))
            st.battery_sent_at = now
        return out

    def flush(self, now: float, *, everything: bool = False) -> list[Measurement]:
        """State changes that waited ``merge_s`` in vain (all of them with ``everything``)."""
        out = []
        for name, st in self._states.items():
            if st.pending is not None and (everything or now - st.pending[1] >= self._merge_s):
                out.append(
                    Measurement(self._devices[name].device, "event", {"type": st.pending[0]})
                )
                st.pending = None
        return out

    def _battery_due(self, st: _State, battery: float, now: float) -> bool:
        if battery != st.battery or st.battery_sent_at is None:
            return True
        return now - st.battery_sent_at >= self._battery_every_s

    def _lock_events(self, st: _State, obj: dict[str, Any], now: float) -> list[dict[str, Any]]:
        # the state first: a message that carries an action also carries the cached, older state
        events = self._state_change(st, obj.get("state"), now)
        action = obj.get("action")
        if isinstance(action, str) and action:
            event = _action_event(action, obj)
            if event is not None and event["type"] in ("lock", "unlock"):
                if st.pending is not None and st.pending[0] == event["type"]:
                    st.pending = None  # the action tells of the same change, and more
                else:
                    events += self._release_pending(st)
                st.recent_action = (event["type"], now)
            if event is not None:
                events.append(event)
        return events + _lock_alarms(st, obj)

    def _state_change(self, st: _State, state: object, now: float) -> list[dict[str, Any]]:
        """Track ``state``; a change waits in ``pending`` unless it echoes a recent action."""
        if state not in ("LOCK", "UNLOCK"):
            return []
        was, st.reported = st.reported, str(state)
        if was is None or state == was:
            return []
        change = "lock" if state == "LOCK" else "unlock"
        recent = st.recent_action
        if recent is not None and recent[0] == change and now - recent[1] <= self._merge_s:
            st.recent_action = None  # the echo of an action already emitted
            return []
        released = self._release_pending(st)
        st.pending = (change, now)
        return released

    @staticmethod
    def _release_pending(st: _State) -> list[dict[str, Any]]:
        if st.pending is None:
            return []
        event = {"type": st.pending[0]}
        st.pending = None
        return [event]

    @staticmethod
    def _button_events(dev: BridgedDevice, st: _State, obj: dict[str, Any]) -> list[dict[str, Any]]:
        action = obj.get("action")
        pressed = isinstance(action, str) and action in dev.sos_actions
        # both edges are tracked whatever the action said, so no `or` short-circuit here
        sos_edge = _rising(st, "sos", obj.get("sos"))
        alarm_edge = _rising(st, "alarm", obj.get("alarm"))
        return [{"type": "sos"}] if pressed or sos_edge or alarm_edge else []


def _action_event(action: str, obj: dict[str, Any]) -> dict[str, Any] | None:
    """The contract event one lock ``action`` is, or None for actions that aren't one."""
    if action in _ALARM_ACTIONS:
        return {"type": _ALARM_ACTIONS[action]}
    if action in _FAILURES:
        kind = "wrong_code"
        prefix = ""
    elif action in ("lock", "unlock"):
        kind, prefix = action, ""
    elif action.endswith("_unlock"):
        kind, prefix = "unlock", action.removesuffix("_unlock")
    elif action.endswith("_lock"):
        kind, prefix = "lock", action.removesuffix("_lock")
    else:
        return None  # "unknown", "non_access_user_operational_event", programming events …
    event: dict[str, Any] = {"type": kind}
    source = obj.get("action_source_name")
    method = _SOURCE_METHODS.get(source) if isinstance(source, str) else None
    method = method or _PREFIX_METHODS.get(prefix)
    if method is not None:
        event["method"] = method
        user = obj.get("action_user")
        if (
            method in _CREDENTIAL_METHODS
            and isinstance(user, int)
            and not isinstance(user, bool)
            and 0 <= user < _NO_USER
        ):
            event["credential"] = f"u{user}"
    return event


def _lock_alarms(st: _State, obj: dict[str, Any]) -> list[dict[str, Any]]:
    """Events on the rising edges of a lock's alarm fields."""
    events: list[dict[str, Any]] = []
    if _rising(st, "tamper", obj.get("tamper")):
        events.append({"type": "tamper"})
    door = obj.get("door_state")
    if isinstance(door, str):
        if _rising(st, "forced_open", door == "error_forced_open"):
            events.append({"type": "forced_open"})
        if _rising(st, "jammed", door == "error_jammed"):
            events.append({"type": "jammed"})
    if _rising(st, "battery_low", obj.get("battery_low")):
        low: dict[str, Any] = {"type": "low_battery"}
        if st.battery is not None:
            low["battery"] = st.battery
        events.append(low)
    return events


def _rising(st: _State, key: str, value: object) -> bool:
    """Track boolean ``key``; True when it went from false (or never seen) to true."""
    if not isinstance(value, bool):
        return False
    was = st.flags.get(key, False)
    st.flags[key] = value
    return value and not was


def _percent(value: object) -> float | None:
    """``value`` if it is a battery percentage (a number from 0 to 100), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if 0 <= value <= 100 else None
