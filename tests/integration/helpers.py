"""Helpers shared by the integration tests: deployments, publishing, an ingester process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Self, TypeVar

import httpx
import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from villagewatch_dev.servers import free_port

T = TypeVar("T")
NOW_MS = int(time.time() * 1000)


def write_deployment(
    directory: Path,
    *,
    mqtt_port: int,
    store: dict[str, Any],
    devices: int = 10,
    ingest: dict[str, Any] | None = None,
    detect: dict[str, Any] | None = None,
    village_detect: dict[str, Any] | None = None,
    simulate: dict[str, Any] | None = None,
    protocol: str = "5",
    registry: dict[str, Any] | None = None,
    edit_village: Callable[[dict[str, Any]], None] | None = None,
) -> Path:
    """A settings file plus one village ``testvil`` with water gauges wl-000…, a lock and a
    button; ``detect``, ``village_detect`` and ``simulate`` fill those sections, and
    ``edit_village`` may change the village (a dict) before it is written."""
    directory.mkdir(parents=True, exist_ok=True)
    village = {
        "id": "testvil",
        "name": "Test village",
        "town": "testtown",
        "grids": [{"id": "g1", "name": "one"}, {"id": "g2", "name": "two", "parent": "g1"}],
        "devices": [
            {"id": f"wl-{i:03d}", "kind": "water_level", "grid": "g1" if i % 2 else "g2"}
            for i in range(devices)
        ]
        + [
            {"id": "lock-1", "kind": "smart_lock", "grid": "g2"},
            {"id": "sos-1", "kind": "call_button", "grid": "g1"},
        ],
        "detect": village_detect or {},
    }
    if edit_village is not None:
        edit_village(village)
    (directory / "village.yaml").write_bytes(orjson.dumps(village))  # JSON is YAML
    settings = {
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "protocol": protocol},
        "store": store,
        # evidence_min_free_percent 0: whether a test's picture is saved must not depend on how
        # full this machine's disk happens to be (a shared disk under 10 % free refused them
        # all); the free-share rule has tests of its own, and test_full_disk fills a real disk.
        "ingest": {
            "client_id": f"vw-test-{free_port()}",
            "evidence_min_free_percent": 0,
            **(ingest or {}),
        },
        "detect": {"client_id": f"vw-detect-{free_port()}", **(detect or {})},
        "simulate": simulate or {},
        "registry": registry or {},
        "villages": ["village.yaml"],
    }
    path = directory / "settings.yaml"
    path.write_bytes(orjson.dumps(settings))
    return path


def edit_json(path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Change a config file (JSON is YAML) as an apply does: a whole new file, renamed over
    the old one."""
    doc = orjson.loads(path.read_bytes())
    edit(doc)
    tmp = path.with_name(f".{path.name}.new")
    tmp.write_bytes(orjson.dumps(doc))
    tmp.replace(path)


def reading(
    device: str, seq: int, *, level: float = 100.0, ts: int | None = None, boot: str = "b1"
) -> tuple[str, bytes]:
    """Topic and payload of one water-level reading."""
    item = {
        "seq": seq,
        "ts": NOW_MS - 3_600_000 + seq if ts is None else ts,
        "clock": "synced",
        "level_cm": level,
    }
    body = {"v": 1, "device": device, "boot": boot, "reading": item}
    return f"vw/v1/testvil/{device}/telemetry", orjson.dumps(body)


def publish_all(
    port: int,
    messages: Iterable[tuple[str, bytes]],
    *,
    qos: int = 1,
    pace: float | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Publish every message and wait for the broker's acks; ``pace`` = messages per second."""
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"pub-{free_port()}", protocol=paho.MQTTv5
    )
    client.max_inflight_messages_set(500)
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = []
    started = time.monotonic()
    try:
        for n, (topic, payload) in enumerate(messages):
            if stop is not None and stop.is_set():
                break
            if pace is not None:
                delay = started + n / pace - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            infos.append(client.publish(topic, payload, qos=qos))
        for info in infos:
            info.wait_for_publish(timeout=120)
            assert info.is_published() or qos == 0, "broker did not acknowledge a publish"
    finally:
        close_threaded(client)
    return len(infos)


def wait_until(
    probe: Callable[[], T], *, timeout: float, interval: float = 0.1, what: str = "condition"
) -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T = probe()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {last!r}")
        time.sleep(interval)
        last = probe()
    return last


