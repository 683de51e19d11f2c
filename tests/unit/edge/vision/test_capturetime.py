"""When a still was taken: its EXIF, its file name, its arrival — and a camera clock that is off."""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from pydantic import ValidationError

from tests.unit.edge.vision.exif import exif_block, exif_jpeg
from villagewatch.edge.vision.capture import FolderSource, HttpStillSource
from villagewatch.edge.vision.capturetime import (
    CaptureClock,
    CaptureSettings,
    exif_time,
    name_time,
)
from villagewatch.edge.vision.config import CameraVision

FRAME = np.full((48, 64, 3), 90, np.uint8)
# 2026-12-05 14:03:22 at UTC+8 is 06:03:22 UTC
TAKEN = datetime(2026, 12, 5, 6, 3, 22, tzinfo=UTC).timestamp()


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


@pytest.mark.parametrize("order", ["<", ">"], ids=["intel", "motorola"])
def test_exif_time_with_its_offset(order: str) -> None:
    jpeg = exif_jpeg(FRAME, "2026:12:05 14:03:22", "+08:00", order=order)
    assert exif_time(jpeg, utc_offset_h=0) == TAKEN  # the offset tag wins over the camera file


def test_exif_time_without_offset_is_the_camera_files_local_time() -> None:
    assert exif_time(exif_jpeg(FRAME, "2026:12:05 14:03:22"), 8) == TAKEN
    assert exif_time(exif_jpeg(FRAME, "2026:12:05 06:03:22"), 0) == TAKEN
    assert exif_time(exif_jpeg(FRAME, "2026:12:05 00:33:22"), -5.5) == TAKEN


@pytest.mark.parametrize(
    "jpeg",
    [
        b"",
        b"\xff\xd8",
        b"not a jpeg at all",
        exif_jpeg(FRAME, "0000:00:00 00:00:00"),  # a camera that never had the time
        exif_jpeg(FRAME, "2026:13:45 99:03:22"),
        exif_jpeg(FRAME, "yesterday"),
    ],
    ids=["empty", "soi-only", "text", "zeros", "no-date", "words"],
)
def test_no_exif_time(jpeg: bytes) -> None:
    assert exif_time(jpeg, 8) is None


def test_a_truncated_or_damaged_exif_is_no_time_and_never_an_error() -> None:
    block = exif_block("2026:12:05 14:03:22", "+08:00")
    ok, buf = cv2.imencode(".jpg", FRAME)
    assert ok
    for cut in range(len(block)):  # every truncation of the segment, length field unchanged
        got = exif_time(b"\xff\xd8" + block[:cut], 8)
        assert got is None or got == TAKEN
    rng = np.random.default_rng(3)
    for _ in range(300):  # random bytes changed anywhere in the segment
        hit = bytearray(block)
        for i in rng.integers(4, len(hit), 3):
            hit[int(i)] = int(rng.integers(0, 256))
        exif_time(b"\xff\xd8" + bytes(hit) + buf.tobytes()[2:], 8)  # must not raise


@pytest.mark.parametrize(
    ("name", "pattern", "expected"),
    [
        ("2013-02-24_10_05_04.jpg", "%Y-%m-%d_%H_%M_%S", "2013-02-24T10:05:04+08:00"),
        ("192.168.1.64_01_20261205140322123_MOTION.jpg", "*_%Y%m%d%H%M%S%f_*",
         "2026-12-05T14:03:22.123+08:00"),
        ("cam-20261205-140322.jpg", "cam-%Y%m%d-%H%M%S", "2026-12-05T14:03:22+08:00"),
    ],
    ids=["pklot", "hikvision-ftp", "plain"],
)  # fmt: skip
def test_time_in_the_file_name(name: str, pattern: str, expected: str) -> None:
    assert name_time(name, pattern, 8) == pytest.approx(_ts(expected))


def test_a_name_that_does_not_match_or_is_no_date_has_no_time() -> None:
    assert name_time("snapshot.jpg", "cam-%Y%m%d-%H%M%S", 8) is None
    assert name_time("cam-20261345-140322.jpg", "cam-%Y%m%d-%H%M%S", 8) is None


