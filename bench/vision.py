"""Benchmark of camera vision at the edge (prints figures; not a test).

frame — the whole per-frame pipeline (grey, downscale, privacy mask, background pair,
  objects, zone rules) on 1280x720 frames of a street with cars parking, passing and a
  lighting drift, on one core (OpenCV limited to one thread): ms per frame, median and
  95th percentile. Target ≤ 5 ms (four cameras at 5 fps on one core).

gauge, spaces — the occasional work (once a minute or per still): the gauge reader on the
  GaugeCam images and the occupancy of the 40 PKLot spaces, ms per image, when
  ../shared/data is beside the checkout.

rss — resident memory of this process after all of it.

    .venv/bin/python bench/vision.py
"""

from __future__ import annotations

import resource
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from villagewatch.edge.vision.config import CameraVision, load_camera
from villagewatch.edge.vision.pipeline import CameraPipeline
from villagewatch.edge.vision.references import image_files, load_references, read_image

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
W, H = 1280, 720
FRAMES = 1500


def _street(rng: np.random.Generator) -> np.ndarray:
    low = rng.integers(70, 190, (18, 32, 3), dtype=np.uint8)
    big = cv2.resize(low, (W, H), interpolation=cv2.INTER_CUBIC).astype(np.float64)
    return np.clip(big + rng.normal(0, 6, (H, W, 3)), 0, 255).astype(np.uint8)


def bench_frames() -> None:
    rng = np.random.default_rng(3)
    bg = _street(rng)
    car = np.full((120, 220, 3), (40, 30, 150), np.uint8)
    cv2.rectangle(car, (30, 15), (190, 50), (200, 210, 210), -1)
    cam = CameraVision.model_validate(
        {
            "camera": "bench",
            "masks": [{"id": "house", "polygon": [[1000, 0], [1280, 0], [1280, 250], [1000, 250]]}],
            "zones": [
                {"id": "fire-lane", "kind": "no_parking", "dwell_s": 60, "min_object": 0.01,
                 "polygon": [[400, 300], [900, 300], [900, 650], [400, 650]]},
                {"id": "bins", "kind": "bin_area", "dwell_s": 120, "near_px": 40,
                 "polygon": [[50, 450], [250, 450], [250, 650], [50, 650]]},
                {"id": "square", "kind": "road", "dwell_s": 300,
                 "polygon": [[0, 250], [1280, 250], [1280, 720], [0, 720]]},
                {"id": "river", "kind": "water", "dwell_s": 60,
                 "polygon": [[0, 660], [1280, 660], [1280, 720], [0, 720]]},
            ],
        }
    )  # fmt: skip
    frames = []
    for i in range(60):  # a pool of frames so that generating them is not timed
        f = bg.copy()
        if i >= 10:
            f[420:540, 550:770] = car  # parks
        x = (i * 45) % (W + 220) - 220
        f[250:370, max(0, x) : max(0, min(W, x + 220))] = car[
            :, : max(0, min(W, x + 220)) - max(0, x)
        ]
        frames.append(np.clip(f * (1.0 - 0.004 * i), 0, 255).astype(np.uint8))
    pipe = CameraPipeline(cam)
    t0 = 1_790_000_000.0
    times = []
    events = 0
    for i in range(FRAMES):
        frame = frames[min(i, 10) if i < 300 else 10 + i % 50]
        s = time.perf_counter()
        out = pipe.process(frame, t0 + i / 5)
        times.append((time.perf_counter() - s) * 1000)
        events += len(out.events)
    times.sort()
    print(
        f"frame: 1280x720 → {pipe.scene.small_w if pipe.scene else 0}px processing width, "
        f"{FRAMES} frames at 5 fps of scene time: median {statistics.median(times):.2f} ms, "
        f"p95 {times[int(0.95 * len(times))]:.2f} ms per frame on one core "
        f"({events} events, their evidence JPEGs included)"
    )


def bench_real() -> None:
    if not DATA.is_dir():
        print(f"gauge, spaces: skipped (no {DATA})")
        return
    gauge_cam = load_camera(ROOT / "config/cameras/gaugecam-north-river.yaml")
    pipe = CameraPipeline(gauge_cam)
    ms = []
    for path in image_files(DATA / "water-gauge/images"):
        gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        s = time.perf_counter()
        pipe.read_level(np.asarray(gray, np.uint8))
        ms.append((time.perf_counter() - s) * 1000)
    print(f"gauge: 800x600, {len(ms)} images: median {statistics.median(ms):.1f} ms per reading")
    lot = load_camera(ROOT / "config/cameras/pklot-ufpr05.yaml")
    refs = load_references(DATA / "parking/sequence0/frames")
    pipe = CameraPipeline(lot, references=refs)
    ms = []
    for path in image_files(DATA / "parking/sequence1/frames"):
        frame = read_image(path)
        s = time.perf_counter()
        pipe.spaces(frame)
        ms.append((time.perf_counter() - s) * 1000)
    print(f"spaces: 1280x720, 40 spaces, {len(ms)} images: median {statistics.median(ms):.1f} ms")


def main() -> None:
    cv2.setNumThreads(1)
    print(f"camera vision benchmark, one core (cv2 threads 1), {datetime.now(UTC):%Y-%m-%d}")
    bench_frames()
    bench_real()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"rss: {rss_mb:.0f} MB peak for this process, of which the benchmark's own pool of 60 "
        f"frames is {60 * W * H * 3 / 2**20:.0f} MB and the 5 + 5 + 24 data images it reads"
    )


if __name__ == "__main__":
    main()
