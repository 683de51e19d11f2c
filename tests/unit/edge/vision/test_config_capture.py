"""Camera files refuse mistakes with file, line and reason; the folder source hands each
picture on once, in order, across restarts; logs never show a camera's password."""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from villagewatch.edge.vision.capture import FolderSource, shown
from villagewatch.edge.vision.config import TimeWindow, load_camera
from villagewatch.errors import ConfigError

GOOD = """\
camera: lane
zones:
  - id: fire-lane
    kind: no_parking
    polygon: [[400, 300], [900, 300], [900, 650]]
"""


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        (GOOD.replace("[900, 650]", "[1900, 650]"), "", "outside the frame"),
        (GOOD.replace("no_parking", "no_parkin"), "zones[0].kind", "no_parking"),
        (GOOD + "    hours: ['25:00-07:00']\n", "zones[0].hours", "time window"),
        (GOOD + "    hours: ['07:00-07:00']\n", "zones[0].hours", "the same time"),
        (GOOD + "    dwell_s: 0\n", "zones[0].dwell_s", "greater than 0"),
        (
            GOOD + "  - {id: fire-lane, kind: road, polygon: [[0, 0], [1, 0], [1, 1]]}\n",
            "",
            "unique: fire-lane",
        ),
        (GOOD + "  - {id: g, kind: gauge, polygon: [[0, 0], [1, 0], [1, 1]]}\n", "", "target_cm"),
        (GOOD + "motion: {short_s: 100, long_s: 50}\n", "motion", "long_s"),
        (GOOD + "lens: wide\n", "lens", "unknown"),
    ],
)
def test_camera_file_mistakes_are_refused_with_where_and_why(
    tmp_path: Path, text: str, where: str, reason: str
) -> None:
    path = tmp_path / "cam.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_camera(path)
    issues = [str(i) for i in err.value.issues]
    assert any(where in i and reason in i and str(path) in i for i in issues), issues


def test_time_windows_wrap_midnight() -> None:
    night = TimeWindow.parse("22:00-06:00")
    assert night.contains(23 * 60) and night.contains(5 * 60 + 59) and not night.contains(6 * 60)
    day = TimeWindow.parse("06:00-24:00")
    assert day.contains(23 * 60 + 59) and not day.contains(5 * 60)


def _jpeg(path: Path, value: int, mtime: float) -> None:
    cv2.imwrite(str(path), np.full((40, 60, 3), value, np.uint8))
    os.utime(path, (mtime, mtime))


def test_folder_source_hands_each_picture_on_once_and_resumes_after_a_restart(
    tmp_path: Path,
) -> None:
    folder, position = tmp_path / "in", tmp_path / "cam.pos"
    folder.mkdir()
    old = time.time() - 3600
    for i in (2, 0, 1):
        _jpeg(folder / f"p{i}.jpg", 50 * i, old + i)
    (folder / "notes.txt").write_text("not a picture")
    src = FolderSource(folder, position)
    first = src.next()
    assert first is not None and first[1] == pytest.approx(old)
    src.done()
    second = src.next()
    assert second is not None and int(second[0].mean()) == 50
    # a restart before done(): p1's outputs never reached the outbox, so it comes again
    again = FolderSource(folder, position)
    got = again.next()
    assert got is not None and int(got[0].mean()) == 50
    again.done()
    third = again.next()
    assert third is not None and int(third[0].mean()) == 100
    again.done()
    assert again.next() is None
    assert position.read_text() == "p2.jpg"


def test_folder_source_waits_for_a_picture_still_being_uploaded(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"\xff\xd8\xff\xe0 half a jpeg")  # just arrived, torn
    src = FolderSource(folder)
    assert src.next() is None
    _jpeg(folder / "a.jpg", 77, time.time())  # the upload completes
    got = src.next()
    assert got is not None and int(got[0].mean()) == 77


def test_a_broken_old_picture_is_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"garbage")
    os.utime(folder / "a.jpg", (time.time() - 600, time.time() - 600))
    _jpeg(folder / "b.jpg", 30, time.time() - 500)
    got = FolderSource(folder).next()
    assert got is not None and int(got[0].mean()) == 30


def test_passwords_in_camera_urls_are_not_shown() -> None:
    assert shown("rtsp://admin:s3cret@10.0.0.5:554/stream1") == "rtsp://…@10.0.0.5:554/stream1"
    assert shown("http://10.0.0.5/snap.jpg") == "http://10.0.0.5/snap.jpg"
    assert "s3cret" not in shown("http://u:s3cret@cam/x?y=1")
