"""The camera driver hands its events and readings on at the frame's capture time: a day's
backlog of stills keeps its own times, in order, with the dwell they really had."""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.unit.edge.vision.exif import exif_jpeg
from tests.unit.edge.vision.synth import car, paste, street
from villagewatch.edge.drivers.camera import CameraConfig, CameraDriver
from villagewatch.edge.measurement import Measurement

CAMERA = {
    "camera": "lane-cam",
    "motion": {"short_s": 5, "long_s": 3600, "grace_s": 60},
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
YESTERDAY = datetime(2026, 12, 4, 6, 0, 0, tzinfo=UTC).timestamp()


def _local(t: float) -> str:
    """EXIF text of ``t`` at the camera file's default UTC+8."""
    return datetime.fromtimestamp(t + 8 * 3600, UTC).strftime("%Y:%m:%d %H:%M:%S")


def _stills(folder: Path, taken: list[float], arrived: list[float], car_from: int) -> None:
    bg, red = street(), car()
    folder.mkdir()
    for i, (t, a) in enumerate(zip(taken, arrived, strict=True)):
        frame = paste(bg, red, 550, 420) if i >= car_from else bg
        path = folder / f"cam-{i:04d}.jpg"
        path.write_bytes(exif_jpeg(frame, _local(t)))
        os.utime(path, (a, a))


def _drive(tmp_path: Path, folder: Path, count: int) -> list[Measurement]:
    (tmp_path / "lane-cam.yaml").write_text(yaml.safe_dump(CAMERA))
    cfg = CameraConfig.model_validate(
        {"driver": "camera", "device": "cam-1", "source": str(folder),
         "camera": str(tmp_path / "lane-cam.yaml")}
    )  # fmt: skip
    state = tmp_path / "state"
    state.mkdir()
    driver = CameraDriver(cfg, state_dir=state)
    got: list[Measurement] = []
    position = state / "camera-cam-1.pos"

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(driver.run(got.append, stop))
        last = f"cam-{count - 1:04d}.jpg"
        for _ in range(1200):
            if position.exists() and position.read_text() == last:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 30)

    asyncio.run(main())
    return got


def test_a_backlog_from_yesterday_is_stamped_at_its_own_times_with_the_dwell_it_had(
    tmp_path: Path,
) -> None:
    """The agent was down: 12 stills taken yesterday, 30 s apart, wait in the folder; the car
    arrives in the third, so after 120 s of capture time it is parked illegally."""
    taken = [YESTERDAY + 30 * i for i in range(12)]
    _stills(tmp_path / "in", taken, [t + 2 for t in taken], car_from=2)
    got = _drive(tmp_path, tmp_path / "in", 12)
    events = [m for m in got if m.channel == "event"]
    assert len(events) == 1, events
    (event,) = events
    assert event.at in taken  # the capture time of the frame that raised it
    assert event.at is not None  # and its dwell counts from a frame with the car, in capture time
    assert event.at - event.data["dwell_s"] in (taken[2], taken[3])
    assert 120 <= event.data["dwell_s"] <= 150  # capture times, not how fast it was processed
    stamped = [m.at for m in got if m.channel != "evidence"]
    assert all(t is not None and t in taken for t in stamped)
    assert stamped == sorted(stamped)  # type: ignore[type-var]


def test_a_camera_clock_hours_ahead_is_not_believed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    arrived = [YESTERDAY + 30 * i for i in range(4)]
    _stills(tmp_path / "in", [a + 3 * 3600 for a in arrived], arrived, car_from=99)
    with caplog.at_level(logging.WARNING):
        got = _drive(tmp_path, tmp_path / "in", 4)
    assert {m.at for m in got if m.channel == "telemetry"} <= set(arrived)
    said = [r.getMessage() for r in caplog.records if "clock is off" in r.getMessage()]
    assert len(said) == 1 and "cam-1" in said[0]


def test_a_still_out_of_time_order_never_takes_the_pipeline_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    taken = [YESTERDAY, YESTERDAY + 60, YESTERDAY + 30, YESTERDAY + 90]  # names out of order
    _stills(tmp_path / "in", taken, [t + 1 for t in taken], car_from=99)
    with caplog.at_level(logging.WARNING):
        got = _drive(tmp_path, tmp_path / "in", 4)
    assert got == [] or all(m.at is not None for m in got)
    assert any("before the one before it" in r.getMessage() for r in caplog.records)
    assert np.all(np.diff([m.at for m in got if m.at is not None]) >= 0)
