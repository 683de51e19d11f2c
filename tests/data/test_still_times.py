"""The capture time of the shared stills: their EXIF has no date, their names do."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from villagewatch.edge.vision.capturetime import exif_time, name_time


def test_a_gauge_still_has_exif_without_a_time_and_its_name_says_when(shared_data: Path) -> None:
    still = shared_data / "water-gauge" / "images" / "NRmarshDN-12-05-31-23-30.jpg"
    assert exif_time(still.read_bytes(), -5) is None
    when = name_time(still.name, "NRmarshDN-%y-%m-%d-%H-%M", -5)
    assert when == datetime.fromisoformat("2012-05-31T23:30:00-05:00").timestamp()


def test_every_parking_frame_is_timed_by_its_name_in_order(shared_data: Path) -> None:
    frames = sorted((shared_data / "parking" / "sequence0" / "frames").glob("*.jpg"))
    assert frames
    times = [name_time(p.name, "%Y-%m-%d_%H_%M_%S", -3) or 0.0 for p in frames]
    assert all(times) and times == sorted(times)
    assert exif_time(frames[0].read_bytes(), -3) is None
