"""The bow-tie water gauge on the field images of a GaugeCam target (NRmarshDN, 2012-05-31,
18:00 to 23:45 every 15 min): calibrated from the target's world coordinates only, compared with
the reference levels."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import cv2
import numpy as np

from villagewatch.edge.vision.gauge import GaugeReader, load_target_csv


def test_water_gauge_reads_the_field_images_within_a_centimetre(shared_data: Path) -> None:
    folder = shared_data / "water-gauge"
    reader = GaugeReader(load_target_csv(folder / "target_world_coordinates_cm.csv"))
    with (folder / "levels.csv").open(newline="") as f:
        reference = {r["image"]: float(r["level_cm"]) for r in csv.DictReader(f)}
    images = sorted(p.name for p in (folder / "images").glob("*.jpg"))
    assert len(images) == 24
    assert sorted(reference) == images

    lines = [f"{'image':30s} {'ref':>7s} {'read':>7s} {'err':>6s}  rows method"]
    errors: list[float] = []
    seconds = 0.0
    for name in images:
        gray = cv2.imread(str(folder / "images" / name), cv2.IMREAD_GRAYSCALE)
        assert gray is not None, name
        start = time.perf_counter()
        reading = reader.read(np.asarray(gray, np.uint8))
        seconds += time.perf_counter() - start
        assert reading.level_cm is not None, (name, reading)
        err = reading.level_cm - reference[name]
        errors.append(err)
        lines.append(
            f"{name:30s} {reference[name]:7.2f} {reading.level_cm:7.2f} {err:+6.2f}  "
            f"{reading.rows_used:4d} {reading.method}"
        )

    mae = sum(abs(e) for e in errors) / len(errors)
    within_2 = sum(abs(e) <= 2.0 for e in errors)
    lines.append(
        f"MAE {mae:.3f} cm, within +-2 cm {within_2}/{len(errors)}, "
        f"max {max(abs(e) for e in errors):.2f} cm, {1000 * seconds / len(images):.1f} ms/image"
    )
    print("\n" + "\n".join(lines))  # noqa: T201 - the figures, shown by pytest -s

    assert mae <= 1.0
    # The misses expected are 20:15, 20:30 and 21:00 (read 4.0, 4.0 and 6.1 cm above the
    # reference).  They look like reference errors, not reader errors: the reference jumps
    # 85.3 -> 80.3 -> 79.0 -> 81.7 -> 73.5 -> 77.0 -> 73.1 cm over 20:00-21:30 while the readings
    # fall smoothly (85.2, 84.2, 83.0, 81.4, 79.6, 77.0, 73.1), and the prototype's independent
    # mirror check (the water surface is the mirror axis between a dry bow-tie centre and its
    # reflection) agreed with the readings within 0.5 cm on all 24 images.
    assert within_2 >= 20


def _pictures(
    shared_data: Path,
) -> tuple[GaugeReader, list[tuple[str, np.ndarray, float, np.ndarray]]]:
    """The reader, and each field picture with the level read on it unchanged and the
    world-to-image transform of that reading."""
    folder = shared_data / "water-gauge"
    reader = GaugeReader(load_target_csv(folder / "target_world_coordinates_cm.csv"))
    out = []
    for path in sorted((folder / "images").glob("*.jpg")):
        gray = np.asarray(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE), np.uint8)
        reading = reader.read(gray)
        assert reading.level_cm is not None and reading.world_to_image is not None, path.name
        out.append((path.name, gray, reading.level_cm, reading.world_to_image))
    return reader, out


def test_haze_does_not_change_the_reading(shared_data: Path) -> None:
    # fog or a dirty lens adds light everywhere: the board's contrast drops, the level must not
    reader, pictures = _pictures(shared_data)
    for name, gray, level, _ in pictures:
        hazy = (gray * 0.4 + 120).astype(np.uint8)
        reading = reader.read(hazy)
        assert reading.level_cm is not None, (name, reading.reason)
        assert abs(reading.level_cm - level) <= 0.5, (name, reading.level_cm, level)


def test_an_overexposed_picture_is_refused_rather_than_misread(shared_data: Path) -> None:
    # 40 % more gain clips the board and, on 6 pictures, its reflection too: the waterline step
    # disappears and the reflection's lower edge (53 to 58 cm lower) was read before.  Now the
    # bow-tie rows such a level would put in the air are looked for, are not there, and the
    # picture gives no level.
    reader, pictures = _pictures(shared_data)
    read = 0
    for name, gray, level, _ in pictures:
        bright = np.clip(gray * 1.4, 0, 255).astype(np.uint8)
        reading = reader.read(bright)
        if reading.level_cm is None:
            assert "not credible" in reading.reason or "no waterline" in reading.reason, name
            continue
        read += 1
        assert abs(reading.level_cm - level) <= 1.0, (name, reading.level_cm, level)
    assert read >= 18


def test_a_rope_across_the_board_is_not_taken_for_the_water(shared_data: Path) -> None:
    # a dark line 1.5 cm thick, 10 cm above the water, across the whole board: a strong
    # bright-to-dark step above the waterline, but the board is white again just below it
    reader, pictures = _pictures(shared_data)
    close = 0
    for _, gray, level, transform in pictures:
        ends = cv2.perspectiveTransform(
            np.array([[[-5.0, level + 10.0], [85.0, level + 10.0]]]), transform
        )[0]
        px_per_cm = float(np.hypot(*(ends[1] - ends[0]))) / 90.0
        roped = gray.copy()
        cv2.line(
            roped,
            (round(ends[0][0]), round(ends[0][1])),
            (round(ends[1][0]), round(ends[1][1])),
            int(gray.mean() * 0.6),
            max(2, round(1.5 * px_per_cm)),
        )
        reading = reader.read(roped)
        close += reading.level_cm is not None and abs(reading.level_cm - level) <= 2.0
    # before the persistence check every picture read the rope, 11 cm too high
    assert close >= 21
