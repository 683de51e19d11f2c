"""Edge drivers: Zigbee2MQTT normalisation, tip counting, serial lines, Modbus decoding, configs,
and the serial driver against a real pty."""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import os
import re
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import TypeAdapter, ValidationError

from villagewatch.contract import DeviceKind
from villagewatch.contract.payloads import event_model, telemetry_model
from villagewatch.edge.drivers import (
    BridgedDevice,
    CameraConfig,
    DriverSettings,
    ModbusConfig,
    SerialLineConfig,
    SimulatedLockConfig,
    SimulatedSosConfig,
    SimulatedWaterLevelConfig,
    TippingBucketConfig,
    Zigbee2MqttConfig,
    build_driver,
)
from villagewatch.edge.drivers.modbus import ModbusWaterLevel, decode_registers, level_cm
from villagewatch.edge.drivers.serialline import SerialLineWaterLevel, parse_line
from villagewatch.edge.drivers.simulated import SimulatedLock, SimulatedSos, SimulatedWaterLevel
from villagewatch.edge.drivers.tipping import TipCounter, TippingBucket
from villagewatch.edge.drivers.zigbee2mqtt_payloads import Zigbee2MqttNormaliser
from villagewatch.edge.measurement import Measurement
from villagewatch.runtime.ports import free_port

# --- helpers -------------------------------------------------------------------------------

_STAMP = {"seq": 0, "ts": 1_700_000_000_000, "clock": "synced"}


def assert_contract(kind: DeviceKind, m: Measurement) -> None:
    """The measurement, once stamped, is a valid contract item of a device of ``kind``."""
    item = {**_STAMP, **m.data}
    envelope = {"v": 1, "device": m.device, "boot": "b1"}
    if m.channel == "telemetry":
        telemetry_model(kind).model_validate_json(orjson.dumps({**envelope, "reading": item}))
    else:
        model = event_model(kind)
        assert model is not None
        model.model_validate_json(orjson.dumps({**envelope, "event": item}))


