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
