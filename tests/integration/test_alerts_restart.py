"""`villagewatch alerts run` killed between deciding a notification and the channel taking it:
after a restart each notification is taken exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.faults import Campaign
from villagewatch.detect.store import DetectStore
from villagewatch.runtime.ports import free_port
from villagewatch.transitions import AlertKey, Severity, Transition

from .helpers import wait_until
from .webhook import Recorder, Reply, recording_server

pytestmark = pytest.mark.campaign

T0 = 1_795_000_000_000


def deployment(tmp_path: Path, port: int, metrics_port: int) -> Path:
    village = {
        "id": "v", "name": "东村", "town": "t",
        "grids": [{"id": "g1", "name": "第一网格", "team": {"channels": ["hook"]}}],
        "devices": [{"id": f"d-{i}", "kind": "call_button", "grid": "g1"} for i in range(5)],
    }  # fmt: skip
    (tmp_path / "village.yaml").write_bytes(orjson.dumps(village))
    settings = {
        "villages": ["village.yaml"],
        "alerts": {
            "poll_s": 0.1,
            "metrics_port": metrics_port,
            "group_wait_s": 0,
            "channels": {"hook": {"kind": "webhook", "url": f"http://127.0.0.1:{port}/hook"}},
        },
    }
    path = tmp_path / "settings.yaml"
    path.write_bytes(orjson.dumps(settings))
    return path


def sos(i: int) -> Transition:
    key = AlertKey("sos", "v", f"d-{i}", "sos")
    return Transition(key, "fire", Severity.RED, T0 + i, f"SOS pressed at d-{i}", needs_close=True)


def record(db: Path, transitions: list[Transition]) -> None:
    async def go() -> None:
        store = DetectStore(db)
        try:
            await store.commit({}, transitions)
        finally:
            await store.close()

    asyncio.run(go())


def taken(recorder: Recorder) -> list[int]:
    """Alerts in the messages the channel took (one message may be a digest of several)."""
    return sorted(a["alert"] for r in recorder.accepted() for a in r.body["alerts"])


def start(settings: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "villagewatch", "alerts", "run", "--config", str(settings)],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def test_killed_before_the_channel_took_them_notifications_go_out_once_after_restart(
    tmp_path: Path, campaign: Campaign
) -> None:
    released, taking, arrived = threading.Event(), threading.Event(), threading.Event()

    def answer(_body: dict[str, Any]) -> Reply:
        if taking.is_set():
            return 200, {}
        arrived.set()
        released.wait(30)  # in flight when the engine dies; never taken
        return 503, {}

    with recording_server(Recorder(answer=answer)) as recorder:
        metrics_port = free_port()
        settings = deployment(tmp_path, recorder.port, metrics_port)
        record(tmp_path / "var" / "detect.db", [sos(i) for i in range(5)])
        log = tmp_path / "alerts.log"
        engine = start(settings, log)
        try:
            wait_until(arrived.is_set, timeout=30, what="a notification in flight")
            os.kill(engine.pid, signal.SIGKILL)
            engine.wait(10)
        finally:
            if engine.poll() is None:
                engine.kill()
        taking.set()
        released.set()
        engine = start(settings, log)
        try:
            wait_until(lambda: len(taken(recorder)) >= 5, timeout=60, what="five notifications")
            time.sleep(2)  # and nothing more comes
            metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        finally:
            engine.send_signal(signal.SIGTERM)
            engine.wait(30)
        got = taken(recorder)
        campaign.row(
            "alerts run SIGKILLed while its webhook holds a notification in flight: 5 SOS",
            offered=5, stored=len(set(got)), alerts_expected=5, alerts_raised=len(set(got)),
            lost=5 - len(set(got)), duplicated=len(got) - len(set(got)),
        )  # fmt: skip
        assert got == [1, 2, 3, 4, 5], log.read_text()[-3000:]
        assert engine.returncode == 0, log.read_text()[-3000:]
        # what an operator sees after the restart: the messages went out, nothing waits
        sent = sum(
            float(line.split()[-1]) for line in metrics.splitlines()
            if line.startswith('villagewatch_alerts_notifications_total{channel="hook",result="sent"}')
        )  # fmt: skip
        assert sent == len(recorder.accepted()) >= 1, metrics
        assert "villagewatch_alerts_outbox_queued 0.0" in metrics, metrics