@pytest.mark.parametrize(
    ("pattern", "says"),
    [("cam-%Y%m%d", "needs a year"), ("cam-%Y%m%d-%H%M%Z", "%Z is not one of")],
)
def test_a_bad_name_pattern_is_refused_with_what_is_wrong(pattern: str, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        CameraVision.model_validate({"camera": "c", "capture": {"name_time": pattern}})


def _clock(**settings: float | str) -> CaptureClock:
    return CaptureClock("cam-1", CaptureSettings.model_validate(settings), 8)


@pytest.mark.parametrize(
    ("exif", "offset_s", "own"),
    [
        ("2026:12:05 14:03:22", 60, True),  # uploaded a minute later
        ("2026:12:05 14:03:22", 0, True),
        ("2026:12:05 14:03:22", -200, True),  # camera a little ahead: within 5 min
        ("2026:12:05 14:03:22", -3 * 3600, False),  # camera hours ahead
        ("2026:12:05 14:03:22", 3 * 3600, False),  # camera hours behind
        ("2099:01:01 00:00:00", 0, False),  # a camera clock in the future
        ("1970:01:01 08:00:05", 0, False),  # a camera with a dead clock battery
    ],
    ids=["late-1min", "same", "ahead-200s", "ahead-3h", "behind-3h", "2099", "1970"],
)
def test_the_cameras_time_is_used_only_within_a_bound_of_its_arrival(
    exif: str, offset_s: float, own: bool
) -> None:
    arrived = TAKEN + offset_s
    jpeg = exif_jpeg(FRAME, exif)
    expected = exif_time(jpeg, 8) if own else arrived
    assert _clock().time_of(jpeg, "x.jpg", arrived) == expected


def test_a_camera_clock_that_is_off_is_told_once_and_when_it_is_right_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, off = _clock(), exif_jpeg(FRAME, "2099:01:01 00:00:00")
    with caplog.at_level(logging.INFO, "villagewatch.edge.vision.capturetime"):
        for _ in range(5):
            assert clock.time_of(off, "a.jpg", TAKEN) == TAKEN
        assert clock.off
        assert clock.time_of(exif_jpeg(FRAME, "2026:12:05 14:03:22"), "b.jpg", TAKEN + 5) == TAKEN
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2, said
    assert "clock is off" in said[0] and "2098-12-31 16:00:00 UTC" in said[0] and "a.jpg" in said[0]
    assert "agrees" in said[1]


def test_a_late_uploading_camera_is_believed_with_a_larger_bound() -> None:
    jpeg = exif_jpeg(FRAME, "2026:12:05 14:03:22")
    assert _clock().time_of(jpeg, "", TAKEN + 7200) == TAKEN + 7200
    assert _clock(max_behind_s=86400).time_of(jpeg, "", TAKEN + 7200) == TAKEN


def test_exif_comes_before_the_name_and_the_name_before_the_arrival() -> None:
    clock = _clock(name_time="cam-%Y%m%d-%H%M%S")
    plain = cv2.imencode(".jpg", FRAME)[1].tobytes()
    named = "cam-20261205-140400.jpg"
    assert clock.time_of(exif_jpeg(FRAME, "2026:12:05 14:03:22"), named, TAKEN + 60) == TAKEN
    assert clock.time_of(plain, named, TAKEN + 60) == TAKEN + 38
    assert clock.time_of(plain, "snap.jpg", TAKEN + 60) == TAKEN + 60


def test_a_backlog_of_stills_from_yesterday_is_read_at_their_own_times_in_order(
    tmp_path: Path,
) -> None:
    """The agent was down for a day: 500 stills a minute apart wait in the folder, each with
    its EXIF time and written (mtime) when it was taken."""
    folder = tmp_path / "in"
    folder.mkdir()
    yesterday = TAKEN - 86400
    for i in range(500):
        when = yesterday + 60 * i
        local = datetime.fromtimestamp(when + 8 * 3600, UTC).strftime("%Y:%m:%d %H:%M:%S")
        path = folder / f"cam-{i:04d}.jpg"
        path.write_bytes(exif_jpeg(FRAME, local))
        os.utime(path, (when + 3, when + 3))  # the upload took 3 s
    src = FolderSource(folder, clock=_clock())
    times = []
    while (got := src.next()) is not None:
        times.append(got[1])
    assert times == [yesterday + 60 * i for i in range(500)]


def test_an_http_still_is_timed_by_its_exif_when_the_camera_clock_agrees() -> None:
    now = time.time()
    local = datetime.fromtimestamp(now - 2 + 8 * 3600, UTC).strftime("%Y:%m:%d %H:%M:%S")
    pictures = [exif_jpeg(FRAME, local), exif_jpeg(FRAME, "2099:01:01 00:00:00")]
    src = HttpStillSource("http://cam/snap.jpg", 0.001, clock=_clock())
    src._http = httpx.Client(transport=httpx.MockTransport(lambda _r: httpx.Response(200, content=pictures.pop(0))))  # fmt: skip
    got = src.next()
    assert got is not None and got[1] == int(now - 2)  # EXIF has whole seconds
    time.sleep(0.01)
    asked = time.time()
    got = src.next()
    assert got is not None and asked <= got[1] <= time.time()  # the camera's 2099 is not
    src.close()
