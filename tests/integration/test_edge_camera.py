"""A camera through the real agent and broker: stills dropped in a folder (as many village
cameras push them) → an illegal-parking event whose evidence JPEG arrives on its own topic,
privacy-masked; a restart of the agent goes on after the last picture it handled, so the car
standing there is not raised a second time; through an ingester too, stored at the capture
time of the still that raised it."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import orjson
import yaml

from tests.unit.edge.vision.exif import exif_jpeg
from tests.unit.edge.vision.synth import T0, car, paste, street
from villagewatch.contract import MAX_EVIDENCE_BYTES
from villagewatch.edge.agent import EdgeAgent
from villagewatch_dev.servers import Mosquitto, free_port

from .edge_world import Collector, edge_settings
from .helpers import IngesterProcess, write_deployment

CAMERA = {
    "camera": "lane-cam",
    "motion": {"short_s": 5, "long_s": 3600, "grace_s": 60},
    "masks": [{"id": "window", "polygon": [[1000, 0], [1280, 0], [1280, 250], [1000, 250]]}],
    "zones": [
        {
            "id": "fire-lane",
            "kind": "no_parking",
            "polygon": [[400, 300], [900, 300], [900, 650], [400, 650]],
            "dwell_s": 120,
            "min_object": 0.01,
        }
    ],
}


def drop_stills(
    folder: Path, count: int, car_from: int, every_s: float = 30, first: int = 0
) -> None:
    """Stills every ``every_s`` (their file times), a car in the fire lane from ``car_from`` on."""
    bg, red = street(), car()
    folder.mkdir(exist_ok=True)
    for i in range(first, first + count):
        frame = paste(bg, red, 550, 420) if i >= car_from else bg
        frame[20:200, 1050:1250] = (255, 255, 255)  # something bright under the privacy mask
        path = folder / f"cam-{i:04d}.jpg"
        cv2.imwrite(str(path), frame)
        os.utime(path, (T0 + i * every_s, T0 + i * every_s))


def test_stills_become_one_event_with_its_masked_evidence(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    (tmp_path / "lane-cam.yaml").write_text(yaml.safe_dump(CAMERA))
    stills = tmp_path / "stills"
    drop_stills(stills, 12, car_from=2)  # car from 60 s; dwell 120 s → raised by ~210 s
    camera = {
        "driver": "camera", "device": "cam-1", "source": str(stills),
        "camera": tmp_path / "lane-cam.yaml",
    }  # fmt: skip
    collector = Collector(mosquitto.port, "v")
    agent = EdgeAgent(edge_settings(tmp_path, mosquitto.port, devices=[camera]))

    def evidence() -> dict[str, bytes]:
        return {
            g.topic.rsplit("/", 1)[1]: g.body["jpeg"]
            for g in collector.messages()
            if "/evidence/" in g.topic
        }

    async def run_until(done: Callable[[], bool]) -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(agent.run(stop))
        for _ in range(600):
            if done():
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        stop.set()
        await asyncio.wait_for(task, 30)

    position = tmp_path / "outbox" / "camera-cam-1.pos"
    try:
        asyncio.run(run_until(lambda: bool(evidence())))
        # the agent restarts; the camera keeps dropping pictures with the car still there
        drop_stills(stills, 8, car_from=0, first=12)
        agent = EdgeAgent(edge_settings(tmp_path, mosquitto.port, devices=[camera]))
        asyncio.run(run_until(lambda: position.exists() and position.read_text() == "cam-0019.jpg"))
    finally:
        collector.close()
    assert position.read_text() == "cam-0019.jpg"
    events = [
        (g.topic, i) for g in collector.messages() if g.topic.endswith("/event") for i in g.items
    ]
    assert len(events) == 1, events
    topic, event = events[0]
    assert topic == "vw/v1/v/cam-1/event"
    assert event["type"] == "detection" and event["detection"] == "illegal_parking"
    assert event["zone"] == "fire-lane" and event["dwell_s"] >= 120
    snaps = evidence()
    assert list(snaps) == [event["evidence"]]
    jpeg = snaps[event["evidence"]]
    assert len(jpeg) <= MAX_EVIDENCE_BYTES
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and img.shape[:2] == (720, 1280)
    assert float(img[30:190, 1060:1240].mean()) < 8  # the white under the mask is not there


def test_a_stills_capture_time_is_the_stored_events_time(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """Stills taken yesterday (EXIF, and written then) reach a real agent, broker and ingester:
    the stored event is at the capture time of the picture that raised it, backlog, with each
    object's box."""
    (tmp_path / "lane-cam.yaml").write_text(yaml.safe_dump(CAMERA))
    stills = tmp_path / "stills"
    stills.mkdir()
    bg, red = street(), car()
    yesterday = (time.time() // 60) * 60 - 86_400
    taken = [yesterday + 30 * i for i in range(10)]
    for i, t in enumerate(taken):
        frame = paste(bg, red, 550, 420) if i >= 1 else bg
        local = datetime.fromtimestamp(t + 8 * 3600, UTC).strftime("%Y:%m:%d %H:%M:%S")
        path = stills / f"cam-{i:04d}.jpg"
        path.write_bytes(exif_jpeg(frame, local))
        os.utime(path, (t + 2, t + 2))  # the upload took 2 s
    db = tmp_path / "centre" / "r.db"

    def with_camera(village: dict[str, Any]) -> None:
        village["devices"].append({"id": "cam-1", "kind": "camera", "grid": "g1"})

    settings = write_deployment(
        tmp_path / "centre", mqtt_port=mosquitto.port, store={"kind": "sqlite", "path": str(db)},
        ingest={"metrics_port": (metrics := free_port())}, edit_village=with_camera,
    )  # fmt: skip
    ingester = IngesterProcess(settings, metrics).start()
    camera = {
        "driver": "camera", "device": "cam-1", "source": str(stills),
        "camera": tmp_path / "lane-cam.yaml",
    }  # fmt: skip
    agent = EdgeAgent(edge_settings(tmp_path, mosquitto.port, village="testvil", devices=[camera]))

    def stored() -> list[tuple[int, int, str, int]]:
        if not db.exists():
            return []
        with closing(sqlite3.connect(db)) as conn:
            return list(conn.execute("SELECT time_ns, device_ts_ms, attrs, historical FROM events"))

    async def run_until_stored() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(agent.run(stop))
        for _ in range(600):
            if stored():
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 30)

    try:
        asyncio.run(run_until_stored())
    finally:
        ingester.kill()
    ((time_ns, device_ms, attrs_text, historical),) = stored()
    attrs = orjson.loads(attrs_text)
    assert device_ms / 1000 in taken[1:], (device_ms, taken)  # a picture's own capture time
    assert time_ns // 1_000_000 == device_ms
    assert historical  # yesterday's pictures are backlog
    assert device_ms / 1000 - attrs["dwell_s"] in taken[1:3]  # counted in capture time
    (obj,) = orjson.loads(attrs["objects"])
    assert obj["box"] == [float(v) for v in attrs["box"].split(",")]
