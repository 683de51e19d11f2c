"""Parking-space occupancy on a synthetic lot: a car is found, light and soft shade are not."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from villagewatch.edge.vision.config import CameraVision
from villagewatch.edge.vision.occupancy import (
    LEARNT_LOOKS,
    SpaceOccupancy,
    SpaceState,
    SpacesUnseen,
    load_pklot_spaces,
)
from villagewatch.edge.vision.parking_model import DEFAULT_MODEL, OccupancyModel
from villagewatch.edge.vision.pipeline import CameraPipeline

U8 = npt.NDArray[np.uint8]
W, H = 640, 360
# four spaces side by side, 120 x 70 px, between painted lines
SPACES: dict[str, list[tuple[float, float]]] = {
    name: [(x, 150.0), (x + 120, 150.0), (x + 120, 220.0), (x, 220.0)]
    for name, x in zip("ABCD", (40.0, 180.0, 320.0, 460.0), strict=True)
}


def lot(seed: int = 7) -> U8:
    """The empty lot: grey asphalt with blotches and fine grain, white lines between spaces."""
    rng = np.random.default_rng(seed)
    coarse = rng.normal(0, 14, (H // 20, W // 20)).astype(np.float32)
    blotches = cv2.resize(coarse, (W, H), interpolation=cv2.INTER_CUBIC)
    grain = cv2.GaussianBlur(rng.normal(0, 10, (H, W)).astype(np.float32), (0, 0), 1.2)
    grey = np.clip(105 + blotches + grain, 0, 255).astype(np.uint8)
    img = np.dstack([grey, grey, (grey * 0.97).astype(np.uint8)])
    for x in (30, 170, 310, 450, 590):
        cv2.line(img, (x, 140), (x, 230), (225, 225, 225), 4)
    return img


def shot(scene: U8, seed: int, gain: float = 1.0) -> U8:
    """One camera frame of ``scene``: exposure ``gain`` and fresh sensor noise."""
    rng = np.random.default_rng(seed)
    noisy = scene.astype(np.float64) * gain + rng.normal(0, 2.0, scene.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def with_car(scene: U8, space: str, seed: int = 0) -> U8:
    """A silver car as a pole camera sees it from above in ``space``: a body with rounded
    corners, its paint lit brightest along the roof line and patched with soft reflections,
    a windscreen and a rear window with bowed edges and a streak of sky, side windows,
    mirrors and wheels showing at the sides, a glint on the roof, all drawn anti-aliased and
    softened by the lens (0.6 px)."""
    (x0, y0), _, (x1, y1), _ = SPACES[space]
    left, t, r, b = int(x0) + 8, int(y0) + 10, int(x1) - 8, int(y1) - 10
    mid = (t + b) // 2
    out = scene.astype(np.float32)
    for wx in (left + 16, r - 16):  # wheels under the body's sides
        for wy in (t + 1, b - 1):
            cv2.ellipse(out, (wx, wy), (9, 4), 0, 0, 360, (18, 18, 18), -1, cv2.LINE_AA)
    outline: list[npt.NDArray[np.int32]] = []
    radius = 12
    for cx, cy, start in ((r, t, 270), (r, b, 0), (left, b, 90), (left, t, 180)):
        centre = (cx - radius if cx == r else cx + radius, cy - radius if cy == b else cy + radius)
        arc = cv2.ellipse2Poly(centre, (radius, radius), 0, start, start + 90, 10)
        outline.append(np.asarray(arc, np.int32))
    body = np.zeros((H, W), np.float32)
    cv2.fillPoly(body, [np.concatenate(outline)], (1.0,), cv2.LINE_AA)
    rows = np.arange(H, dtype=np.float32)[:, None]
    across = np.clip((rows - mid) / ((b - t) / 2), -1, 1)
    rng = np.random.default_rng(seed)
    reflections = cv2.resize(
        rng.normal(0, 12, (8, 16)).astype(np.float32), (W, H), interpolation=cv2.INTER_CUBIC
    )
    paint = 150 + 45 * np.cos(1.3 * across) + reflections
    coat = np.dstack([paint, paint + 2, paint + 4])
    out = np.asarray(out * (1 - body[..., None]) + coat * body[..., None], np.float32)
    windscreen = [(left + 26, t + 7), (left + 42, t + 11), (left + 44, mid), (left + 42, b - 11)]
    windscreen += [(left + 26, b - 7), (left + 23, mid)]
    rear = [(r - 32, t + 10), (r - 20, t + 8), (r - 18, mid), (r - 20, b - 8), (r - 32, b - 10)]
    rear += [(r - 34, mid)]
    cv2.fillPoly(out, [np.array(windscreen, np.int32)], (40, 45, 52), cv2.LINE_AA)
    cv2.fillPoly(out, [np.array(rear, np.int32)], (45, 50, 56), cv2.LINE_AA)
    cv2.line(out, (left + 29, t + 12), (left + 37, b - 14), (120, 125, 130), 2, cv2.LINE_AA)
    for wy in (t + 9, b - 9):  # side windows
        cv2.ellipse(
            out, ((left + r) // 2 - 4, wy), (22, 3), 0, 0, 360, (50, 55, 60), -1, cv2.LINE_AA
        )
    for my in (t - 2, b + 2):  # mirrors
        cv2.ellipse(out, (left + 30, my), (3, 2), 0, 0, 360, (60, 60, 62), -1, cv2.LINE_AA)
    cv2.circle(out, ((left + r) // 2, mid - 6), 3, (240, 240, 240), -1, cv2.LINE_AA)
    lens = cv2.GaussianBlur(out, (0, 0), 0.6)
    return np.clip(lens, 0, 255).astype(np.uint8)


def soft_shadow(scene: U8, space: str, depth: float = 0.6, blur: float = 12.0) -> U8:
    """A soft shadow band (a distant tree's or building's) across ``space``."""
    (x0, y0), _, (x1, y1), _ = SPACES[space]
    factor = np.ones((H, W), np.float32)
    cv2.fillConvexPoly(
        factor,
        np.array(
            [[x0 + 20, y0 - 30], [x0 + 70, y0 - 30], [x1 - 10, y1 + 30], [x0 + 60, y1 + 30]],
            np.int32,
        ),
        (depth,),
    )
    soft = np.asarray(cv2.GaussianBlur(factor, (0, 0), blur), dtype=np.float32)
    shaded: U8 = np.clip(scene * soft[..., None], 0, 255).astype(np.uint8)
    return shaded


@pytest.fixture(scope="module")
def empty() -> U8:
    return lot()


@pytest.fixture(scope="module")
def model(empty: U8) -> SpaceOccupancy:
    return SpaceOccupancy(SPACES, [shot(empty, 1), shot(empty, 2, gain=0.8)])


def occupied(states: dict[str, SpaceState]) -> set[str]:
    return {name for name, state in states.items() if state.occupied}


def test_a_car_in_one_space_is_found_and_the_others_stay_free(
    model: SpaceOccupancy, empty: U8
) -> None:
    states = model.classify(shot(with_car(empty, "B"), 3))
    assert set(states) == set(SPACES)
    assert occupied(states) == {"B"}
    assert states["B"].score > 2 * max(states[n].score for n in "ACD")


def test_the_empty_lot_scores_far_below_the_threshold(model: SpaceOccupancy, empty: U8) -> None:
    states = model.classify(shot(empty, 4))
    assert occupied(states) == set()
    assert all(0 <= s.score < 0.5 for s in states.values())


@pytest.mark.parametrize("gain", [0.45, 0.7, 1.3])
def test_a_global_change_of_light_is_not_a_car(
    model: SpaceOccupancy, empty: U8, gain: float
) -> None:
    assert occupied(model.classify(shot(empty, 5, gain=gain))) == set()
    # and a car is still a car in that light
    assert occupied(model.classify(shot(with_car(empty, "D"), 6, gain=gain))) == {"D"}


def test_a_soft_shadow_over_an_empty_space_is_not_a_car(model: SpaceOccupancy, empty: U8) -> None:
    shaded = soft_shadow(empty, "C")
    assert occupied(model.classify(shot(shaded, 7))) == set()
    assert occupied(model.classify(shot(with_car(shaded, "A"), 8))) == {"A"}


def test_the_threshold_can_be_set(empty: U8) -> None:
    frame = shot(with_car(empty, "B"), 9)
    score = SpaceOccupancy(SPACES, [shot(empty, 1)]).classify(frame)["B"].score
    strict = SpaceOccupancy(SPACES, [shot(empty, 1)], threshold=score * 1.01)
    assert not strict.classify(frame)["B"].occupied


def test_space_state_is_frozen() -> None:
    state = SpaceState(occupied=True, score=2.0, confidence=0.9)
    with pytest.raises(AttributeError):
        state.occupied = False  # type: ignore[misc]


def test_references_are_checked(empty: U8) -> None:
    with pytest.raises(ValueError, match="at least one reference"):
        SpaceOccupancy(SPACES, [])
    with pytest.raises(ValueError, match="all references must be one size"):
        SpaceOccupancy(SPACES, [empty, empty[:, :600]])
    with pytest.raises(ValueError, match="uint8 BGR"):
        SpaceOccupancy(SPACES, [empty.astype(np.float32)])
    with pytest.raises(ValueError, match="uint8 BGR"):
        SpaceOccupancy(SPACES, [empty[..., 0]])
    with pytest.raises(ValueError, match="threshold"):
        SpaceOccupancy(SPACES, [empty], threshold=0.0)
    with pytest.raises(ValueError, match="threshold"):
        SpaceOccupancy(SPACES, [empty], threshold=float("nan"))


@pytest.mark.parametrize(
    ("polygon", "message"),
    [
        ([(10.0, 10.0), (50.0, 10.0)], "at least 3"),
        ([(600.0, 300.0), (700.0, 300.0), (650.0, 350.0)], "outside the 640x360 frame"),
        ([(-1.0, 10.0), (50.0, 10.0), (30.0, 40.0)], "outside"),
        ([(10.0, 10.0), (50.0, 10.0), (float("nan"), 40.0)], "non-finite"),
        ([(10.0, 10.0), (12.0, 10.0), (11.0, 12.0)], "covers only"),
        ([(10.0, 10.0), (50.0, 10.0), (90.0, 10.0)], "covers only"),  # collinear
    ],
)
def test_polygons_are_checked(empty: U8, polygon: list[tuple[float, float]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SpaceOccupancy({**SPACES, "bad": polygon}, [empty])


def test_no_spaces_is_an_error(empty: U8) -> None:
    with pytest.raises(ValueError, match="no parking spaces"):
        SpaceOccupancy({}, [empty])


def test_a_frame_of_another_size_is_refused(model: SpaceOccupancy, empty: U8) -> None:
    with pytest.raises(ValueError, match="the references are 640x360"):
        model.classify(np.zeros((720, 1280, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8 BGR"):
        model.classify(empty[..., 0])


@pytest.mark.parametrize("grey", [0, 255, 128])
def test_a_blank_frame_is_not_judged(model: SpaceOccupancy, empty: U8, grey: int) -> None:
    """A covered or dead lens, a black-out or a white-out: without the check every space
    came out free with confidence > 0.99 (no texture left is the empty asphalt's texture
    washed out)."""
    with pytest.raises(SpacesUnseen, match="shows nothing over the parking spaces"):
        model.classify(np.full((H, W, 3), grey, np.uint8))
    # a blind camera's dark noise is no picture either
    dark = shot(np.full((H, W, 3), 2, np.uint8), 30)
    with pytest.raises(SpacesUnseen, match=r"varies by \d\.\d levels around 2"):
        model.classify(dark, learn=True)
    # and a real but dim frame still is one
    assert occupied(model.classify(shot(with_car(empty, "B"), 31, gain=0.2))) == {"B"}


def test_a_blank_reference_is_refused(empty: U8) -> None:
    with pytest.raises(ValueError, match="reference 1 shows nothing over the parking spaces"):
        SpaceOccupancy(SPACES, [empty, np.zeros_like(empty)])


def test_a_blind_camera_reports_no_spaces_and_says_so_once(
    empty: U8, caplog: pytest.LogCaptureFixture
) -> None:
    cam = CameraVision.model_validate(
        {
            "camera": "lot-cam",
            "frame": [W, H],
            "zones": [
                {"id": n.lower(), "kind": "space", "polygon": [list(p) for p in SPACES[n]]}
                for n in SPACES
            ],
        }
    )
    pipe = CameraPipeline(cam, references=[shot(empty, 1)])
    blank = np.zeros((H, W, 3), np.uint8)
    with caplog.at_level("WARNING"):
        outs = [pipe.process(blank, 1000.0 + 3600 * i) for i in range(3)]
    assert all(out.spaces == {} for out in outs)
    assert not any("free_spaces" in reading for out in outs for reading in out.telemetry)
    assert caplog.text.count("shows nothing over the parking spaces") == 1
    # and when it sees again, it reports again
    seen = pipe.process(shot(with_car(empty, "A"), 2), 1000.0 + 3600 * 3)
    assert seen.spaces == {"a": True, "b": False, "c": False, "d": False}


PKLOT = """<?xml version="1.0" ?>
<parking id="ufpr05">
  <space id="1" occupied="0">
    <rotatedRect><center x="678" y="593" /><size w="82" h="176" /><angle d="-71" /></rotatedRect>
    <contour>
      <point x="608" y="613" /><point x="741" y="654" />
      <point x="775" y="582" /><point x="608" y="526" />
    </contour>
  </space>
  <space id="2" occupied="1">
    <contour><point x="1" y="2" /><point x="3.5" y="4" /><point x="5" y="6" /></contour>
  </space>