async def until(probe: Callable[[], object], *, within: float = 5, what: str = "it") -> None:
    """Poll ``probe`` on the event loop until it is truthy; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.02)


# --- Zigbee2MQTT normalisation ---------------------------------------------------------------

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


# --- tipping bucket --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("counts", "tips"),
    [
        pytest.param([10, 10, 13, 20], [None, 0, 3, 7], id="steady-counting"),
        pytest.param([0, 0, 1], [None, 0, 1], id="from-zero"),
        pytest.param([100, 105, 2, 4], [None, 5, 2, 2], id="reset-counts-the-new-value"),
        pytest.param([4294967290, 4294967295, 3], [None, 5, 3], id="32-bit-wrap"),
        pytest.param([7, 0, 0], [None, 0, 0], id="reset-to-zero"),
    ],
)
def test_tip_counter(counts: list[int], tips: list[int | None]) -> None:
    counter = TipCounter()
    assert [counter.tips(c) for c in counts] == tips


def test_tip_counter_refuses_a_negative_count() -> None:
    with pytest.raises(ValueError, match="negative"):
        TipCounter().tips(-1)


def _write_count(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)  # atomically: the driver never reads half a number


def test_tipping_bucket_reads_the_counter_file_each_interval(tmp_path: Path) -> None:
    """Zero rain is a reading; a reset counts from zero; an unreadable file is skipped."""
    path = tmp_path / "count"
    _write_count(path, "100\n")
    cfg = TippingBucketConfig(
        driver="tipping_bucket", device="rain-1", counter_file=path, interval_s=0.05
    )
    drv = TippingBucket(cfg)
    got: list[Measurement] = []

    def mm() -> list[float]:
        return [m.data["mm"] for m in got]

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(drv.run(got.append, stop))
        await until(lambda: 0.0 in mm(), what="a dry reading")
        _write_count(path, "103\n")
        await until(lambda: 0.6 in mm(), what="three tips")
        _write_count(path, "garbage")
        await asyncio.sleep(0.2)
        _write_count(path, "1\n")
        await until(lambda: 0.2 in mm(), what="a tip after the reset")
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    assert [v for v in mm() if v] == [0.6, 0.2]
    assert {m.device for m in got} == {"rain-1"}
    for m in got:
        assert_contract(DeviceKind.RAIN_GAUGE, m)


# --- serial lines ----------------------------------------------------------------------------

DEFAULT = re.compile(SerialLineConfig.model_fields["pattern"].default)
DIST = re.compile(r"DIST:(?P<value>\d+)mm")
ANY = re.compile(r"(?P<value>\S+)")


@pytest.mark.parametrize(
    ("line", "pattern", "scale", "offset", "level"),
    [
        pytest.param(b"L=123.4cm\r\n", DEFAULT, 1.0, 0.0, 123.4, id="first-number-on-the-line"),
        pytest.param(b"+0123.4\n", DEFAULT, 1.0, 0.0, 123.4, id="signed-zero-padded"),
        pytest.param(b"-5\n", DEFAULT, 1.0, 0.0, -5.0, id="negative"),
        pytest.param(b"1234\n", DEFAULT, 0.1, 10.0, 133.4, id="scale-and-offset"),
        pytest.param(b"DIST:1500mm\n", DIST, 0.1, 0.0, 150.0, id="custom-pattern-mm-to-cm"),
        pytest.param(b"TEMP:21\n", DIST, 0.1, 0.0, None, id="custom-pattern-other-line"),
        pytest.param(b"ERR\n", DEFAULT, 1.0, 0.0, None, id="no-number"),
        pytest.param(b"\xff\xfe\n", DEFAULT, 1.0, 0.0, None, id="binary-noise"),
        pytest.param(b"nan\n", ANY, 1.0, 0.0, None, id="nan-is-not-a-level"),
        pytest.param(b"inf\n", ANY, 1.0, 0.0, None, id="infinity-is-not-a-level"),
        pytest.param(b"12abc\n", ANY, 1.0, 0.0, None, id="value-group-not-a-number"),
    ],
)
def test_parse_line(
    line: bytes, pattern: re.Pattern[str], scale: float, offset: float, level: float | None
) -> None:
    got = parse_line(line, pattern, scale, offset)
    assert got == (pytest.approx(level) if level is not None else None)


def test_serial_driver_reads_a_pty_joins_split_lines_and_reports_malformed_ones_once_a_minute(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    master, slave = os.openpty()
    now = [1000.0]
    cfg = SerialLineConfig(driver="serial_line", device="wl-1", port=os.ttyname(slave), offset=0.5)
    drv = SerialLineWaterLevel(cfg, clock=lambda: now[0])
    opened = threading.Event()
    real_open = drv._open

    def open_and_tell() -> Any:
        port = real_open()
        opened.set()
        return port

    monkeypatch.setattr(drv, "_open", open_and_tell)
    got: list[Measurement] = []
    caplog.set_level(logging.WARNING)

    def malformed_reports() -> int:
        return sum("malformed" in r.getMessage() for r in caplog.records)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(drv.run(got.append, stop))
        await until(opened.is_set, what="the port open")
        os.write(master, b"L=101.0\r\nbogus\r\nL=10")
        await asyncio.sleep(0.7)  # past the read timeout: the line arrives in two reads
        os.write(master, b"2.0\r\n\r\n")
        await until(lambda: len(got) == 2, what="two readings")
        os.write(master, b"junk\r\nmore junk\r\n")
        await until(lambda: drv.malformed == 3, what="three malformed lines")
        assert malformed_reports() == 1
        now[0] += 61
        os.write(master, b"junk again\r\nL=99\r\n")
        await until(lambda: len(got) == 3, what="the third reading")
        stop.set()
        await asyncio.wait_for(task, 5)

    try:
        asyncio.run(scenario())
    finally:
        os.close(master)
        os.close(slave)
    assert [m.data for m in got] == [{"level_cm": 101.5}, {"level_cm": 102.5}, {"level_cm": 99.5}]
    assert drv.malformed == 4
    assert malformed_reports() == 2
    assert "bogus" not in caplog.text  # lines are data: counted, never echoed


def test_serial_driver_waits_for_a_missing_port_warning_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An unplugged adapter: retried quietly, nothing emitted, read once it is back."""
    path = tmp_path / "ttyUSB9"
    cfg = SerialLineConfig(driver="serial_line", device="wl-1", port=str(path), reopen_s=0.05)
    drv = SerialLineWaterLevel(cfg)
    got: list[Measurement] = []
    caplog.set_level(logging.DEBUG, logger="villagewatch.edge.drivers.serialline")
    master, slave = os.openpty()

    def attempts(level: int) -> int:
        return sum("cannot open" in r.getMessage() and r.levelno == level for r in caplog.records)

    def plug_in_and_write() -> bool:
        if not path.exists():
            path.symlink_to(os.ttyname(slave))
        os.write(master, b"L=42\r\n")  # again and again: opening the port drops what came before
        return bool(got)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(drv.run(got.append, stop))
        await until(lambda: attempts(logging.DEBUG) >= 3, what="retries")
        assert got == []
        await until(plug_in_and_write, what="a reading once the port is there")
        stop.set()
        await asyncio.wait_for(task, 5)

    try:
        asyncio.run(scenario())
    finally:
        os.close(master)
        os.close(slave)
    assert attempts(logging.WARNING) == 1
    assert "open again" in caplog.text
    assert {m.data["level_cm"] for m in got} == {42.0}


