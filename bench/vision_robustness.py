"""How the gauge reader and the parking spaces hold up when the pictures get worse (prints
figures; not a test).

gauge — each of the 24 GaugeCam field pictures (../shared/data/water-gauge) is read as it is,
  then again after one change a village camera meets in the field: haze, over- and
  under-exposure, noise, blur, heavy JPEG, a tilted or moved camera, a different resolution,
  local tone mapping (a camera's "WDR"), a rope across the board, a wet band left by the
  falling tide.  For each change: how many
  pictures gave a level, how many of those are within 1 cm of the level read on the unchanged
  picture, and the worst difference.  A picture refused (no level, with a reason) is not a
  wrong level: an operator sees a gap, not a flood that is not there.

spaces — the 15 PKLot UFPR05 frames of sequence1-3 (40 spaces each) judged against the empty
  lot of sequence0 after the same kind of changes, and after a raking low sun (every car's
  long shadow across the spaces beside it, posts' shadows across the lot) alone and in haze:
  accuracy against the annotations, and how many right ones had a confidence under 0.9.

    .venv/bin/python bench/vision_robustness.py
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from villagewatch.edge.vision.gauge import GaugeReader, GaugeReading, load_target_csv
from villagewatch.edge.vision.occupancy import SpaceOccupancy, load_pklot_spaces
from villagewatch.edge.vision.references import image_files, load_references, read_image
from villagewatch_dev.raking_sun import Truth, raking_sun

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "water-gauge"
PARKING = DATA.parent / "parking"
Gray = np.ndarray


def _affine(
    image: Gray, angle: float = 0.0, scale: float = 1.0, dx: float = 0, dy: float = 0
) -> Gray:
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    m[:, 2] += np.array([dx, dy])
    return np.asarray(cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REFLECT), np.uint8)


def _gain(k: float) -> Callable[[Gray], Gray]:
    return lambda g: np.clip(g * k, 0, 255).astype(np.uint8)


def _jpeg(image: Gray, quality: int = 20) -> Gray:
    _, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return np.asarray(cv2.imdecode(buf, cv2.IMREAD_UNCHANGED), np.uint8)


def _tilted_view(gray: Gray) -> Gray:
    h, w = gray.shape
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    dst = np.array([[30, 0], [w - 30, 20], [w, h], [0, h - 20]], np.float32)
    return np.asarray(cv2.warpPerspective(gray, cv2.getPerspectiveTransform(src, dst), (w, h)))


Change = Callable[[Gray, GaugeReading], Gray]  # (picture, its reading) -> changed picture


def _changes(rng: np.random.Generator) -> dict[str, Change]:
    simple: dict[str, Callable[[Gray], Gray]] = {
        "haze (0.4 x + 120)": lambda g: (g * 0.4 + 120).astype(np.uint8),
        "low contrast (0.3 x + 20)": lambda g: (g * 0.3 + 20).astype(np.uint8),
        "darker (0.5 x)": _gain(0.5),
        "gain 1.2 (board clipped)": _gain(1.2),
        "gain 1.4": _gain(1.4),
        "gain 1.6 (reflection clipped)": _gain(1.6),
        "gamma 1.8": lambda g: (255 * (g / 255.0) ** 1.8).astype(np.uint8),
        "noise (sigma 8)": lambda g: np.clip(g + rng.normal(0, 8, g.shape), 0, 255).astype(
            np.uint8
        ),
        "blur (sigma 1.5)": lambda g: np.asarray(cv2.GaussianBlur(g, (0, 0), 1.5), np.uint8),
        "JPEG quality 20": _jpeg,
        "rotated 3 deg": lambda g: _affine(g, 3.0),
        "rotated -3 deg": lambda g: _affine(g, -3.0),
        "zoomed out 0.8": lambda g: _affine(g, scale=0.8),
        "zoomed in 1.2": lambda g: _affine(g, scale=1.2),
        "moved (-60, +40 px)": lambda g: _affine(g, dx=-60, dy=40),
        "half resolution": lambda g: np.asarray(
            cv2.resize(g, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA), np.uint8
        ),
        "1.6 x resolution": lambda g: np.asarray(cv2.resize(g, None, fx=1.6, fy=1.6), np.uint8),
        "tilted view": _tilted_view,
        "local tone mapping (CLAHE)": lambda g: np.asarray(
            cv2.createCLAHE(3.0, (8, 8)).apply(g), np.uint8
        ),
    }
    changes: dict[str, Change] = {name: _ignoring_reading(f) for name, f in simple.items()}
    changes["rope 10 cm above the water"] = _with_rope
    changes["wet band 10 cm above the water"] = _with_wet_band
    return changes


def _ignoring_reading(change: Callable[[Gray], Gray]) -> Change:
    return lambda gray, _reading: change(gray)


def _with_rope(gray: Gray, reading: GaugeReading) -> Gray:
    """A dark line 1.5 cm thick across the board, 10 cm above the water."""
    level, transform = reading.level_cm, reading.world_to_image
    assert level is not None
    assert transform is not None
    ends = cv2.perspectiveTransform(
        np.array([[[-5.0, level + 10], [85.0, level + 10]]]), transform
    )[0]
    roped = gray.copy()
    thick = max(2, round(1.5 * float(np.hypot(*(ends[1] - ends[0]))) / 90.0))
    p0 = (round(float(ends[0][0])), round(float(ends[0][1])))
    p1 = (round(float(ends[1][0])), round(float(ends[1][1])))
    cv2.line(roped, p0, p1, int(gray.mean() * 0.6), thick)
    return roped


def _with_wet_band(gray: Gray, reading: GaugeReading) -> Gray:
    """The board darkened to 0.6 from the water up to 10 cm above it (soft 1 cm edges, the
    board's own texture): what a falling tide leaves."""
    level, transform = reading.level_cm, reading.world_to_image
    assert level is not None
    assert transform is not None
    h, w = gray.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    pix = np.stack([xs.ravel(), ys.ravel()], axis=1).reshape(-1, 1, 2)
    world = cv2.perspectiveTransform(pix, np.linalg.inv(transform)).reshape(h, w, 2)
    wx, wy = world[..., 0], world[..., 1]
    weight = np.clip(level + 10.5 - wy, 0, 1) * np.clip(wy - level + 0.5, 0, 1)
    weight *= np.clip(wx + 7.5, 0, 1) * np.clip(88.0 - wx, 0, 1)  # the board, -7 to 87.5 cm
    return np.asarray(np.clip(gray * (1.0 - 0.4 * weight), 0, 255), np.uint8)


def bench_gauge() -> None:
    if not DATA.is_dir():
        raise SystemExit(f"{DATA}: the water-gauge data set is not beside the checkout")
    reader = GaugeReader(load_target_csv(DATA / "target_world_coordinates_cm.csv"))
    pictures: list[tuple[Gray, GaugeReading, float]] = []
    for path in sorted((DATA / "images").glob("*.jpg")):
        gray = np.asarray(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE), np.uint8)
        reading = reader.read(gray)
        if reading.level_cm is None:
            raise SystemExit(f"{path.name}: no level on the unchanged picture")
        pictures.append((gray, reading, reading.level_cm))
    rng = np.random.default_rng(1)
    changes = _changes(rng)
    print(f"gauge reader, {len(pictures)} GaugeCam pictures")
    print(f"{'change':32s} {'level':>6s} {'<=1 cm':>7s} {'worst cm':>9s}")
    for name, change in changes.items():
        diffs: list[float] = []
        for gray, reading, level in pictures:
            got = reader.read(change(gray, reading)).level_cm
            if got is not None:
                diffs.append(got - level)
        close = sum(abs(d) <= 1.0 for d in diffs)
        worst = max((abs(d) for d in diffs), default=0.0)
        print(
            f"{name:32s} {len(diffs):3d}/{len(pictures)} {close:4d}/{len(diffs):<3d} {worst:9.1f}"
        )


