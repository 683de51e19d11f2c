"""Synthetic scenes for the single-frame detectors: drawn objects pasted on real pictures.

Bottles, bags, boxes and branches are drawn procedurally (varied colour, size and
rotation, soft edges; a soft shadow on the ground, a darker wet rim on the water) and
pasted on the water of the shared gauge pictures and on the ground of the shared parking
frames. Each set is written as a detection-evaluation folder (docs/vision.md):

    OUT/water/  images/*.jpg, labels/*.txt, classes.txt, camera.yaml  (a `water` zone)
    OUT/ground/ images/*.jpg, labels/*.txt, classes.txt, camera.yaml  (`bin_area`, `road`)

    python -m villagewatch_dev.vision_scenes ../shared/data OUT --seed 1

Nothing is downloaded; the same seed gives the same set.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["CLASSES", "SceneSet", "make_ground", "make_scenes", "make_water"]

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]
CLASSES = ["debris", "garbage", "object"]
"""Class names, index order: what the single-frame detector calls an object in a water,
bin_area and road zone."""

# The open water of the gauge pictures (800x600) left of the staff, below the reeds (the
# board's reflection moves with the level, so it is left out), and two stretches of plain
# asphalt of the PKLot UFPR05 frames (1280x720) clear of the spaces (the aisle beside the
# island, and below it).
WATER = [(0, 420), (260, 420), (260, 600), (0, 600)]
BINS = [(320, 560), (560, 560), (560, 712), (330, 712)]
ROAD = [(300, 350), (390, 350), (460, 500), (310, 500)]

_PALETTE = {  # BGR
    "bottle": [(40, 120, 40), (30, 60, 110), (200, 170, 120), (235, 235, 235), (40, 40, 200)],
    "bag": [(245, 245, 245), (200, 60, 30), (40, 40, 190), (60, 170, 60), (30, 30, 30),
            (60, 200, 230)],
    "box": [(90, 140, 190), (70, 110, 160), (230, 230, 230), (120, 160, 200)],
    "branch": [(40, 70, 100), (30, 50, 70), (70, 100, 120)],
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class SceneSet:
    """A written set: its folder, camera file, and how many images and objects."""

    folder: Path
    camera: Path
    images: int
    objects: int


def _shape(kind: str, size: float, rng: np.random.Generator) -> tuple[F32, F32]:
    """An object drawn upright on a transparent square: (colour BGR float, alpha 0-1)."""
    s = math.ceil(size * 1.6) | 1
    img = np.zeros((s, s, 3), np.float32)
    alpha = np.zeros((s, s), np.float32)
    c = s // 2
    base = np.array(_PALETTE[kind][rng.integers(len(_PALETTE[kind]))], np.float32)
    base = np.clip(base * rng.uniform(0.8, 1.15), 0, 255)
    if kind == "bottle":
        w, h = size * rng.uniform(0.28, 0.4), size
        cv2.ellipse(alpha, (c, c), (int(w / 2), int(h * 0.4)), 0, 0, 360, 1.0, -1)
        cv2.rectangle(alpha, (int(c - w / 6), int(c - h / 2)), (int(c + w / 6), c), 1.0, -1)
        img[:] = base
        shine = tuple(float(v) for v in np.clip(base + 60, 0, 255))
        x = int(c - w / 5)
        cv2.line(img, (x, int(c - h * 0.3)), (x, int(c + h * 0.3)), shine, max(1, int(w / 6)))
    elif kind == "bag":
        n = 14
        radii = size / 2 * rng.uniform(0.6, 1.0, n)
        radii = (radii + np.roll(radii, 1) + np.roll(radii, -1)) / 3
        angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
        pts = np.stack([c + radii * np.cos(angles), c + radii * 0.8 * np.sin(angles)], 1)
        cv2.fillPoly(alpha, [pts.astype(np.int32)], 1.0)
        img[:] = base
        for _ in range(3):  # wrinkles
            p0 = rng.uniform(c - size / 4, c + size / 4, 2).astype(int)
            p1 = p0 + rng.uniform(-size / 4, size / 4, 2).astype(int)
            cv2.line(img, tuple(p0), tuple(p1), tuple(float(v) for v in base * 0.75), 2)
    elif kind == "box":
        w, h = size * rng.uniform(0.6, 1.0), size * rng.uniform(0.5, 0.8)
        x0, y0 = int(c - w / 2), int(c - h / 2)
        cv2.rectangle(alpha, (x0, y0), (int(x0 + w), int(y0 + h)), 1.0, -1)
        img[:] = base
        side = int(h * 0.3)  # the side face in shade
        img[int(y0 + h) - side : int(y0 + h) + 1] = base * 0.7
        cv2.line(img, (c, y0), (c, y0 + int(h) - side), tuple(float(v) for v in base * 0.8), 1)
    else:  # branch: a crooked stick with twigs
        thick = max(3, int(size * rng.uniform(0.1, 0.16)))
        p = np.array([c - size / 2, c], np.float64)
        joints = [p]
        for _ in range(4):
            p = p + np.array([size / 4, rng.uniform(-size / 10, size / 10)])
            joints.append(p)
        cv2.polylines(alpha, [np.array(joints, np.int32)], False, 1.0, thick)
        for q in joints[1:-1:2]:
            end = q + rng.uniform([-size / 6, -size / 3], [size / 6, -size / 6])
            cv2.line(alpha, tuple(q.astype(int)), tuple(end.astype(int)), 1.0, max(2, thick // 2))
        img[:] = base
    noise = rng.normal(0, 6, img.shape).astype(np.float32)
    return np.clip(img + noise, 0, 255), alpha


def _rotated(img: F32, alpha: F32, angle: float) -> tuple[F32, F32]:
    s = alpha.shape[0]
    m = cv2.getRotationMatrix2D((s / 2, s / 2), angle, 1.0)
    return (
        np.asarray(cv2.warpAffine(img, m, (s, s), flags=cv2.INTER_LINEAR), np.float32),
        np.asarray(cv2.warpAffine(alpha, m, (s, s), flags=cv2.INTER_LINEAR), np.float32),
    )


def _paste(
    frame: F32, img: F32, alpha: F32, x: int, y: int, *, water: bool, rng: np.random.Generator
) -> tuple[int, int, int, int]:
    """Blend an object into ``frame`` at (x, y) (its square's corner); its box in the frame."""
    s = alpha.shape[0]
    soft = cv2.GaussianBlur(alpha, (3, 3), 0.8)  # soft edges, as a lens draws them
    region = frame[y : y + s, x : x + s]
    if water:  # a darker wet rim, and the part under water fainter
        rim = np.clip(cv2.GaussianBlur(alpha, (0, 0), 3) * 1.6 - soft, 0, 1)
        region *= (1 - 0.25 * rim)[..., None]
        soft = soft * rng.uniform(0.75, 1.0)
    else:  # a soft shadow away from the sun
        dx, dy = rng.integers(2, 6, 2)
        shadow = cv2.GaussianBlur(np.roll(alpha, (int(dy), int(dx)), (0, 1)), (0, 0), 2.5)
        region *= (1 - 0.45 * shadow)[..., None]
    # the scene's light falls on the object too (at night the camera's lamp still lights it)
    light = 0.6 + 0.4 * float(np.median(region)) / 128.0
    obj = np.clip(img * min(light, 1.2), 0, 255)
    region[:] = region * (1 - soft[..., None]) + obj * soft[..., None]
    ys, xs = np.nonzero(alpha > 0.5)
    return (x + int(xs.min()), y + int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1)


def _somewhere(rng: np.random.Generator, lo: int, hi: int) -> int:
    lo = max(0, int(lo))
    return int(rng.integers(lo, max(lo + 1, int(hi))))


def _scene(
    frame: U8, zones: list[tuple[list[tuple[int, int]], int, tuple[float, float], bool]],
    rng: np.random.Generator,
) -> tuple[U8, list[tuple[int, tuple[int, int, int, int]]]]:  # fmt: skip
    """Objects pasted in each zone (polygon, class, size range px, water); the labels."""
    out = frame.astype(np.float32)
    h, w = frame.shape[:2]
    labels: list[tuple[int, tuple[int, int, int, int]]] = []
    for poly, cls, (lo, hi), water in zones:
        inside = np.zeros((h, w), np.uint8)
        cv2.fillPoly(inside, [np.array(poly, np.int32)], 1)
        taken = np.zeros((h, w), np.uint8)
        xs, ys = np.array(poly)[:, 0], np.array(poly)[:, 1]
        kinds = ["bottle", "bag", "box", "branch"]
        for _ in range(int(rng.integers(1, 4))):
            for _attempt in range(30):
                kind = kinds[int(rng.integers(len(kinds)))]
                img, alpha = _rotated(
                    *_shape(kind, float(rng.uniform(lo, hi)), rng), float(rng.uniform(0, 360))
                )
                s = alpha.shape[0]
                x = _somewhere(rng, xs.min() - s // 2, min(w - s, xs.max() - s // 2))
                y = _somewhere(rng, ys.min() - s // 2, min(h - s, ys.max() - s // 2))
                foot = alpha > 0.05
                spot = (slice(y, y + s), slice(x, x + s))
                if not inside[spot][foot].all() or taken[spot][foot].any():
                    continue
                box = _paste(out, img, alpha, x, y, water=water, rng=rng)
                taken[spot] |= np.asarray(
                    cv2.dilate(foot.astype(np.uint8), np.ones((25, 25), np.uint8)), np.uint8
                )
                labels.append((cls, box))
                break
    return np.clip(out, 0, 255).astype(np.uint8), labels


def _write_set(
    folder: Path,
    *, backgrounds: list[Path], zones: list[tuple[list[tuple[int, int]], int,
    tuple[float, float], bool]], camera_yaml: str, n: int, rng: np.random.Generator,
) -> SceneSet:  # fmt: skip
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(exist_ok=True)
    (folder / "classes.txt").write_text("\n".join(CLASSES) + "\n", encoding="utf-8")
    camera = folder / "camera.yaml"
    camera.write_text(camera_yaml, encoding="utf-8")
    objects = 0
    for i in range(n):
        src = backgrounds[int(rng.integers(len(backgrounds)))]
        frame = cv2.imread(str(src), cv2.IMREAD_COLOR)
        if frame is None:
            raise ValueError(f"{src} is not an image")
        picture, labels = _scene(np.asarray(frame, np.uint8), zones, rng)
        name = f"{i:03d}-{src.stem}"
        cv2.imwrite(str(folder / "images" / f"{name}.jpg"), picture, [cv2.IMWRITE_JPEG_QUALITY, 90])
        h, w = picture.shape[:2]
        rows = [
            f"{cls} {(x + bw / 2) / w:.6f} {(y + bh / 2) / h:.6f} {bw / w:.6f} {bh / h:.6f}"
            for cls, (x, y, bw, bh) in labels
        ]
        (folder / "labels" / f"{name}.txt").write_text("".join(r + "\n" for r in rows), "utf-8")
        objects += len(labels)
    return SceneSet(folder, camera, n, objects)


def _yaml_zone(zid: str, kind: str, poly: list[tuple[int, int]]) -> str:
    return f"  - {{id: {zid}, kind: {kind}, polygon: {[list(p) for p in poly]}}}\n"


def make_water(data: Path, out: Path, *, seed: int, n: int = 24) -> SceneSet:
    """Objects floating on the water of the shared gauge pictures."""
    backgrounds = sorted((data / "water-gauge" / "images").glob("*.jpg"))
    cam = (
        "# synthetic: objects pasted on the water of the GaugeCam pictures\n"
        "camera: synthetic-water\ncoordinates: pixel\nframe: [800, 600]\nstills: true\nzones:\n"
        + _yaml_zone("river", "water", WATER)
    )
    zones = [(WATER, 0, (18.0, 60.0), True)]
    return _write_set(
        out, backgrounds=backgrounds, zones=zones, camera_yaml=cam, n=n,
        rng=np.random.default_rng(seed),
    )  # fmt: skip


def make_ground(data: Path, out: Path, *, seed: int, n: int = 24) -> SceneSet:
    """Objects lying in a bin area and on a road of the shared parking frames."""
    backgrounds = sorted((data / "parking").glob("sequence*/frames/*"))
    cam = (
        "# synthetic: objects pasted on the asphalt of the PKLot UFPR05 frames\n"
        "camera: synthetic-ground\ncoordinates: pixel\nframe: [1280, 720]\nstills: true\n"
        "zones:\n" + _yaml_zone("bins", "bin_area", BINS) + _yaml_zone("square", "road", ROAD)
    )
    zones = [(BINS, 1, (22.0, 60.0), False), (ROAD, 2, (22.0, 60.0), False)]
    return _write_set(
        out, backgrounds=backgrounds, zones=zones, camera_yaml=cam, n=n,
        rng=np.random.default_rng(seed),
    )  # fmt: skip


def make_scenes(data: Path, out: Path, *, seed: int, n: int = 24) -> list[SceneSet]:
    """Both sets, ``out/water`` and ``out/ground``, from one seed."""
    return [
        make_water(data, out / "water", seed=seed, n=n),
        make_ground(data, out / "ground", seed=seed + 1000, n=n),
    ]


def main() -> None:
    """``python -m villagewatch_dev.vision_scenes DATA OUT [--seed N] [--n N]``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path, help="the shared data folder")
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--n", type=int, default=24, help="images per set")
    args = ap.parse_args()
    for s in make_scenes(args.data, args.out, seed=args.seed, n=args.n):
        sys.stdout.write(f"{s.folder}: {s.images} images, {s.objects} objects, camera {s.camera}\n")


if __name__ == "__main__":
    main()