# --- Modbus ----------------------------------------------------------------------------------


def _f32(value: float) -> list[int]:
    hi, lo = struct.unpack(">2H", struct.pack(">f", value))
    return [hi, lo]


@pytest.mark.parametrize(
    ("registers", "data_type", "word_order", "value"),
    [
        pytest.param([0xFFFF], "uint16", "big", 65535.0, id="uint16-max"),
        pytest.param([0xFFFF], "int16", "big", -1.0, id="int16-minus-one"),
        pytest.param([0x8000], "int16", "big", -32768.0, id="int16-min"),
        pytest.param([0x0001, 0x0000], "uint32", "big", 65536.0, id="uint32-high-word-first"),
        pytest.param([0x0000, 0x0001], "uint32", "little", 65536.0, id="uint32-low-word-first"),
        pytest.param([0xFFFF, 0xFFFE], "int32", "big", -2.0, id="int32-big"),
        pytest.param([0xFFFE, 0xFFFF], "int32", "little", -2.0, id="int32-little"),
        pytest.param(_f32(123.5), "float32", "big", 123.5, id="float32-big"),
        pytest.param(_f32(123.5)[::-1], "float32", "little", 123.5, id="float32-little"),
        pytest.param(_f32(-0.25), "float32", "big", -0.25, id="float32-negative"),
    ],
)
def test_decode_registers(
    registers: list[int], data_type: Any, word_order: Any, value: float
) -> None:
    assert decode_registers(registers, data_type, word_order) == value


@pytest.mark.parametrize(
    ("registers", "data_type"),
    [
        pytest.param([1], "int32", id="too-few-registers"),
        pytest.param([1, 2], "uint16", id="too-many-registers"),
        pytest.param([0x10000], "uint16", id="not-a-16-bit-word"),
        pytest.param([-1], "int16", id="negative-word"),
    ],
)
def test_decode_registers_refuses_what_the_type_cannot_hold(
    registers: list[int], data_type: Any
) -> None:
    with pytest.raises(ValueError, match="register"):
        decode_registers(registers, data_type, "big")


def _modbus(**fields: Any) -> ModbusConfig:
    return ModbusConfig.model_validate(
        {"driver": "modbus", "device": "wl-1", "host": "127.0.0.1", "address": 0} | fields
    )


@pytest.mark.parametrize(
    ("fields", "registers", "level"),
    [
        pytest.param({}, [1234], 1234.0, id="raw-by-default"),
        pytest.param({"scale": 0.1}, [1234], 123.4, id="mm-to-cm"),
        pytest.param(
            {"scale": 100.0, "offset": -50.0, "data_type": "float32"},
            _f32(1.25),
            75.0,
            id="m-to-cm-below-datum",
        ),
        pytest.param(
            {"data_type": "int16", "offset": 300.0}, [0xFF9C], 200.0, id="signed-with-offset"
        ),
        pytest.param(
            {"data_type": "uint32", "word_order": "little", "scale": 0.01},
            [0x86A0, 0x0001],
            1000.0,
            id="uint32-little-scaled",
        ),
    ],
)
def test_modbus_level_is_raw_times_scale_plus_offset(
    fields: dict[str, Any], registers: list[int], level: float
) -> None:
    assert level_cm(registers, _modbus(**fields)) == pytest.approx(level)


def test_modbus_read_against_nothing_fails_quietly_and_counts() -> None:
    """No server on the port: no reading, no exception, one failure counted."""
    drv = ModbusWaterLevel(_modbus(port=free_port(), timeout_s=0.5))

    async def scenario() -> tuple[float | None, float | None]:
        return await drv.read_level(), await drv.read_level()

    assert asyncio.run(scenario()) == (None, None)
    assert drv.failures == 2