def _sun(
    dx: float, dy: float, depth: float, *, stepped: bool, haze: bool = False
) -> Callable[[Gray, Truth], Gray]:
    def change(image: Gray, truth: Truth) -> Gray:
        sunny = raking_sun(image, truth, dx, dy, depth, stepped=stepped)
        return (sunny * 0.7 + 60).astype(np.uint8) if haze else sunny

    return change


def _ignoring_truth(change: Callable[[Gray], Gray]) -> Callable[[Gray, Truth], Gray]:
    return lambda image, _truth: change(image)


def bench_spaces() -> None:
    """Sequences 1-3 (600 space-images) against the empty lot of sequence0, each change."""
    if not PARKING.is_dir():
        raise SystemExit(f"{PARKING}: the parking data set is not beside the checkout")
    pictures: list[Gray] = []
    truths: list[Truth] = []
    for k in (1, 2, 3):
        for p in image_files(PARKING / f"sequence{k}" / "frames"):
            pictures.append(read_image(p))
            truths.append(load_pklot_spaces(PARKING / f"sequence{k}" / "spaces" / f"{p.stem}.xml"))
    spaces = {f"s{k}": polygon for k, (polygon, _) in truths[0].items()}
    model = SpaceOccupancy(spaces, load_references(PARKING / "sequence0" / "frames"))
    rng = np.random.default_rng(2)
    simple: dict[str, Callable[[Gray], Gray]] = {
        "none": lambda g: g,
        "haze (0.8 x + 30)": lambda g: (g * 0.8 + 30).astype(np.uint8),
        "haze (0.7 x + 60)": lambda g: (g * 0.7 + 60).astype(np.uint8),
        "haze (0.6 x + 90)": lambda g: (g * 0.6 + 90).astype(np.uint8),
        "darker (0.6 x)": _gain(0.6),
        "darker day (0.4 x, gamma 1.2)": lambda g: (
            255 * (np.clip(g * 0.4, 0, 255) / 255.0) ** 1.2
        ).astype(np.uint8),
        "gain 1.3": _gain(1.3),
        "colour cast (B 1.2, R 0.8)": lambda g: np.clip(
            g * np.array([1.2, 1.0, 0.8]), 0, 255
        ).astype(np.uint8),
        "noise (sigma 6)": lambda g: np.clip(g + rng.normal(0, 6, g.shape), 0, 255).astype(
            np.uint8
        ),
        "blur (sigma 1)": lambda g: np.asarray(cv2.GaussianBlur(g, (0, 0), 1.0), np.uint8),
        "JPEG quality 30": lambda g: _jpeg(g, 30),
        "camera moved (4, 2 px)": lambda g: _affine(g, dx=4, dy=2),
        "camera moved (8, 4 px)": lambda g: _affine(g, dx=8, dy=4),
        "camera turned 0.5 deg": lambda g: _affine(g, 0.5),
    }
    changes: dict[str, Callable[[Gray, Truth], Gray]] = {
        name: _ignoring_truth(f) for name, f in simple.items()
    }
    for label, stepped in (("", False), (", stepped", True)):
        for what, dx, dy, depth in (
            ("from the east", -110, 25, 0.45),
            ("from the west", 110, 25, 0.45),
            ("deep shadow 0.3", -80, 60, 0.3),
        ):
            changes[f"raking sun {what}{label}"] = _sun(dx, dy, depth, stepped=stepped)
        changes[f"raking sun in haze{label}"] = _sun(-110, 25, 0.45, stepped=stepped, haze=True)
    print(f"parking spaces, {len(pictures)} frames (sequence1-3) x {len(spaces)} spaces")
    print(f"{'change':38s} {'right':>8s} {'%':>6s} {'wrong':>6s} {'borderline':>11s}")
    for name, change in changes.items():
        right = total = doubtful = 0
        for picture, truth in zip(pictures, truths, strict=True):
            for space, state in model.classify(change(picture, truth)).items():
                ok = state.occupied == truth[space[1:]][1]
                right += ok
                total += 1
                doubtful += ok and state.confidence < 0.9
        print(
            f"{name:38s} {right:3d}/{total} {100 * right / total:6.1f} {total - right:6d} "
            f"{doubtful:11d}"
        )


def main() -> None:
    print(f"vision robustness, {datetime.now(UTC):%Y-%m-%d}")
    bench_gauge()
    print()
    bench_spaces()


if __name__ == "__main__":
    main()
