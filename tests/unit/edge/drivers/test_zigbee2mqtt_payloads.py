"""Zigbee2MQTT normalisation: bridged messages become contract measurements."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest

from tests.unit.edge.drivers.helpers import assert_contract
from villagewatch.contract import DeviceKind
from villagewatch.edge.drivers import BridgedDevice
from villagewatch.edge.drivers.zigbee2mqtt_payloads import Zigbee2MqttNormaliser
from villagewatch.edge.measurement import Measurement

LOCK = BridgedDevice(friendly_name="Front door", device="lock-1", kind="smart_lock")
BUTTON = BridgedDevice(friendly_name="sos/kitchen", device="sos-1", kind="call_button")
CLICKER = BridgedDevice(
    friendly_name="Bedroom button", device="sos-2", kind="call_button", sos_actions=["single"]
)
KINDS = {
    "lock-1": DeviceKind.SMART_LOCK,
    "sos-1": DeviceKind.CALL_BUTTON,
    "sos-2": DeviceKind.CALL_BUTTON,
}
MERGE_S = 3.0


def lock(**fields: Any) -> dict[str, Any]:
    """A lock message as Zigbee2MQTT publishes it: the whole cached state plus what changed."""
    return {"battery": 87, "linkquality": 120, "lock_state": "locked", "state": "LOCK"} | fields


def unlocked(**fields: Any) -> dict[str, Any]:
    return lock(lock_state="unlocked", state="UNLOCK", **fields)


def button(**fields: Any) -> dict[str, Any]:
    return {"battery": 100, "linkquality": 60, "voltage": 3000} | fields


Step = tuple[float, BridgedDevice, dict[str, Any] | bytes]
Out = tuple[str, str, dict[str, Any]]


def normalise(steps: list[Step]) -> list[Out]:
    """Feed the steps (time, device, payload), flushing as a driver would, then flush all."""
    z = Zigbee2MqttNormaliser([LOCK, BUTTON, CLICKER], merge_s=MERGE_S)
    out: list[Measurement] = []
    for at, dev, payload in steps:
        out += z.flush(at)
        raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        out += z.feed(dev.friendly_name, raw, at)
    out += z.flush(math.inf)
    for m in out:
        assert_contract(KINDS[m.device], m)
    return [(m.device, m.channel, m.data) for m in out]


BATTERY_87 = ("lock-1", "telemetry", {"battery": 87})
BATTERY_100 = ("sos-1", "telemetry", {"battery": 100})


def ev(device: str, **data: Any) -> Out:
    return (device, "event", data)


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        pytest.param(
            [
                (0, LOCK, lock()),
                (
                    10,
                    LOCK,
                    lock(
                        action="unlock", action_source=0, action_source_name="keypad", action_user=3
                    ),
                ),
                (11, LOCK, unlocked(action="")),
            ],
            [BATTERY_87, ev("lock-1", type="unlock", method="code", credential="u3")],
            id="keypad-unlock-then-its-state-report-is-one-unlock-with-who",
        ),
        pytest.param(
            [
                (0, LOCK, lock()),
                (10, LOCK, unlocked()),
                (
                    11,
                    LOCK,
                    unlocked(
                        action="unlock", action_source=3, action_source_name="rfid", action_user=12
                    ),
                ),
            ],
            [BATTERY_87, ev("lock-1", type="unlock", method="card", credential="u12")],
            id="state-report-before-the-action-still-one-unlock-with-who",
        ),
        pytest.param(
            [
                (0, LOCK, lock()),
                (10, LOCK, lock(action="unlock", action_source_name="keypad", action_user=3)),
                (10.5, LOCK, unlocked()),
                (11, LOCK, lock()),
                (12, LOCK, unlocked()),
            ],
            [
                BATTERY_87,
                ev("lock-1", type="unlock", method="code", credential="u3"),
                ev("lock-1", type="lock"),
                ev("lock-1", type="unlock"),
            ],
            id="an-action-is-echoed-once-later-quick-changes-are-events",
        ),
        pytest.param(
            [(0, LOCK, lock()), (10, LOCK, unlocked()), (20, LOCK, unlocked())],
            [BATTERY_87, ev("lock-1", type="unlock")],
            id="state-change-without-action-is-a-plain-unlock-after-the-merge-window",
        ),
        pytest.param(
            [
                (0, LOCK, lock()),
                (10, LOCK, unlocked()),
                (11, LOCK, lock(action="lock", action_source_name="keypad", action_user=4)),
            ],
            [
                BATTERY_87,
                ev("lock-1", type="unlock"),
                ev("lock-1", type="lock", method="code", credential="u4"),
            ],
            id="a-waiting-change-goes-out-before-an-opposite-action",
        ),
        pytest.param(
            [(0, LOCK, lock()), (1, LOCK, lock()), (2, LOCK, lock(linkquality=90))],
            [BATTERY_87],
            id="repeated-state-reports-are-not-events",
        ),
        pytest.param(
            [(0, LOCK, unlocked())],
            [BATTERY_87],
            id="the-first-state-seen-is-a-baseline",
        ),
        pytest.param(
            [
                (0, LOCK, unlocked()),
                (
                    5,
                    LOCK,
                    unlocked(
                        action="auto_lock",
                        action_source=2,
                        action_source_name="manual",
                        action_user=0,
                    ),
                ),
            ],
            [BATTERY_87, ev("lock-1", type="lock", method="key")],
            id="auto-lock-reported-as-manual-source-has-no-credential",
        ),
        pytest.param(
            [
                (0, LOCK, unlocked(action="one_touch_lock")),
                (1, LOCK, lock(action="manual_unlock", action_user=0)),
            ],
            [ev("lock-1", type="lock"), BATTERY_87, ev("lock-1", type="unlock", method="key")],
            id="one-touch-lock-has-no-method-thumbturn-is-key",
        ),
        pytest.param(
            [
                (0, LOCK, lock(action="keypad_unlock", action_user=2)),
                (30, LOCK, lock(action="rf_unlock")),
                (60, LOCK, lock(action="fingerprint_unlock", action_user=9)),
            ],
            [
                ev("lock-1", type="unlock", method="code", credential="u2"),
                BATTERY_87,
                ev("lock-1", type="unlock", method="remote"),
                ev("lock-1", type="unlock", method="fingerprint", credential="u9"),
            ],
            id="source-prefixed-actions",
        ),
        pytest.param(
            [
                (
                    0,
                    LOCK,
                    lock(
                        action="unlock_failure_invalid_pin_or_id",
                        action_source=0,
                        action_source_name="keypad",
                        action_user=65535,
                    ),
                ),
                (
                    1,
                    LOCK,
                    lock(
                        action="unlock_failure_invalid_pin_or_id",
                        action_source=3,
                        action_source_name="rfid",
                        action_user=7,
                    ),
                ),
                (
                    2,
                    LOCK,
                    lock(
                        action="lock_failure_invalid_schedule",
                        action_source_name="keypad",
                        action_user=5,
                    ),
                ),
            ],
            [
                ev("lock-1", type="wrong_code", method="code"),
                BATTERY_87,
                ev("lock-1", type="wrong_code", method="card", credential="u7"),
                ev("lock-1", type="wrong_code", method="code", credential="u5"),
            ],
            id="invalid-pin-card-or-schedule-is-wrong-code-no-user-id-no-credential",
        ),
        pytest.param(
            [
                (0, LOCK, lock(tamper=False)),
                (1, LOCK, lock(tamper=True)),
                (2, LOCK, lock(tamper=True)),
                (3, LOCK, lock(tamper=False)),
                (4, LOCK, lock(tamper=True)),
            ],
            [BATTERY_87, ev("lock-1", type="tamper"), ev("lock-1", type="tamper")],
            id="tamper-once-per-rising-edge",
        ),
        pytest.param(
            [(0, LOCK, lock(tamper=True))],
            [ev("lock-1", type="tamper"), BATTERY_87],
            id="tamper-true-first-seen-counts",
        ),
        pytest.param(
            [
                (0, LOCK, lock(action="tamper")),
                (1, LOCK, lock(action="forced")),
                (2, LOCK, lock(action="jammed")),
            ],
            [
                ev("lock-1", type="tamper"),
                BATTERY_87,
                ev("lock-1", type="forced_open"),
                ev("lock-1", type="jammed"),
            ],
            id="alarm-actions",
        ),
        pytest.param(
            [
                (0, LOCK, lock(door_state="closed")),
                (1, LOCK, lock(door_state="error_forced_open")),
                (2, LOCK, lock(door_state="error_forced_open")),
                (3, LOCK, lock(door_state="error_jammed")),
                (4, LOCK, lock(door_state="closed")),
            ],
            [BATTERY_87, ev("lock-1", type="forced_open"), ev("lock-1", type="jammed")],
            id="door-state-errors-on-rising-edges",
        ),
        pytest.param(
            [
                (0, LOCK, lock(battery=9, battery_low=False)),
                (1, LOCK, lock(battery=8, battery_low=True)),
                (2, LOCK, lock(battery=8, battery_low=True)),
            ],
            [
                ("lock-1", "telemetry", {"battery": 9}),
                ev("lock-1", type="low_battery", battery=8),
                ("lock-1", "telemetry", {"battery": 8}),
            ],
            id="battery-low-is-one-low-battery-event-with-the-level",
        ),
        pytest.param(
            [
                (0, LOCK, lock(battery=80)),
                (10, LOCK, lock(battery=80)),
                (20, LOCK, lock(battery=79.5)),
                (3000, LOCK, lock(battery=79.5)),
                (3620, LOCK, lock(battery=79.5)),
            ],
            [
                ("lock-1", "telemetry", {"battery": 80}),
                ("lock-1", "telemetry", {"battery": 79.5}),
                ("lock-1", "telemetry", {"battery": 79.5}),
            ],
            id="battery-on-change-or-hourly",
        ),
        pytest.param(
            [
                (0, LOCK, {"battery": 255}),
                (1, LOCK, {"battery": "87"}),
                (2, LOCK, {"battery": True}),
                (3, LOCK, {"battery": None}),
            ],
            [],
            id="battery-out-of-range-or-not-a-number-is-ignored",
        ),
        pytest.param(
            [
                (0, LOCK, lock(action="pin_code_added", action_user=3)),
                (1, LOCK, lock(action="unknown")),
                (
                    2,
                    LOCK,
                    lock(
                        action="non_access_user_operational_event",
                        users={"3": {"status": "enabled"}},
                        sound_volume="low_volume",
                    ),
                ),
            ],
            [BATTERY_87],
            id="programming-and-unknown-actions-and-unknown-fields-are-ignored",
        ),
        pytest.param(
            [
                (0, LOCK, b"not json"),
                (1, LOCK, b"[1, 2]"),
                (2, LOCK, b""),
                (3, LOCK, b'"LOCK"'),
                (4, LOCK, b"\xff\xfe"),
            ],
            [],
            id="non-json-and-non-object-payloads-are-skipped",
        ),
        pytest.param(
            [
                (0, BUTTON, button()),
                (5, BUTTON, button(action="emergency")),
                (6, BUTTON, button()),
                (9, BUTTON, button(action="sos")),
            ],
            [BATTERY_100, ev("sos-1", type="sos"), ev("sos-1", type="sos")],
            id="tuya-button-emergency-and-sos-actions",
        ),
        pytest.param(
            [
                (0, BUTTON, button(sos=False, tamper=False, battery_low=False)),
                (1, BUTTON, button(sos=True, tamper=False, battery_low=False)),
                (2, BUTTON, button(sos=True, tamper=False, battery_low=False)),
                (3, BUTTON, button(sos=False)),
                (4, BUTTON, button(sos=True)),
            ],
            [BATTERY_100, ev("sos-1", type="sos"), ev("sos-1", type="sos")],
            id="ias-zone-sos-true-once-per-rising-edge",
        ),
        pytest.param(
            [(0, BUTTON, button(alarm=True)), (1, BUTTON, button(alarm=True, action="emergency"))],
            [ev("sos-1", type="sos"), BATTERY_100, ev("sos-1", type="sos")],
            id="alarm-true-edge-and-a-press-one-sos-each",
        ),
        pytest.param(
            [(0, BUTTON, button(action="single", tamper=True, battery_low=True))],
            [BATTERY_100],
            id="a-button-click-tamper-or-low-battery-is-no-sos-event",
        ),
        pytest.param(
            [(0, CLICKER, button(action="single")), (1, CLICKER, button(action="double"))],
            [ev("sos-2", type="sos"), ("sos-2", "telemetry", {"battery": 100})],
            id="configured-sos-actions-for-a-clicking-button",
        ),
    ],
)
def test_zigbee2mqtt_payloads_become_contract_measurements(
    steps: list[Step], expected: list[Out]
) -> None:
    assert normalise(steps) == expected


def test_zigbee2mqtt_counts_bad_payloads_and_ignores_unknown_devices() -> None:
    z = Zigbee2MqttNormaliser([LOCK])
    assert z.feed("Front door", b"{oops", 0) == []
    assert z.feed("Front door", b"17", 0) == []
    assert z.feed("Back door", orjson.dumps(lock(action="unlock")), 0) == []
    assert z.skipped == 2


def test_zigbee2mqtt_state_change_waits_for_its_action_until_flushed() -> None:
    """The plain event leaves at flush time, not before the merge window ends."""
    z = Zigbee2MqttNormaliser([LOCK], merge_s=MERGE_S)
    z.feed("Front door", orjson.dumps(lock()), 0)
    assert z.feed("Front door", orjson.dumps(unlocked()), 10) == []
    assert z.flush(10 + MERGE_S / 2) == []
    assert [m.data for m in z.flush(10 + MERGE_S)] == [{"type": "unlock"}]
    assert z.flush(100) == []
