"""Edge drivers against real peers: a pymodbus Modbus TCP server that comes and goes, and
Zigbee2MQTT-shaped messages through a real Mosquitto."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import orjson
import pytest
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from villagewatch.edge.drivers import BridgedDevice, ModbusConfig, Zigbee2MqttConfig
from villagewatch.edge.drivers.modbus import ModbusWaterLevel
from villagewatch.edge.drivers.zigbee2mqtt import Zigbee2Mqtt
from villagewatch.edge.measurement import Driver, Measurement
from villagewatch.runtime.ports import free_port
from villagewatch_dev.servers import Mosquitto

from .helpers import publish_all, wait_until

T = TypeVar("T")


class LoopThread:
    """An event loop in a thread: the driver (and the Modbus server) run there while the test
    body waits with the plain ``wait_until``."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        """Run ``coro`` on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self, driver: Driver, got: list[Measurement]) -> tuple[asyncio.Event, Any]:
        """Start ``driver.run``, collecting into ``got``; returns its stop event and future."""

        async def make_stop() -> asyncio.Event:
            return asyncio.Event()

        stop = self.call(make_stop())
        return stop, asyncio.run_coroutine_threadsafe(driver.run(got.append, stop), self.loop)

    def stop(self, stop: asyncio.Event, future: concurrent.futures.Future[None]) -> None:
        """Set ``stop`` and wait for the driver to return (re-raising what it raised)."""
        self.loop.call_soon_threadsafe(stop.set)
        future.result(10)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.close()


# --- Modbus ----------------------------------------------------------------------------------

ADDRESS = 100


async def start_modbus_server(port: int, words: list[int]) -> ModbusTcpServer:
    """A Modbus TCP server for unit 1 whose holding registers from ADDRESS hold ``words``."""
    device = SimDevice(
        id=1,
        simdata=[
            SimData(address=ADDRESS, count=len(words), values=words, datatype=DataType.REGISTERS)
        ],
    )
    server = ModbusTcpServer(device, address=("127.0.0.1", port))
    await server.serve_forever(background=True)
    return server


def test_modbus_driver_follows_the_register_and_survives_the_server_going_away(
    loop_thread: LoopThread,
) -> None:
    port = free_port()
    server = loop_thread.call(start_modbus_server(port, [0x0000, 1234]))
    cfg = ModbusConfig(
        driver="modbus",
        device="wl-bridge",
        host="127.0.0.1",
        port=port,
        unit=1,
        address=ADDRESS,
        data_type="int32",
        scale=0.1,
        offset=50.0,
        interval_s=0.05,
        timeout_s=0.5,
    )
    driver = ModbusWaterLevel(cfg)
    got: list[Measurement] = []

    def levels() -> list[float]:
        return [round(m.data["level_cm"], 6) for m in got]

    stop, running = loop_thread.start(driver, got)
    try:
        wait_until(lambda: len(got) >= 3, timeout=10, what="three readings")
        assert set(levels()) == {173.4}  # 1234 * 0.1 + 50

        # the gauge's value changes: -2 as int32, high word first
        loop_thread.call(server.async_setValues(1, 16, ADDRESS, [0xFFFF, 0xFFFE]))
        wait_until(lambda: levels()[-1] == 49.8, timeout=10, what="the new value")

        loop_thread.call(server.shutdown())
        wait_until(lambda: driver.failures >= 1, timeout=10, what="a failed read")
        during = len(got)
        wait_until(lambda: driver.failures >= 5, timeout=10, what="more failed reads")
        assert len(got) == during  # nothing emitted for a failed read
        assert not running.done()

        server = loop_thread.call(start_modbus_server(port, [0x0000, 2000]))
        wait_until(lambda: levels()[-1] == 250.0, timeout=15, what="readings after the restart")
        assert driver.failures == 0
        assert {m.device for m in got} == {"wl-bridge"}
        assert {m.channel for m in got} == {"telemetry"}
    finally:
        loop_thread.stop(stop, running)
        loop_thread.call(server.shutdown())


def test_modbus_error_response_is_a_failed_read_not_a_reading(loop_thread: LoopThread) -> None:
    """Asking a unit the server doesn't have gets an exception response: skipped, counted."""
    port = free_port()
    server = loop_thread.call(start_modbus_server(port, [42]))
    cfg = ModbusConfig(
        driver="modbus", device="wl-1", host="127.0.0.1", port=port, unit=7, address=ADDRESS
    )
    wrong_unit = ModbusWaterLevel(cfg)
    right_unit = ModbusWaterLevel(cfg.model_copy(update={"unit": 1}))

    async def close_both() -> None:
        wrong_unit.close()
        right_unit.close()

    try:
        assert loop_thread.call(wrong_unit.read_level()) is None
        assert wrong_unit.failures == 1
        assert loop_thread.call(right_unit.read_level()) == 42.0
        assert right_unit.failures == 0
    finally:
        loop_thread.call(close_both())
        loop_thread.call(server.shutdown())


