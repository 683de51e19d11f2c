"""The bow-tie water gauge on rendered targets, and the target calibration file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from villagewatch.edge.vision.config import CameraVision
from villagewatch.edge.vision.gauge import GaugeReader, GaugeReading, load_target_csv
from villagewatch.edge.vision.pipeline import CameraPipeline

# the GaugeCam target of the field data, in its own file format
TARGET_CSV = """\
Col 0 x, Col 0 y, Col 1 x, Col 1 y
10.24, 121.75, 70.34, 121.75
10.24, 90.1, 70.34, 90.1
10.24, 58.45, 70.34, 58.45
10.24, 26.8, 70.34, 26.8
"""

BOWTIE_HALF_CM = 11.0  # bow-ties are ~22 cm square, as on the field target
BOARD_CM = (-7.0, 2.0, 87.5, 142.0)  # x0, y0, x1, y1 of the white board
CANVAS_PX_PER_CM = 8  # the target is drawn at this resolution, then warped into the camera
IMAGE_SIZE = (800, 600)  # width, height
# where the camera sees the board's corners (top-left, top-right, bottom-right, bottom-left):
# about 4 px/cm like the field camera, with a mild keystone and roll
BOARD_IN_IMAGE = ((236.0, 38.0), (572.0, 50.0), (584.0, 568.0), (222.0, 552.0))


@pytest.fixture
def target_csv(tmp_path: Path) -> Path:
    path = tmp_path / "target_world_coordinates_cm.csv"
    path.write_text(TARGET_CSV)
    return path


def world_to_image() -> npt.NDArray[np.float64]:
    """Homography world (cm, y up) -> camera image (px) of the rendered target."""
    x0, y0, x1, y1 = BOARD_CM
    world = np.array([(x0, y1), (x1, y1), (x1, y0), (x0, y0)], np.float32)
    return np.asarray(
        cv2.getPerspectiveTransform(world, np.array(BOARD_IN_IMAGE, np.float32)), np.float64
    )


def render_target(
    world_points: list[tuple[float, float]], level_cm: float, seed: int = 0
) -> npt.NDArray[np.uint8]:
    """A camera view of the target on a darker, textured background, with textured water below
    ``level_cm`` (world y) and some sensor noise."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = BOARD_CM
    k = CANVAS_PX_PER_CM

    def canvas_pt(x: float, y: float) -> tuple[float, float]:
        return (x - x0) * k, (y1 - y) * k

    # the board with its bow-ties, drawn in world cm on a rectified canvas (16x sub-pixel)
    canvas = np.full((round((y1 - y0) * k) + 1, round((x1 - x0) * k) + 1), 235, np.uint8)
    h = BOWTIE_HALF_CM
    for cx, cy in world_points:
        for side in (-1.0, 1.0):
            tri = [
                canvas_pt(cx, cy),
                canvas_pt(cx + side * h, cy + h),
                canvas_pt(cx + side * h, cy - h),
            ]
            poly = np.round(np.array(tri) * 16).astype(np.int32)
            cv2.fillPoly(canvas, [poly], 25, cv2.LINE_AA, 4)

    # into the camera: canvas px -> world cm -> image px
    canvas_to_world = np.array([[1 / k, 0, x0], [0, -1 / k, y1], [0, 0, 1]], np.float64)
    to_image = world_to_image()
    width, height = IMAGE_SIZE
    smooth = cv2.GaussianBlur(canvas, (0, 0), 1.0)  # no aliasing when shrinking to ~4 px/cm
    board = cv2.warpPerspective(smooth, to_image @ canvas_to_world, IMAGE_SIZE)
    on_board = cv2.warpPerspective(
        np.full(canvas.shape, 255, np.uint8), to_image @ canvas_to_world, IMAGE_SIZE
    )
    texture = cv2.GaussianBlur(rng.normal(0.0, 1.0, (height, width)), (0, 0), 3.0)
    background = 80.0 + 40.0 * texture / texture.std()
    img = np.where(on_board > 127, board.astype(np.float64), background)

    # water: everything whose target-plane world y is below the level, darker and rippled
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    pix = np.stack([xs.ravel(), ys.ravel()], axis=1).reshape(-1, 1, 2)
    world_y = cv2.perspectiveTransform(pix, np.linalg.inv(to_image))[:, 0, 1].reshape(height, width)
    ripples = cv2.GaussianBlur(rng.normal(0.0, 1.0, (height, width)), (0, 0), 2.0)
    water = 55.0 + 12.0 * ripples / ripples.std() + 6.0 * np.sin(ys / 3.0)
    img = np.where(world_y < level_cm, water, img)

    img += rng.normal(0.0, 3.0, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


@pytest.mark.parametrize(
    ("level_cm", "rows_used", "method"),
    [
        (104.3, 1, "similarity"),  # only the top row is dry
        (78.6, 2, "homography"),
        (66.0, 2, "homography"),
        (41.2, 3, "homography"),
        (15.5, 4, "homography"),  # below the lowest row
    ],
)
def test_reads_the_level_of_a_rendered_target_within_1_cm(
    target_csv: Path, level_cm: float, rows_used: int, method: str
) -> None:
    world = load_target_csv(target_csv)
    reading = GaugeReader(world).read(render_target(world, level_cm))
    assert reading.level_cm is not None, reading
    assert reading.level_cm == pytest.approx(level_cm, abs=1.0), reading
    assert (reading.rows_used, reading.method, reading.reason) == (rows_used, method, "")


def test_water_below_the_searched_strip_gives_no_level(target_csv: Path) -> None:
    world = load_target_csv(target_csv)
    reading = GaugeReader(world).read(render_target(world, 5.0))
    assert reading.level_cm is None
    assert reading.reason == "no waterline found on the target"


def test_reads_a_rendered_target_in_a_smaller_frame(target_csv: Path) -> None:
    world = load_target_csv(target_csv)
    img = np.asarray(cv2.resize(render_target(world, 70.0, seed=3), None, fx=0.7, fy=0.7), np.uint8)
    reading = GaugeReader(world).read(img)
    assert reading.level_cm == pytest.approx(70.0, abs=1.0), reading


@pytest.mark.parametrize(
    "img",
    [
        np.full((600, 800), 128, np.uint8),
        np.random.default_rng(1).integers(0, 256, (600, 800), dtype=np.uint8),
        np.zeros((3, 5), np.uint8),
        np.zeros((0, 0), np.uint8),
    ],
    ids=["blank", "noise", "tiny", "empty"],
)
def test_no_target_gives_no_level_and_a_reason(
    target_csv: Path, img: npt.NDArray[np.uint8]
) -> None:
    reading = GaugeReader(load_target_csv(target_csv)).read(img)
    assert reading == GaugeReading(level_cm=None, rows_used=0, method="", reason="target not found")


def test_reader_takes_only_single_channel_8_bit_images(target_csv: Path) -> None:
    reader = GaugeReader(load_target_csv(target_csv))
    with pytest.raises(ValueError, match="single-channel uint8"):
        reader.read(np.zeros((60, 80, 3), np.uint8))
    with pytest.raises(ValueError, match="single-channel uint8"):
        reader.read(np.zeros((60, 80), np.uint16))


def test_reader_needs_two_bow_ties_on_the_top_row() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        GaugeReader([(10.0, 120.0)])
    with pytest.raises(ValueError, match="top bow-tie row"):
        GaugeReader([(10.0, 120.0), (10.0, 90.0), (70.0, 90.0)])


def test_load_target_csv_reads_one_pair_per_column(target_csv: Path) -> None:
    points = load_target_csv(target_csv)
    assert len(points) == 8
    assert points[:2] == [(10.24, 121.75), (70.34, 121.75)]
    assert points[-1] == (70.34, 26.8)


def test_load_target_csv_names_file_and_line_of_a_torn_row(tmp_path: Path) -> None:
    torn = tmp_path / "target_world_coordinates_cm.csv"
    torn.write_text(TARGET_CSV[: TARGET_CSV.rindex(",") - 1])  # cut off inside the last row
    with pytest.raises(ValueError, match=r"target_world_coordinates_cm\.csv, line 5: 3 values"):
        load_target_csv(torn)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("10.24, 121.75, 70.34, 121.75\n", "line 1: expected a header"),
        ("Col 0 x, Col 0 y, Col 1 x\n10, 1, 70\n", "line 1: expected a header"),
        ("Col 0 x, Col 0 y, Col 1 x, Col 1 y\n", "no bow-tie rows"),
        ("Col 0 x, Col 0 y, Col 1 x, Col 1 y\n10.24, 121.75, 70.34, 12x\n", "line 2: not a number"),
        ("Col 0 x, Col 0 y, Col 1 x, Col 1 y\n10.24, nan, 70.34, 1\n", "line 2: non-finite"),
    ],
)
def test_load_target_csv_rejects_malformed_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "target.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as err:
        load_target_csv(path)
    assert str(path) in str(err.value)


