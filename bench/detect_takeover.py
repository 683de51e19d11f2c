"""Benchmark: how long a detect partition goes unwatched when its holder is SIGKILLed
(prints figures; not a test).

Two ``villagewatch detect`` processes share two partitions (one village each) through
leases in one SQLite detect file, with readings flowing at ``--rate`` per second per
village. The holder of one is SIGKILLed; measured from the kill: until the other holds the
lease (``lease``), and until that village's state is committed again past what the killed
process had committed (``resumed``: connected to the partition's session, state loaded, the
queued readings processed). docs/scale.md states the bound: 2/3 to 5/3 of lease_s, plus
connecting.

    .venv/bin/python bench/detect_takeover.py
    .venv/bin/python bench/detect_takeover.py --lease 3 10 --repeats 5
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from villagewatch_dev.servers import Mosquitto, free_port

VILLAGES = ("va", "vb")
NOW_MS = int(time.time() * 1000)


def village(vid: str) -> dict[str, Any]:
    return {
        "id": vid, "name": vid, "town": "t", "grids": [{"id": "g1", "name": "one"}],
        "devices": [{"id": "wl-000", "kind": "water_level", "grid": "g1"}],
    }  # fmt: skip


def write(folder: Path, mqtt_port: int, lease_s: float) -> list[Path]:
    for vid in VILLAGES:
        (folder / f"{vid}.yaml").write_bytes(orjson.dumps(village(vid)))
    out = []
    for name, most in (("a", 1), ("b", 2)):
        settings = {
            "mqtt": {"host": "127.0.0.1", "port": mqtt_port},
            "villages": [f"{v}.yaml" for v in VILLAGES],
            "detect": {
                "client_id": "vw-detect", "metrics_port": free_port(),
                "partitions": {"north": ["va"], "south": ["vb"]},
                "claim": {"max_partitions": most, "lease_s": lease_s},
            },
        }  # fmt: skip
        path = folder / f"settings-{name}.yaml"
        path.write_bytes(orjson.dumps(settings))
        out.append(path)
    return out


def query(db: Path, sql: str) -> list[Any]:
    try:
        with sqlite3.connect(db, timeout=10) as conn:
            return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []


def holders(db: Path) -> dict[str, str]:
    return dict(query(db, "SELECT name, holder FROM leases"))


def committed(db: Path, vid: str) -> int:
    rows = query(db, f"SELECT state FROM state WHERE owner = '{vid}/wl-000'")
    if not rows:
        return -1
    seqs = orjson.loads(rows[0][0])["seen"]["readings"].values()
    return max((s for ss in seqs for s in ss), default=-1)


def wait(probe: Any, timeout: float = 60, step: float = 0.01) -> float:
    """Seconds until ``probe()`` is true."""
    started = time.monotonic()
    while not probe():
        if time.monotonic() - started > timeout:
            raise SystemExit("timed out")
        time.sleep(step)
    return time.monotonic() - started


def publish(port: int, rate: float, stop: threading.Event) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{free_port()}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    seq = 0
    started = time.monotonic()
    while not stop.is_set():
        for vid in VILLAGES:
            body = {
                "v": 1, "device": "wl-000", "boot": "b1",
                "reading": {"seq": seq, "ts": NOW_MS + seq, "clock": "synced", "level_cm": 100},
            }  # fmt: skip
            client.publish(f"vw/v1/{vid}/wl-000/telemetry", orjson.dumps(body), qos=1)
        seq += 1
        time.sleep(max(0.0, started + seq / rate - time.monotonic()))
    client.loop_stop()
    client.disconnect()


def one(lease_s: float, rate: float) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        broker = Mosquitto(folder / "mosquitto").start()
        settings_a, settings_b = write(folder, broker.port, lease_s)
        db = folder / "var" / "detect.db"
        procs: list[subprocess.Popen[bytes]] = []
        stop = threading.Event()
        publisher = threading.Thread(target=publish, args=(broker.port, rate, stop))
        try:
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            log = (folder / "detect.log").open("ab")
            a_name = ""
            for settings, held in ((settings_a, 1), (settings_b, 2)):
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "villagewatch", "detect", "-c", str(settings)],
                        stdout=log, stderr=subprocess.STDOUT, env=env,
                    )
                )  # fmt: skip
                wait(lambda n=held: sum(1 for h in holders(db).values() if h) == n)
                a_name = a_name or next(n for n, h in holders(db).items() if h)
            a_village = "va" if a_name == "north" else "vb"
            publisher.start()
            wait(lambda: committed(db, a_village) > rate)
            before_holder = holders(db)[a_name]
            procs[0].send_signal(signal.SIGKILL)
            procs[0].wait()
            killed = time.monotonic()
            done = committed(db, a_village)
            wait(lambda: holders(db)[a_name] not in ("", before_holder))
            lease = time.monotonic() - killed
            wait(lambda: committed(db, a_village) > done)
            return lease, time.monotonic() - killed
        finally:
            stop.set()
            if publisher.is_alive():
                publisher.join()
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
                    p.wait(30)
            broker.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lease", type=float, nargs="+", default=[3.0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rate", type=float, default=100, help="readings/s per village")
    args = parser.parse_args()
    print("lease_s  bound(5/3)  lease taken after kill (min/median/max)  resumed (min/median/max)")
    for lease_s in args.lease:
        runs = [one(lease_s, args.rate) for _ in range(args.repeats)]
        taken, resumed = [r[0] for r in runs], [r[1] for r in runs]

        def fmt(xs: list[float]) -> str:
            return f"{min(xs):.2f} / {statistics.median(xs):.2f} / {max(xs):.2f} s"

        print(f"{lease_s:7.1f}  {lease_s * 5 / 3:8.1f} s  {fmt(taken):>38}  {fmt(resumed):>24}")


if __name__ == "__main__":
    main()