# --- Zigbee2MQTT -----------------------------------------------------------------------------

DOOR = BridgedDevice(friendly_name="Front door", device="lock-3", kind="smart_lock")
SOS = BridgedDevice(friendly_name="Kitchen SOS", device="sos-3", kind="call_button")


def z2m(dev: BridgedDevice, **state: Any) -> tuple[str, bytes]:
    """A message as Zigbee2MQTT publishes it on the device's topic."""
    return f"zigbee2mqtt/{dev.friendly_name}", orjson.dumps(state)


def door(**fields: Any) -> tuple[str, bytes]:
    cached = {"battery": 90, "linkquality": 96, "lock_state": "locked", "state": "LOCK"}
    return z2m(DOOR, **(cached | fields))


def test_zigbee2mqtt_driver_emits_exactly_the_normalised_measurements(
    mosquitto: Mosquitto, loop_thread: LoopThread
) -> None:
    cfg = Zigbee2MqttConfig(
        driver="zigbee2mqtt", port=mosquitto.port, merge_s=2.0, devices=[DOOR, SOS]
    )
    driver = Zigbee2Mqtt(cfg)
    got: list[Measurement] = []

    def seen() -> list[tuple[str, str, dict[str, Any]]]:
        return [(m.device, m.channel, m.data) for m in got]

    stop, running = loop_thread.start(driver, got)
    try:
        # the bridge's retained-less state, repeated until the driver is subscribed: repeats
        # of an unchanged state make nothing, so only the first one that arrives counts
        baseline = [door(), z2m(SOS, battery=100, linkquality=60)]
        wait_until(
            lambda: publish_all(mosquitto.port, baseline) and len(got) >= 2,
            timeout=20,
            what="the driver subscribed",
        )
        assert sorted(seen()) == [
            ("lock-3", "telemetry", {"battery": 90}),
            ("sos-3", "telemetry", {"battery": 100}),
        ]
        del got[:]
        publish_all(
            mosquitto.port,
            [
                door(action="unlock", action_source=0, action_source_name="keypad", action_user=3),
                door(action="", lock_state="unlocked", state="UNLOCK"),
                door(lock_state="unlocked", state="UNLOCK"),
                door(
                    action="unlock_failure_invalid_pin_or_id",
                    action_source=0,
                    action_source_name="keypad",
                    action_user=65535,
                    lock_state="unlocked",
                    state="UNLOCK",
                ),
                z2m(SOS, action="emergency", battery=100, linkquality=60),
                door(battery=89),  # locked by hand: a state change with no action
                ("zigbee2mqtt/Front door", b"not json"),
                z2m(SOS, battery=100, linkquality=58),
                ("zigbee2mqtt/Back door", orjson.dumps({"action": "unlock"})),  # not ours
            ],
        )
        expected = [
            ("lock-3", "event", {"type": "unlock", "method": "code", "credential": "u3"}),
            ("lock-3", "event", {"type": "wrong_code", "method": "code"}),
            ("sos-3", "event", {"type": "sos"}),
            ("lock-3", "telemetry", {"battery": 89}),
            ("lock-3", "event", {"type": "lock"}),
        ]
        wait_until(lambda: len(got) >= len(expected), timeout=10, what="the measurements")
        wait_until(lambda: driver.normaliser.skipped == 1, timeout=10, what="the bad payload")
    finally:
        loop_thread.stop(stop, running)
    assert seen() == expected


def test_zigbee2mqtt_driver_resubscribes_after_the_broker_restarts(
    mosquitto: Mosquitto, loop_thread: LoopThread
) -> None:
    """The local broker going away loses the subscription; the driver makes it again."""
    cfg = Zigbee2MqttConfig(driver="zigbee2mqtt", port=mosquitto.port, devices=[SOS])
    driver = Zigbee2Mqtt(cfg)
    got: list[Measurement] = []

    def presses() -> int:
        return sum(m.channel == "event" for m in got)

    stop, running = loop_thread.start(driver, got)
    try:
        press = [z2m(SOS, action="emergency", battery=100)]
        wait_until(
            lambda: publish_all(mosquitto.port, press) and presses() >= 1,
            timeout=20,
            what="a press before the restart",
        )
        mosquitto.kill()
        mosquitto.start()
        before = presses()
        wait_until(
            lambda: publish_all(mosquitto.port, press) and presses() > before,
            timeout=30,
            what="a press after the restart",
        )
        assert not running.done()
    finally:
        loop_thread.stop(stop, running)
    assert {(m.device, m.channel) for m in got} == {("sos-3", "event"), ("sos-3", "telemetry")}
