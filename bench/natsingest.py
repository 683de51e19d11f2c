"""Benchmark: readings/s through MQTT → NATS JetStream (three nodes) → one ingester → SQLite,
beside the same load through MQTT → Mosquitto → one ingester → SQLite, in the same run
(prints figures; not a test).

Two modes per path and message shape (single readings; edge batches of 50):

* sustained — publishers (threads of this process, ``--publishers`` MQTT connections at
  QoS 1, spread over the NATS nodes) and the ingester run at once; timed from the first
  publish until the ingester has stored everything;
* drain — everything is published while the ingester is stopped (its durable consumer, or
  its persistent Mosquitto session, keeps it), then the ingester is started and timed.

Devices speak MQTT 3.1.1 to NATS (its MQTT listener has no MQTT 5) and MQTT 5 to
Mosquitto. Lost and duplicated readings are counted in the SQLite file by (device, seq).

    .venv/bin/python bench/natsingest.py
    .venv/bin/python bench/natsingest.py --messages 2000 --shape single
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from villagewatch.contract import Channel, encode_items, topic_for
from villagewatch_dev.natscluster import NatsCluster
from villagewatch_dev.servers import Mosquitto, free_port, wait_for_port

DEVICES = 200


def payloads(messages: int, per_message: int) -> list[tuple[str, bytes]]:
    """The load: ``messages`` telemetry messages of ``per_message`` readings each."""
    now = int(time.time() * 1000)
    out = []
    for i in range(messages):
        device = f"wl-{i % DEVICES:04d}"
        seq0 = (i // DEVICES) * per_message
        items = [
            {"seq": seq0 + k, "ts": now - 60_000 + k, "clock": "synced", "level_cm": float(k)}
            for k in range(per_message)
        ]
        body = encode_items(device=device, boot="bench", channel=Channel.TELEMETRY, items=items)
        out.append((topic_for("bench", device, Channel.TELEMETRY), body))
    return out


def write_settings(directory: Path, *, mqtt_port: int, bus: dict[str, object]) -> Path:
    """A deployment with one village of DEVICES gauges and an SQLite store."""
    directory.mkdir(parents=True, exist_ok=True)
    village = {
        "id": "bench",
        "name": "bench",
        "town": "bench",
        "grids": [{"id": "g1", "name": "one"}],
        "devices": [
            {"id": f"wl-{d:04d}", "kind": "water_level", "grid": "g1"} for d in range(DEVICES)
        ],
    }
    (directory / "village.yaml").write_bytes(orjson.dumps(village))
    settings = {
        # NATS's MQTT listener has no MQTT 5
        "mqtt": {
            "host": "127.0.0.1",
            "port": mqtt_port,
            "protocol": "3.1.1" if bus["kind"] == "nats" else "5",
        },
        "store": {"kind": "sqlite", "path": str(directory / "store.db")},
        "ingest": {"client_id": "bench-ingest", "metrics_port": free_port(), "bus": bus},
        "villages": ["village.yaml"],
    }
    path = directory / "settings.yaml"
    path.write_bytes(orjson.dumps(settings))
    return path


class Ingester:
    """``villagewatch ingest`` as a child process."""

    def __init__(self, settings: Path) -> None:
        self.settings = settings
        self.port = orjson.loads(settings.read_bytes())["ingest"]["metrics_port"]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.settings.parent / "ingest.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "villagewatch", "ingest", "--config", str(self.settings)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port, timeout=30)
        while self.metric("villagewatch_ingest_broker_connected") != 1:
            time.sleep(0.05)

    def metric(self, name: str) -> float:
        try:
            text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=2).text
        except httpx.HTTPError:
            return 0
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        return 0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.proc = None


def publish(
    ports: list[int], load: list[tuple[str, bytes]], protocol: MQTTProtocolVersion, inflight: int
) -> None:
    """Publish ``load`` at QoS 1 over one connection per port (in threads); wait for acks."""

    def one(port: int, part: list[tuple[str, bytes]]) -> None:
        client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"pub-{free_port()}", protocol=protocol
        )
        client.max_inflight_messages_set(inflight)
        client.connect("127.0.0.1", port)
        client.loop_start()
        infos = [client.publish(topic, payload, qos=1) for topic, payload in part]
        for info in infos:
            info.wait_for_publish(timeout=300)
        client.loop_stop()
        client.disconnect()

    threads = [
        threading.Thread(target=one, args=(port, load[k :: len(ports)]))
        for k, port in enumerate(ports)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def counted(db: Path) -> tuple[int, int]:
    """(rows, distinct (device, seq)) of the readings stored."""
    with sqlite3.connect(db) as con:
        rows, distinct = con.execute(
            "SELECT count(*), count(DISTINCT device || '/' || seq) FROM readings"
        ).fetchone()
    return int(rows), int(distinct)


def one_run(
    path: str,
    mode: str,
    load: list[tuple[str, bytes]],
    expected: int,
    workdir: Path,
    pubs: int,
    inflight: int,
) -> None:
    """One path (nats, mosquitto) in one mode; prints a line of figures."""
    cluster = broker = None
    if path == "nats":
        cluster = NatsCluster(workdir / "nats").start()
        settings = write_settings(
            workdir / "ingest", mqtt_port=1, bus={"kind": "nats", "servers": cluster.urls}
        )
        ports = [cluster.nodes[k % 3].mqtt_port for k in range(pubs)]
        protocol = MQTTProtocolVersion.MQTTv311
    else:
        broker = Mosquitto(workdir / "mosquitto").start()
        settings = write_settings(workdir / "ingest", mqtt_port=broker.port, bus={"kind": "mqtt"})
        ports = [broker.port] * pubs
        protocol = MQTTProtocolVersion.MQTTv5
    ingester = Ingester(settings)
    try:
        ingester.start()  # the stream and durable, or the persistent session
        if mode == "drain":
            ingester.stop()
            started = time.perf_counter()
            publish(ports, load, protocol, inflight)
            published_s = time.perf_counter() - started
            started = time.perf_counter()
            ingester.start()
        else:
            started = time.perf_counter()
            publish(ports, load, protocol, inflight)
            published_s = time.perf_counter() - started
        while ingester.metric("villagewatch_ingest_readings_stored_total") < expected:
            time.sleep(0.1)
        seconds = time.perf_counter() - started
        ingester.stop()
        rows, distinct = counted(settings.parent / "store.db")
        print(
            f"{path:9} {mode:9} {len(load):6} msgs {expected:7} readings: "
            f"{expected / seconds:8,.0f} readings/s stored ({seconds:5.1f} s), "
            f"published at {len(load) / published_s:6,.0f} msgs/s; "
            f"lost {expected - distinct}, duplicated {rows - distinct}",
            flush=True,
        )
    finally:
        if ingester.proc is not None:
            ingester.proc.kill()
        if cluster is not None:
            cluster.close()
        if broker is not None:
            broker.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3000, help="messages per run")
    parser.add_argument("--shape", choices=["single", "batch50", "both"], default="both")
    parser.add_argument("--publishers", type=int, default=6, help="MQTT connections")
    parser.add_argument("--inflight", type=int, default=20, help="unacked QoS 1 per connection")
    args = parser.parse_args()
    shapes = ["single", "batch50"] if args.shape == "both" else [args.shape]
    for shape in shapes:
        per = 1 if shape == "single" else 50
        load = payloads(args.messages, per)
        for mode in ("sustained", "drain"):
            for path in ("nats", "mosquitto"):
                with tempfile.TemporaryDirectory() as tmp:
                    one_run(
                        path, mode, load, args.messages * per, Path(tmp), args.publishers,
                        args.inflight,
                    )  # fmt: skip


if __name__ == "__main__":
    main()