def test_the_pipeline_gives_the_transform_in_pixels_of_the_whole_frame(target_csv: Path) -> None:
    # the gauge zone is a part of the frame; the reader looks at that crop only, and the
    # transform it hands on (snapshots draw with it) must still be in full-frame pixels
    world = load_target_csv(target_csv)
    cam = CameraVision.model_validate({
        "camera": "gauge",
        "coordinates": "pixel",
        "frame": list(IMAGE_SIZE),
        "gauge": {"target_cm": [list(p) for p in world], "interval_s": 60},
        "zones": [{"id": "board", "kind": "gauge",
                   "polygon": [[150, 20], [700, 20], [700, 590], [150, 590]]}],
    })  # fmt: skip
    gray = render_target(world, 66.0)
    reading = CameraPipeline(cam).read_level(gray)
    assert reading.level_cm == pytest.approx(66.0, abs=1.0), reading
    assert reading.world_to_image is not None
    pts = np.array(world, np.float64).reshape(-1, 1, 2)
    got = cv2.perspectiveTransform(pts, reading.world_to_image).reshape(-1, 2)
    want = cv2.perspectiveTransform(pts, world_to_image()).reshape(-1, 2)
    assert np.abs(got - want).max() < 1.5, (got, want)

    colour = np.asarray(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), np.uint8)
    picture, shown = CameraPipeline(cam).snapshot(colour)
    assert shown is not None and shown.level_cm == reading.level_cm
    x, y = np.round(want[0]).astype(int)
    assert tuple(picture[y, x]) == (0, 255, 0)  # a bow-tie centre's cross
