"""The two consumers bench/city.py runs beside villagewatch on the same load.

* ``paho`` — the simplest competent consumer: one paho-mqtt client subscribed at QoS 1,
  orjson to parse, line protocol to VictoriaMetrics's ``/write`` every 0.2 s or 5,000
  readings; no validation, no registry, acked by paho as soon as a message is read (not after
  the write). Runs as its own process: ``python bench/cityrivals.py --mqtt-port P --vm URL``.
* Node-RED — npm ``node-red`` with ``node-red-contrib-influxdb`` (pinned in
  bench/nodered/package.json), installed by :func:`install_node_red` into a cache directory
  with ``npm install --prefix``; the flow (bench/nodered/flow.json): MQTT in (QoS 1, JSON) →
  a function making points → the InfluxDB batch node writing to VictoriaMetrics's ``/write``.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from villagewatch_dev.servers import free_port, wait_for_port

NODE_RED_DIR = Path(__file__).resolve().parent / "nodered"
NODE_RED_CACHE = Path(tempfile.gettempdir()) / "vw-bench-nodered"


def install_node_red(cache: Path = NODE_RED_CACHE) -> str | None:
    """Install the pinned Node-RED into ``cache`` unless it is there; None when done, else
    why not (no npm, or npm could not reach its registry)."""
    pins = (NODE_RED_DIR / "package.json").read_bytes()
    marker = cache / "node_modules" / "node-red-contrib-influxdb" / "package.json"
    if marker.exists() and (cache / "package.json").read_bytes() == pins:
        return None
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        return "node or npm is not installed"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "package.json").write_bytes(pins)
    done = subprocess.run(
        [npm, "install", "--prefix", str(cache), "--no-audit", "--no-fund", "--omit=dev"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        return f"npm install failed (is its registry reachable?): {done.stderr.strip()[-300:]}"
    return None


class NodeRed:
    """Node-RED running the bench flow against one MQTT port and one VictoriaMetrics."""

    def __init__(self, work: Path, *, mqtt_port: int, vm_port: int) -> None:
        self.work = work
        self.port = free_port()
        work.mkdir(parents=True, exist_ok=True)
        flow = (NODE_RED_DIR / "flow.json").read_text()
        flow = flow.replace("__MQTT_PORT__", str(mqtt_port)).replace("__VM_PORT__", str(vm_port))
        (work / "flow.json").write_text(flow)
        # userDir is the cache (its node_modules hold the InfluxDB node); flows and settings
        # of this run live in ``work``
        (work / "settings.js").write_text(
            "module.exports = {"
            f'uiHost: "127.0.0.1", uiPort: {self.port}, flowFile: "{work / "flow.json"}", '
            f'userDir: "{NODE_RED_CACHE}", credentialSecret: false, '
            'logging: {console: {level: "warn"}}};\n'
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> NodeRed:
        """Start Node-RED and wait until its editor port answers and the flow is connected."""
        red = NODE_RED_CACHE / "node_modules" / "node-red" / "red.js"
        log = (self.work / "node-red.log").open("ab")
        self.proc = subprocess.Popen(
            ["node", str(red), "--settings", str(self.work / "settings.js")],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        wait_for_port(self.port, timeout=60)
        time.sleep(2)  # its MQTT node connects and subscribes after the editor is up
        return self

    @property
    def pid(self) -> int:
        """The node process's id."""
        assert self.proc is not None
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL Node-RED."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


def consume(mqtt_port: int, vm: str) -> None:
    """The paho + orjson loop; runs until SIGTERM."""
    lines: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def on_message(_c: paho.Client, _u: object, m: paho.MQTTMessage) -> None:
        body = orjson.loads(m.payload)
        items = body.get("readings") or [body["reading"]]
        head = f"readings,device={body['device']},village={m.topic.split('/')[2]} "
        out = [f"{head}level_cm={r['level_cm']},seq={r['seq']} {r['ts']}" for r in items]
        with lock:
            lines.extend(out)

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"paho-bench-{free_port()}")
    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe("vw/v1/+/+/telemetry", qos=1)
    client.connect("127.0.0.1", mqtt_port)
    client.loop_start()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with httpx.Client(timeout=30) as http:
        while not stop.is_set():
            time.sleep(0.2)
            with lock:
                batch, lines[:] = lines[:], []
            for i in range(0, len(batch), 5000):
                body = "\n".join(batch[i : i + 5000])
                http.post(f"{vm}/write", params={"precision": "ms"}, content=body)
    client.loop_stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="the paho + orjson consumer of bench/city.py")
    parser.add_argument("--mqtt-port", type=int, required=True)
    parser.add_argument("--vm", required=True, help="VictoriaMetrics base URL")
    args = parser.parse_args()
    consume(args.mqtt_port, args.vm)


if __name__ == "__main__":
    main()