</parking>
"""


def test_load_pklot_spaces(tmp_path: Path) -> None:
    path = tmp_path / "frame.xml"
    path.write_text(PKLOT)
    assert load_pklot_spaces(path) == {
        "1": ([(608.0, 613.0), (741.0, 654.0), (775.0, 582.0), (608.0, 526.0)], False),
        "2": ([(1.0, 2.0), (3.5, 4.0), (5.0, 6.0)], True),
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (PKLOT[:-20], "not well-formed XML"),
        (
            PKLOT.replace('<contour><point x="1"', '<outline><point x="1"').replace(
                "</contour>\n  </space>\n</parking>", "</outline>\n  </space>\n</parking>"
            ),
            "space '2' has no <contour>",
        ),
        (PKLOT.replace('x="3.5"', 'x="three"'), "without numeric x and y"),
        (PKLOT.replace('occupied="1"', ""), "occupied=None"),
        (PKLOT.replace('id="2"', 'id="1"'), "appears twice"),
        (PKLOT.replace('<point x="5" y="6" />', ""), "contour of 2 points"),
        ('<parking id="ufpr05"></parking>', "no <space>"),
    ],
)
def test_load_pklot_spaces_names_the_file_on_bad_input(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "broken.xml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        load_pklot_spaces(path)
    assert str(path) in str(info.value)


def canopy() -> npt.NDArray[np.float32]:
    """Where a tree's crown shades the ground around space C: blotches of leaves a dozen
    pixels and more across with gaps of sun between, their edges softened by 3 px (the
    sun's penumbra from leaves metres up)."""
    rng = np.random.default_rng(3)
    coarse = rng.normal(0, 1, (H // 12, W // 12)).astype(np.float32)
    field = cv2.resize(coarse, (W, H), interpolation=cv2.INTER_CUBIC)
    leaves = (field > 0.2).astype(np.float32)
    crown = np.zeros((H, W), np.float32)
    crown[120:250, 300:460] = 1.0
    return np.asarray(cv2.GaussianBlur(leaves * crown, (0, 0), 3.0), np.float32)


def sunlit(scene: U8, strength: float) -> U8:
    """Low sun creeping over the lot: a brightness ramp along the row of spaces, up to
    ``strength`` from left to right, and a tree's dappled shade over space C that darkens
    with it (to 1 - 1.2 ``strength`` under the leaves)."""
    ramp = np.linspace(1.0, 1.0 + strength, W, dtype=np.float32)[None, :].repeat(H, axis=0)
    shade = 1.0 - 1.2 * strength * canopy()
    return np.clip(scene * (ramp * shade)[..., None], 0, 255).astype(np.uint8)


def test_a_space_that_was_free_stays_free_as_the_light_changes(empty: U8) -> None:
    fixed = SpaceOccupancy(SPACES, [shot(empty, 1)])
    learning = SpaceOccupancy(SPACES, [shot(empty, 1)])
    steps = np.linspace(0.0, 0.45, 10)
    for i, strength in enumerate(steps):
        states = learning.classify(shot(sunlit(empty, float(strength)), 20 + i), learn=True)
        assert occupied(states) == set(), f"step {i}"
    last = shot(sunlit(empty, float(steps[-1])), 40)
    # without the refreshed references the last light is a car in C; with them it is not
    assert "C" in occupied(fixed.classify(last))
    assert occupied(learning.classify(last)) == set()
    assert all(0 < n <= 3 for n in learning.learnt().values())  # bounded


def test_a_car_that_stays_for_days_is_never_learnt_as_empty(empty: U8) -> None:
    model = SpaceOccupancy(SPACES, [shot(empty, 1), shot(empty, 2, gain=0.8)])
    parked = with_car(empty, "B")
    for i in range(600):  # 600 looks: days at a look every few minutes, light up and down
        gain = 0.6 + 0.5 * (1 + np.sin(i / 30)) / 2
        states = model.classify(shot(parked, 100 + i % 7, gain=float(gain)), learn=True)
        assert states["B"].occupied, f"look {i}"
        assert states["B"].confidence > 0.9
    assert model.learnt()["B"] == 0
    assert all(model.learnt()[n] > 0 for n in "ACD")
    # and when it leaves, the space is free again
    assert not model.classify(shot(empty, 3), learn=True)["B"].occupied


def test_learnt_references_are_forgotten(empty: U8) -> None:
    model = SpaceOccupancy(SPACES, [shot(empty, 1)])
    for i in range(5):
        model.classify(shot(empty, 50 + i), learn=True)
    assert model.learnt()["A"] == 3
    parked = with_car(empty, "A")
    for i in range(LEARNT_LOOKS + 2):
        model.classify(shot(parked, 60 + i % 3), learn=True)
    assert model.learnt()["A"] == 0
    assert model.learnt()["B"] == 3  # kept fresh


def test_confidence_is_high_where_it_is_clear(model: SpaceOccupancy, empty: U8) -> None:
    states = model.classify(shot(with_car(empty, "B"), 3))
    assert all(0.5 <= s.confidence <= 1 for s in states.values())
    assert states["B"].confidence > 0.9
    assert min(states[n].confidence for n in "ACD") > 0.99


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not a JSON weights file"),
        ("[1, 2]", "expected a JSON object"),
        ('{"features": ["x"]}', "features must be"),
        ("TRUNCATED", "not a JSON weights file"),
        ("NAN", "finite numbers"),
        ("ZEROSCALE", "scale"),
    ],
)
def test_a_bad_model_file_says_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    good = json.loads(DEFAULT_MODEL.read_text())
    if text == "TRUNCATED":
        text = DEFAULT_MODEL.read_text()[:40]
    elif text == "NAN":
        text = json.dumps({**good, "weights": [1.0, float("nan"), 0.0, 0.0]})
    elif text == "ZEROSCALE":
        text = json.dumps({**good, "scale": [1.0, 0.0, 1.0, 1.0]})
    path = tmp_path / "model.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        OccupancyModel.load(path)
    with pytest.raises(ValueError, match="cannot be read"):
        OccupancyModel.load(tmp_path / "missing.json")


def fence_shadow(scene: U8, space: str, depth: float, slant: float) -> U8:
    """Raking sun through a fence beside ``space``: the posts' straight shadows, 6 px wide
    every 14 px, slanted ``slant`` degrees, ``depth`` times as bright as the sunlit lot
    (1.2 x brighter than the references), edges blurred by 1 px."""
    (x0, y0), _, (x1, y1), _ = SPACES[space]
    light = np.full((H, W), 1.2, np.float32)
    run = np.tan(np.radians(slant)) * (y1 - y0 + 40)
    for x in range(int(x0) - 30, int(x1) + 30, 14):
        cv2.line(light, (x, int(y0) - 20), (round(x + run), int(y1) + 20), (1.2 * depth,), 6)
    light = np.asarray(cv2.GaussianBlur(light, (0, 0), 1.0), np.float32)
    return np.asarray(np.clip(scene * light[..., None], 0, 255), np.uint8)


def with_dark_car(scene: U8, space: str) -> U8:
    """A black car: body barely darker than the asphalt in shade, dark glass, wheels."""
    out = scene.copy()
    (x0, y0), _, (x1, y1), _ = SPACES[space]
    left, t, r, b = int(x0) + 10, int(y0) + 12, int(x1) - 10, int(y1) - 12
    cv2.ellipse(
        out,
        ((left + r) // 2, (t + b) // 2),
        ((r - left) // 2, (b - t) // 2),
        0,
        0,
        360,
        (38, 38, 40),
        -1,
    )
    cv2.ellipse(out, (left + 35, (t + b) // 2), (8, (b - t) // 2 - 6), 0, 0, 360, (20, 22, 25), -1)
    cv2.ellipse(out, (r - 25, (t + b) // 2), (6, (b - t) // 2 - 8), 0, 0, 360, (22, 24, 27), -1)
    cv2.circle(out, (left + 55, t + 12), 3, (90, 90, 90), -1)  # a glint on the roof
    return np.asarray(out, np.uint8)


@pytest.mark.parametrize("slant", [0.0, 30.0])
@pytest.mark.parametrize("depth", [0.55, 0.4])
def test_a_fence_shadow_across_a_free_space_is_not_a_car(
    model: SpaceOccupancy, empty: U8, depth: float, slant: float
) -> None:
    """A row of straight hard shadow edges across a free space: the edges cue before it
    ignored straight changes called this a car (odds 3 and 11)."""
    assert occupied(model.classify(shot(fence_shadow(empty, "C", depth, slant), 11))) == set()
    # and a car, silver or black, under the same shadow is still a car
    for car in (with_car, with_dark_car):
        shaded = fence_shadow(car(empty, "C"), "C", depth, slant)
        assert occupied(model.classify(shot(shaded, 12))) == {"C"}, car.__name__
