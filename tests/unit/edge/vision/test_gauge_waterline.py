"""The waterline on rendered targets: a reflection against the board going on (wet band)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from tests.unit.edge.vision.test_gauge import render_target, world_to_image
from villagewatch.edge.vision.gauge import GaugeReader, load_target_csv
from villagewatch.edge.vision.gauge_waterline import Grid, board_texture, find_steps

Gray = npt.NDArray[np.uint8]


def _world_y(shape: tuple[int, ...]) -> npt.NDArray[np.float64]:
    h, w = shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    pix = np.stack([xs.ravel(), ys.ravel()], axis=1).reshape(-1, 1, 2)
    inv = np.linalg.inv(world_to_image())
    return np.asarray(cv2.perspectiveTransform(pix, inv), np.float64)[:, 0, 1].reshape(h, w)


def with_reflection(dry: Gray, level_cm: float) -> Gray:
    """The rendered target with calm water below ``level_cm`` that mirrors the board above it
    (darker), as the field pictures show."""
    h, w = dry.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    pix = np.stack([xs.ravel(), ys.ravel()], axis=1).reshape(-1, 1, 2)
    to_image = world_to_image()
    world = cv2.perspectiveTransform(pix, np.linalg.inv(to_image))
    world[:, 0, 1] = 2 * level_cm - world[:, 0, 1]
    mirror = cv2.perspectiveTransform(world, to_image).reshape(h, w, 2).astype(np.float32)
    reflected = cv2.remap(dry, mirror[..., 0], mirror[..., 1], cv2.INTER_LINEAR)
    out = np.where(_world_y(dry.shape) < level_cm, 0.6 * reflected + 10, dry)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def with_band(gray: Gray, bottom_cm: float, top_cm: float, factor: float = 0.6) -> Gray:
    """The picture with everything between world y ``bottom_cm`` and ``top_cm`` darkened."""
    wy = _world_y(gray.shape)
    inside = (wy >= bottom_cm) & (wy <= top_cm)
    return np.where(inside, np.round(gray * factor), gray).astype(np.uint8)


@pytest.fixture
def world(tmp_path: Path) -> list[tuple[float, float]]:
    from tests.unit.edge.vision.test_gauge import TARGET_CSV

    path = tmp_path / "target.csv"
    path.write_text(TARGET_CSV)
    return load_target_csv(path)


def _grid(world: list[tuple[float, float]]) -> Grid:
    """The bow-tie rows, top first, each by x (the two-column target of the CSV)."""
    ys = sorted({y for _, y in world}, reverse=True)
    return tuple(tuple(sorted(p for p in world if p[1] == y)) for y in ys)


LEVEL = 66.0  # between the second and third bow-tie rows


def test_the_texture_below_the_water_is_the_board_mirrored(
    world: list[tuple[float, float]],
) -> None:
    picture = with_reflection(render_target(world, 5.0), LEVEL)
    grid = _grid(world)
    texture = board_texture(picture.astype(np.float32), world_to_image(), grid, 7.8)
    scores = texture.scores(LEVEL)
    assert scores is not None
    mirror, continuation = scores
    assert continuation is not None
    assert mirror > 0.9
    assert mirror - continuation > 0.3
    assert texture.is_mirror_line(LEVEL)


def test_the_texture_below_a_wet_band_top_is_the_board_going_on(
    world: list[tuple[float, float]],
) -> None:
    picture = with_band(with_reflection(render_target(world, 5.0), LEVEL), LEVEL, LEVEL + 12)
    grid = _grid(world)
    texture = board_texture(picture.astype(np.float32), world_to_image(), grid, 7.8)
    scores = texture.scores(LEVEL + 12)
    assert scores is not None
    mirror, continuation = scores
    assert continuation is not None
    assert continuation > 0.9
    assert continuation > mirror
    assert not texture.is_mirror_line(LEVEL + 12)
    # the water below the band is found by its reflection
    found = texture.first_mirror_line(LEVEL + 12, LEVEL - 20)
    assert found == pytest.approx(LEVEL, abs=1.0)


@pytest.mark.parametrize("height_cm", [6.0, 10.0, 14.0])
def test_reads_the_water_below_a_wet_band(
    world: list[tuple[float, float]], height_cm: float
) -> None:
    picture = with_band(with_reflection(render_target(world, 5.0), LEVEL), LEVEL, LEVEL + height_cm)
    reading = GaugeReader(world).read(picture)
    assert reading.level_cm == pytest.approx(LEVEL, abs=1.0), reading


def test_a_wet_band_over_water_that_mirrors_nothing_is_refused(
    world: list[tuple[float, float]],
) -> None:
    # rippled water without a reflection: below the band there is nothing to tell the water by
    picture = with_band(render_target(world, LEVEL), LEVEL, LEVEL + 12)
    reading = GaugeReader(world).read(picture)
    assert reading.level_cm is None
    assert "wet band" in reading.reason
    assert f"{LEVEL + 12:.0f}" in reading.reason


def test_reads_calm_water_that_mirrors_the_board(world: list[tuple[float, float]]) -> None:
    reading = GaugeReader(world).read(with_reflection(render_target(world, 5.0), LEVEL))
    assert reading.level_cm == pytest.approx(LEVEL, abs=1.0), reading


def test_find_steps_gives_every_step_top_first() -> None:
    # board 200, a wet band 140 from sample 100, water 60 from sample 200 (0.25 cm samples)
    profile = np.concatenate([np.full(100, 200.0), np.full(100, 140.0), np.full(100, 60.0)])
    steps = find_steps(profile, black=20.0)
    assert [round(pos) for pos, _ in steps] == [100, 200]
    assert steps[1][1] > steps[0][1] > 0.1