class ServiceProcess:
    """A ``villagewatch`` service as a child process, with its metrics on a loopback port."""

    command = ""
    connected_metric = ""

    def __init__(
        self, settings: Path, metrics_port: int, *, env: dict[str, str] | None = None
    ) -> None:
        self.settings = settings
        self.metrics_port = metrics_port
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = settings.parent / f"{self.command}.log"
        self.env = env or {}

    def start(self) -> Self:
        """Start and wait until it is connected to the broker."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "villagewatch",
                    self.command,
                    "--config",
                    str(self.settings),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        wait_until(
            lambda: self.metric(self.connected_metric) == 1 or not self.alive(),
            timeout=30,
            what=f"{self.command} connected",
        )
        assert self.alive(), f"{self.command} exited:\n{self.log_text()}"
        return self

    def metric(self, name: str, labels: str = "") -> float | None:
        """A sample from the ingester's /metrics, or None while it can't be read."""
        try:
            text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2).text
        except httpx.HTTPError:
            return None
        key = f"{name}{{{labels}}}" if labels else name
        for line in text.splitlines():
            if line.startswith(key + " "):
                return float(line.split()[-1])
        return None

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no flush, no goodbye."""
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM and wait for a clean exit; returns the exit code."""
        assert self.proc is not None
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def log_text(self) -> str:
        """What the process logged."""
        return self.log.read_text(errors="replace")


class IngesterProcess(ServiceProcess):
    """``villagewatch ingest``."""

    command = "ingest"
    connected_metric = "villagewatch_ingest_broker_connected"


class DetectProcess(ServiceProcess):
    """``villagewatch detect``."""

    command = "detect"
    connected_metric = "villagewatch_detect_broker_connected"


def publish_through_outages(
    port: int,
    messages: list[tuple[str, bytes]],
    *,
    pace: float,
    timeout: float = 120,
    protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5,
    login: tuple[str, str] | None = None,
) -> None:
    """Publish at ``pace``/s and wait until the broker has acknowledged every message,
    riding out broker restarts (paho keeps QoS 1 messages it could not send yet);
    ``login``: (user name, password) to sign in with."""
    acked = threading.Semaphore(0)
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"pub-{free_port()}", protocol=protocol
    )
    if login is not None:
        client.username_pw_set(*login)
    client.reconnect_delay_set(min_delay=1, max_delay=2)
    client.max_inflight_messages_set(200)
    client.on_publish = lambda *_: acked.release()
    client.connect("127.0.0.1", port)
    client.loop_start()
    started = time.monotonic()
    try:
        for n, (topic, payload) in enumerate(messages):
            delay = started + n / pace - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            client.publish(topic, payload, qos=1)
        deadline = time.monotonic() + timeout
        for _ in messages:
            assert acked.acquire(timeout=max(0.0, deadline - time.monotonic())), (
                "publishes not acknowledged"
            )
    finally:
        close_threaded(client)


def stored_readings(influx: Any, db: str) -> int:
    """How many readings (points with a level) the database holds."""
    rows = influx.rows("SELECT count(level_cm) FROM readings", db=db)
    return int(rows[0]["count"]) if rows else 0


def seqs_and_points_per_device(influx: Any, db: str) -> set[tuple[int, int]]:
    """{(distinct seqs, points)} over the devices: one pair, equal numbers, when exactly once."""
    rows = influx.rows(
        "SELECT count(distinct(seq)) AS seqs, count(seq) AS points FROM readings GROUP BY device",
        db=db,
    )
    return {(int(r["seqs"]), int(r["points"])) for r in rows}


class AlertsProcess(ServiceProcess):
    """``villagewatch alerts run`` (connected: its metrics answer; it has no broker)."""

    command = "alerts run"
    connected_metric = "villagewatch_alerts_outbox_queued"

    def start(self) -> Self:
        """Start and wait until its metrics answer."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "villagewatch", "alerts", "run", "--config",
                 str(self.settings)],
                stdout=log, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip
        wait_until(
            lambda: self.metric(self.connected_metric) is not None or not self.alive(),
            timeout=30,
            what="alerts run answering",
        )
        assert self.alive(), f"alerts run exited:\n{self.log_text()}"
        return self


FAKETIME_LIB = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


class SteppedClock:
    """A system clock a child process sees, stepped at will (libfaketime; monotonic untouched)."""

    def __init__(self, directory: Path) -> None:
        self.file = directory / "faketime"
        self.file.write_text("+0\n")

    @property
    def env(self) -> dict[str, str]:
        """Environment that puts a child process on this clock."""
        return {
            "LD_PRELOAD": str(FAKETIME_LIB),
            "FAKETIME_TIMESTAMP_FILE": str(self.file),
            "FAKETIME_NO_CACHE": "1",
            "DONT_FAKE_MONOTONIC": "1",
        }

    def step(self, offset: str) -> None:
        """Move the clock to ``offset`` from the real time (libfaketime's ``+6h``, ``-1d``, ``+0``)."""
        self.file.write_text(offset + "\n")


def distinct_and_points(influx: Any, db: str) -> tuple[int, int]:
    """(distinct (device, seq) pairs, points) of the readings stored: lost is offered minus
    the first, duplicated the second minus the first."""
    rows = influx.rows(
        "SELECT count(distinct(seq)) AS seqs, count(seq) AS points FROM readings GROUP BY device",
        db=db,
    )
    return sum(int(r["seqs"]) for r in rows), sum(int(r["points"]) for r in rows)


def close_threaded(client: paho.Client) -> None:
    """Disconnect a test's client run by ``loop_start``, stop its thread and close its sockets
    now (villagewatch's own clients run in the event loop, ``mqtt.ClientInLoop``).

    paho leaves the connection open when the thread stops before it sent the DISCONNECT, and
    keeps ``loop_start``'s wake-up socket pair until the client is garbage collected; a test
    that makes many clients would otherwise hold them until then.
    """
    with contextlib.suppress(Exception):
        client.disconnect()
    client.loop_stop()
    reset: Callable[[], None] | None = getattr(client, "_reset_sockets", None)
    if reset is not None:
        with contextlib.suppress(OSError):
            reset()
