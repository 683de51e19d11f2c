"""`villagewatch edge` SIGKILLed at 20 random moments in one run: every reading that was in the
outbox when it died reaches the broker; the outbox reopens by itself each time."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from tests.faults import Campaign
from villagewatch.edge.lanes import Lane
from villagewatch.edge.outbox import Outbox
from villagewatch_dev.servers import Mosquitto

from .edge_world import Collector
from .helpers import wait_until


def on_disk(outbox: Path) -> set[tuple[str, str, int]]:
    """(device, boot, seq) of every record the outbox holds (as the dead agent left it)."""
    box = Outbox(outbox).open()
    keys = set()
    for lane in Lane:
        while batch := box.read(lane, 10_000):
            for e in batch:
                rec = orjson.loads(e.payload)
                keys.add((rec["d"], rec["b"], rec["s"]))
    box.abandon()  # leave it exactly as the agent will find it
    return keys


@pytest.mark.campaign
def test_sigkill_at_twenty_moments_loses_nothing_the_outbox_held(
    tmp_path: Path, mosquitto: Mosquitto, campaign: Campaign
) -> None:
    outbox = tmp_path / "outbox"
    config = tmp_path / "edge.json"
    devices = [
        {"driver": "simulated_water_level", "device": f"wl-{i}", "interval_s": 0.02, "seed": i}
        for i in range(5)
    ]  # 250 readings a second
    config.write_bytes(
        orjson.dumps(
            {
                "id": "edge-1", "village": "v", "mqtt": {"port": mosquitto.port},
                "outbox": {"path": str(outbox)}, "clock": {"require_sync": False},
                "devices": devices,
            }
        )
    )  # fmt: skip
    collector = Collector(mosquitto.port, "v")
    log = (tmp_path / "edge.log").open("ab")
    rng = random.Random(20)
    held: set[tuple[str, str, int]] = set()

    def start() -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "villagewatch", "edge", "--config", str(config)]
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)

    try:
        agent = start()
        for _ in range(20):
            time.sleep(rng.uniform(0.3, 1.5))
            agent.kill()
            agent.wait(10)
            held |= on_disk(outbox)
            agent = start()
        time.sleep(2)
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(30) == 0
        held |= on_disk(outbox)
        agent = start()  # sends what the last run left, and nothing new is missing
        wait_until(lambda: held <= collector.keys(), timeout=60, what="every held reading")
        agent.send_signal(signal.SIGTERM)
        agent.wait(30)
    finally:
        if agent.poll() is None:
            agent.kill()
        collector.close()
        log.close()
    got = collector.keys()
    copies = sum(len(g.items) for g in collector.messages()) - len(got)
    campaign.row(
        "the edge agent SIGKILLed 20 times while 5 gauges send 250 readings/s "
        f"(counted at the broker by key: {copies} resent copies, which the centre drops)",
        offered=len(held | got), stored=len(got), lost=len(held - got),
    )  # fmt: skip
    assert len(collector.keys()) > 1000, "the agent ran and sent"
    assert held, "some readings were waiting in the outbox when it was killed"
    assert held <= collector.keys()
    text = (tmp_path / "edge.log").read_text()
    assert "Traceback" not in text, text[-3000:]