# --- configs and the registry ----------------------------------------------------------------

ADAPTER: TypeAdapter[DriverSettings] = TypeAdapter(DriverSettings)
Z2M_DEVICES = [{"friendly_name": "Front door", "device": "lock-1", "kind": "smart_lock"}]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        pytest.param(
            {"driver": "modbus", "device": "wl-1", "host": "h", "address": 0, "slave": 2},
            "slave",
            id="modbus-unknown-key",
        ),
        pytest.param(
            {"driver": "modbus", "device": "WL 1", "host": "h", "address": 0},
            "device",
            id="modbus-bad-identifier",
        ),
        pytest.param(
            {"driver": "modbus", "device": "wl/1", "host": "h", "address": 0},
            "device",
            id="modbus-slash-in-identifier",
        ),
        pytest.param(
            {"driver": "modbus", "device": "wl-1", "address": 0},
            "exactly one",
            id="modbus-no-transport",
        ),
        pytest.param(
            {
                "driver": "modbus",
                "device": "wl-1",
                "host": "h",
                "serial_port": "/dev/ttyUSB0",
                "address": 0,
            },
            "exactly one",
            id="modbus-two-transports",
        ),
        pytest.param(
            {"driver": "modbus", "device": "wl-1", "host": "h", "address": 70000},
            "address",
            id="modbus-address-out-of-range",
        ),
        pytest.param(
            {
                "driver": "modbus",
                "device": "wl-1",
                "host": "h",
                "address": 0,
                "data_type": "float64",
            },
            "data_type",
            id="modbus-unknown-type",
        ),
        pytest.param(
            {"driver": "serial_line", "device": "wl-1", "port": "/dev/ttyS0", "pattern": r"(\d+)"},
            "value",
            id="serial-pattern-without-value-group",
        ),
        pytest.param(
            {
                "driver": "serial_line",
                "device": "wl-1",
                "port": "/dev/ttyS0",
                "pattern": "(?P<value>",
            },
            "regular expression",
            id="serial-pattern-not-a-regex",
        ),
        pytest.param(
            {
                "driver": "zigbee2mqtt",
                "devices": [{"friendly_name": "a/#", "device": "lock-1", "kind": "smart_lock"}],
            },
            "wildcard|`#`",
            id="z2m-wildcard-in-friendly-name",
        ),
        pytest.param(
            {"driver": "zigbee2mqtt", "devices": Z2M_DEVICES * 2}, "once", id="z2m-duplicate-device"
        ),
        pytest.param(
            {
                "driver": "zigbee2mqtt",
                "devices": [{"friendly_name": "x", "device": "cam-1", "kind": "camera"}],
            },
            "kind",
            id="z2m-not-a-bridged-kind",
        ),
        pytest.param({"driver": "zigbee2mqtt", "devices": []}, "devices", id="z2m-no-devices"),
        pytest.param(
            {"driver": "zigbee2mqtt", "devices": Z2M_DEVICES, "password": "x"},
            "password",
            id="z2m-secret-inline-refused",
        ),
        pytest.param(
            {
                "driver": "tipping_bucket",
                "device": "rain-1",
                "counter_file": "/run/c",
                "mm_per_tip": 0,
            },
            "mm_per_tip",
            id="tipping-zero-per-tip",
        ),
        pytest.param({"driver": "camera", "device": "cam-1"}, "source", id="camera-without-source"),
        pytest.param({"driver": "lidar", "device": "x-1"}, "driver", id="unknown-driver"),
        pytest.param({"device": "wl-1"}, "driver", id="no-driver"),
    ],
)
def test_driver_configs_refuse_mistakes(raw: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        ADAPTER.validate_python(raw)


@pytest.mark.parametrize(
    ("raw", "driver_type", "devices"),
    [
        pytest.param(
            {"driver": "modbus", "device": "wl-1", "serial_port": "/dev/ttyUSB0", "address": 3},
            ModbusWaterLevel,
            ["wl-1"],
            id="modbus",
        ),
        pytest.param(
            {"driver": "serial_line", "device": "wl-2", "port": "/dev/ttyS0"},
            SerialLineWaterLevel,
            ["wl-2"],
            id="serial-line",
        ),
        pytest.param(
            {
                "driver": "zigbee2mqtt",
                "devices": [
                    *Z2M_DEVICES,
                    {"friendly_name": "SOS", "device": "sos-1", "kind": "call_button"},
                ],
            },
            None,
            ["lock-1", "sos-1"],
            id="zigbee2mqtt",
        ),
        pytest.param(
            {"driver": "tipping_bucket", "device": "rain-1", "counter_file": "/run/c"},
            TippingBucket,
            ["rain-1"],
            id="tipping-bucket",
        ),
        pytest.param(
            {"driver": "simulated_water_level", "device": "wl-3"},
            SimulatedWaterLevel,
            ["wl-3"],
            id="simulated-water-level",
        ),
        pytest.param(
            {"driver": "simulated_lock", "device": "lock-2"},
            SimulatedLock,
            ["lock-2"],
            id="simulated-lock",
        ),
        pytest.param(
            {"driver": "simulated_sos", "device": "sos-2"},
            SimulatedSos,
            ["sos-2"],
            id="simulated-sos",
        ),
    ],
)
def test_build_driver_makes_the_configured_driver(
    raw: dict[str, Any], driver_type: type | None, devices: list[str]
) -> None:
    driver = build_driver(ADAPTER.validate_python(raw))
    if driver_type is not None:
        assert isinstance(driver, driver_type)
    assert driver.devices == devices


def test_every_config_field_has_a_description() -> None:
    """The config reference is generated from them."""
    models: list[type[Any]] = [
        ModbusConfig,
        SerialLineConfig,
        Zigbee2MqttConfig,
        BridgedDevice,
        TippingBucketConfig,
        SimulatedWaterLevelConfig,
        SimulatedLockConfig,
        SimulatedSosConfig,
        CameraConfig,
    ]
    missing = [
        f"{m.__name__}.{name}"
        for m in models
        for name, field in m.model_fields.items()
        if not field.description
    ]
    assert missing == []


# --- simulated and camera --------------------------------------------------------------------


def test_simulated_water_level_is_seeded_and_floods_on_time() -> None:
    def levels(**fields: Any) -> list[float]:
        cfg = SimulatedWaterLevelConfig(
            driver="simulated_water_level", device="wl-1", interval_s=60, **fields
        )
        sim = SimulatedWaterLevel(cfg)
        return [sim.sample(step)["level_cm"] for step in range(50)]

    assert levels(seed=1) == levels(seed=1)
    assert levels(seed=1) != levels(seed=2)
    flat = levels(noise_cm=0, amplitude_cm=0, flood_at_s=600, flood_rate_cm_per_min=3)
    assert flat[:11] == [120.0] * 11  # up to and including t = 600 s
    assert flat[11:14] == [123.0, 126.0, 129.0]


def test_simulated_lock_is_seeded_and_speaks_the_contract() -> None:
    def events(seed: int) -> list[dict[str, Any]]:
        sim = SimulatedLock(
            SimulatedLockConfig(driver="simulated_lock", device="lock-1", seed=seed, activity=0.8)
        )
        out = [m for step in range(300) for m in sim.sample(step)]
        for m in out:
            assert_contract(DeviceKind.SMART_LOCK, m)
        return [m.data for m in out]

    first = events(7)
    assert first == events(7)
    assert first != events(8)
    kinds = [e["type"] for e in first if "type" in e]
    assert {"unlock", "lock", "wrong_code"} <= set(kinds)
    doors = [k for k in kinds if k != "wrong_code"]
    assert all(a != b for a, b in itertools.pairwise(doors))  # unlock, lock, unlock …


@pytest.mark.parametrize(
    ("press_every_s", "presses"),
    [
        pytest.param(0.05, True, id="pressed-on-schedule"),
        pytest.param(None, False, id="never-pressed"),
    ],
)
def test_simulated_sos(press_every_s: float | None, presses: bool) -> None:
    cfg = SimulatedSosConfig(
        driver="simulated_sos", device="sos-1", interval_s=60, press_every_s=press_every_s
    )
    drv = SimulatedSos(cfg)
    got: list[Measurement] = []

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(drv.run(got.append, stop))
        if presses:
            await until(lambda: sum(m.channel == "event" for m in got) >= 3, what="three presses")
        else:
            await asyncio.sleep(0.3)
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    assert [m.data for m in got if m.channel == "telemetry"] == [
        {"battery": pytest.approx(100, abs=0.1)}
    ]
    assert all(m.data == {"type": "sos"} for m in got if m.channel == "event")
    assert any(m.channel == "event" for m in got) is presses
    for m in got:
        assert_contract(DeviceKind.CALL_BUTTON, m)
