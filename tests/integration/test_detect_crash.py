"""SIGKILL of ``villagewatch detect`` mid-stream and while an alert fires: after the restarts the
recorded transitions are exactly those of one uninterrupted pass — none twice, none missing."""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from functools import partial
from pathlib import Path

import pytest

from tests.faults import Campaign
from villagewatch.config import load_deployment
from villagewatch.contract import DeadLetter
from villagewatch.detect.engine import DetectEngine
from villagewatch.detect.sources import decoder_for
from villagewatch.transitions import transition_id
from villagewatch_dev.servers import Mosquitto, free_port

from .helpers import NOW_MS, DetectProcess, publish_all, reading, wait_until, write_deployment
from .test_detect_service import GAUGE_LEVELS, committed_high, firing

pytestmark = pytest.mark.campaign

N = 2400
MINUTE = 60_000
START = NOW_MS - (N + 100) * MINUTE


def level_at(i: int) -> float:
    """Four floods through every band, then the water stays above the guaranteed level."""
    if i >= N - 200:
        return 300.0
    return round(150 + 130 * math.sin(2 * math.pi * i / 600), 1)


def stream(first: int, last: int) -> list[tuple[str, bytes]]:
    return [
        reading("wl-000", i, level=level_at(i), ts=START + i * MINUTE) for i in range(first, last)
    ]


def expected_ids(settings: Path, messages: list[tuple[str, bytes]]) -> list[str]:
    """What one uninterrupted pass decides (the offline watch aside: it goes by the wall clock)."""
    deployment = load_deployment(settings)
    decoder = decoder_for(deployment, ["testvil"])
    engine = DetectEngine(deployment.villages, now_ms=NOW_MS)
    out: list[str] = []
    for topic, payload in messages:
        decoded = decoder.decode(topic, payload, time.time_ns())
        assert not isinstance(decoded, DeadLetter), decoded
        out += [
            transition_id(t) for t in engine.handle(decoded, NOW_MS) if t.key.detector != "offline"
        ]
    return out


def recorded_ids(db: Path) -> list[str]:
    """Transitions about wl-000, in the order they were recorded."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT id FROM transitions WHERE subject = 'wl-000' AND detector != 'offline'"
            " ORDER BY rowid"
        ).fetchall()
    return [r[0] for r in rows]


def firing_after(db: Path, seq: int) -> int:
    """The committed sequence number once it is past ``seq`` with a level alert firing, else 0."""
    high = committed_high(db, "wl-000")
    return high if high > seq and any(a["kind"] == "level" for a in firing(db)) else 0


def test_sigkill_mid_stream_and_while_firing_neither_duplicates_nor_forgets(
    mosquitto: Mosquitto, tmp_path: Path, campaign: Campaign
) -> None:
    metrics_port = free_port()
    settings = write_deployment(
        tmp_path,
        mqtt_port=mosquitto.port,
        store={"kind": "sqlite", "path": str(tmp_path / "readings.db")},
        devices=1,
        # commits 0.25 s apart (75 readings): a kill almost surely finds processed messages
        # not yet committed, and a flood (~250 readings above the bands) spans several commits
        detect={
            "metrics_port": metrics_port,
            "flush_interval_s": 0.25,
            "batch_max_messages": 100_000,
        },
        village_detect={"devices": {"wl-000": {"level": GAUGE_LEVELS}}},
    )
    db = tmp_path / "var" / "detect.db"
    messages = stream(0, N)
    want = expected_ids(settings, messages)
    assert len(want) >= 20, "the series should cross the bands many times"

    received = 0.0  # messages delivered to detect, over all its lives

    def kill_and_restart(detect: DetectProcess) -> DetectProcess:
        nonlocal received
        received += detect.metric("villagewatch_detect_messages_total") or 0
        detect.kill()
        return DetectProcess(settings, metrics_port).start()

    detect = DetectProcess(settings, metrics_port).start()
    publisher = threading.Thread(
        target=publish_all, args=(mosquitto.port, messages), kwargs={"pace": 300}
    )
    publisher.start()
    try:
        mark = 0
        for _ in range(2):  # killed twice mid-stream, each time with a level alert firing
            mark = wait_until(
                partial(firing_after, db, mark + 150), timeout=30, what="an alert mid-stream"
            )
            detect = kill_and_restart(detect)
        publisher.join()
        wait_until(
            lambda: committed_high(db, "wl-000") == N - 1, timeout=60, what="the whole stream"
        )
        assert recorded_ids(db) == want
        assert [(a["kind"], a["severity"]) for a in firing(db)] == [("level", "orange")]

        # killed while the orange alert fires; the water stays high
        detect = kill_and_restart(detect)
        publish_all(mosquitto.port, stream(N, N + 20))
        wait_until(
            lambda: committed_high(db, "wl-000") == N + 19, timeout=30, what="20 more readings"
        )
        received += detect.metric("villagewatch_detect_messages_total") or 0
    finally:
        detect.terminate()
    got = recorded_ids(db)
    fires = [i for i in want if "#fire@" in i]
    campaign.row(
        f"detect SIGKILLed 3 times while {N + 20:,} readings cross the warning levels",
        offered=N + 20, stored=committed_high(db, "wl-000") + 1, alerts_expected=len(fires),
        alerts_raised=len([i for i in got if "#fire@" in i]),
        lost=len(set(want) - set(got)), duplicated=len(got) - len(set(want) & set(got)),
    )  # fmt: skip
    assert received > N + 20, "the kills should have left processed messages to deliver again"
    assert recorded_ids(db) == want, "nothing re-fired"
    assert [(a["kind"], a["severity"]) for a in firing(db)] == [("level", "orange")]
