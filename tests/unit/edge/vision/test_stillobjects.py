"""Single-frame detectors (objects on water, objects lying on ground) and their findings
across consecutive stills, alone and inside the pipeline of a still camera."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from tests.unit.edge.vision.test_model import SIDE, _tiny_ssd
from villagewatch.edge.vision.config import CameraVision
from villagewatch.edge.vision.detections import Detection, iou
from villagewatch.edge.vision.pipeline import CameraPipeline
from villagewatch.edge.vision.scene import Scene
from villagewatch.edge.vision.stillobjects import StillObjects
from villagewatch.edge.vision.stillwatch import StillWatch

U8 = npt.NDArray[np.uint8]
W, H = 640, 360
T0 = 1_790_000_000.0
ZONE = [[100, 80], [540, 80], [540, 300], [100, 300]]


def asphalt(seed: int = 1) -> U8:
    """Grey ground with grain, stains and a lighter half."""
    rng = np.random.default_rng(seed)
    low = cv2.resize(rng.normal(0, 12, (6, 10)), (W, H), interpolation=cv2.INTER_CUBIC)
    ramp = np.linspace(0, 25, W)[None, :]
    grey = 95 + low + ramp + rng.normal(0, 7, (H, W))
    tint = np.stack([grey * 1.02, grey, grey * 0.97], axis=2)
    return np.clip(tint, 0, 255).astype(np.uint8)


def water(seed: int = 1) -> U8:
    """Dark water with ripples and a broad glare patch."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    ripples = 6 * np.sin(yy / 2.5 + 0.3 * np.sin(xx / 17.0))
    glare = 40 * np.exp(-(((xx - 400) / 120.0) ** 2 + ((yy - 180) / 50.0) ** 2))
    grey = 55 + ripples + glare + rng.normal(0, 3, (H, W))
    tint = np.stack([grey * 1.1, grey, grey * 0.9], axis=2)
    return np.asarray(np.clip(tint, 0, 255), np.uint8)


def with_box(frame: U8, x: int, y: int, w: int, h: int, bgr: tuple[int, int, int]) -> U8:
    out = frame.copy()
    cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), bgr, -1)
    return out


def cam(kind: str = "bin_area", **extra: Any) -> CameraVision:
    raw: dict[str, Any] = {
        "camera": "still-cam", "frame": [W, H], "utc_offset_h": 0,
        "zones": [{"id": "z", "kind": kind, "polygon": ZONE, "dwell_s": 600}],
    }  # fmt: skip
    raw.update(extra)
    return CameraVision.model_validate(raw)


def detector(c: CameraVision) -> StillObjects:
    return StillObjects(c, Scene(c, W, H))


@pytest.mark.parametrize(
    ("kind", "ground", "bgr"),
    [
        pytest.param("bin_area", asphalt, (40, 60, 200), id="red-bag-on-asphalt"),
        pytest.param("bin_area", asphalt, (20, 20, 20), id="black-bag-on-asphalt"),
        pytest.param("road", asphalt, (90, 140, 190), id="cardboard-on-road"),
        pytest.param("water", water, (235, 235, 235), id="white-bottle-on-water"),
        pytest.param("water", water, (40, 120, 40), id="green-bottle-on-water"),
    ],
)  # fmt: skip
def test_one_box_per_object_where_it_lies(
    kind: str, ground: Any, bgr: tuple[int, int, int]
) -> None:
    frame = with_box(ground(), 300, 150, 40, 24, bgr)
    found = detector(cam(kind))(frame)
    assert len(found) == 1, found
    assert iou(found[0].box, (300, 150, 40, 24)) >= 0.7
    assert 0 < found[0].score <= 1


@pytest.mark.parametrize(
    ("kind", "ground"),
    [pytest.param("road", asphalt, id="asphalt"), pytest.param("water", water, id="ripples-glare")],
)
def test_the_bare_surface_has_no_objects(kind: str, ground: Any) -> None:
    assert detector(cam(kind))(ground()) == []


def test_a_painted_line_and_a_soft_shadow_are_not_objects() -> None:
    frame = asphalt()
    cv2.line(frame, (120, 200), (500, 230), (230, 230, 230), 3)
    shade = np.ones((H, W), np.float32)
    cv2.circle(shade, (250, 140), 25, 0.6, -1)
    soft = cv2.GaussianBlur(shade, (0, 0), 4)
    frame = (frame * soft[..., None]).astype(np.uint8)
    assert detector(cam())(frame) == []


def test_objects_outside_the_zone_or_under_a_mask_are_not_seen() -> None:
    frame = with_box(asphalt(), 20, 20, 40, 24, (40, 60, 200))  # outside the zone
    frame = with_box(frame, 300, 150, 40, 24, (40, 60, 200))
    masked = cam(masks=[{"id": "m", "polygon": [[280, 130], [360, 130], [360, 190], [280, 190]]}])
    assert detector(masked)(frame) == []


def test_a_frame_of_another_size_is_refused_in_words() -> None:
    with pytest.raises(ValueError, match="a 320x180 frame for detectors built for 640x360"):
        detector(cam())(np.zeros((180, 320, 3), np.uint8))


def test_two_stills_in_a_row_raise_once_and_a_still_without_it_clears() -> None:
    c = cam()
    watch = StillWatch(detector(c))
    bag = with_box(asphalt(), 300, 150, 40, 24, (40, 60, 200))
    assert watch.look(bag, T0, 600) == []
    [f] = watch.look(with_box(asphalt(2), 300, 150, 40, 24, (40, 60, 200)), T0 + 300, 605)
    assert (f.detection, f.cleared, f.dwell_s) == ("exposed_garbage", False, 300)
    assert watch.look(bag, T0 + 600, 610) == []
    [gone] = watch.look(asphalt(), T0 + 900, 615)
    assert gone.cleared and gone.detection == "exposed_garbage"


def test_an_object_that_moved_between_stills_is_not_confirmed() -> None:
    watch = StillWatch(detector(cam()))
    assert watch.look(with_box(asphalt(), 300, 150, 40, 24, (40, 60, 200)), T0, 600) == []
    assert watch.look(with_box(asphalt(), 380, 220, 40, 24, (40, 60, 200)), T0 + 300, 605) == []


def test_a_warming_video_camera_raises_only_what_was_there_first_and_after_the_dwell() -> None:
    watch = StillWatch(detector(cam()), warming=True)
    first = with_box(asphalt(), 300, 150, 40, 24, (40, 60, 200))
    both = with_box(first, 150, 100, 40, 24, (200, 60, 40))
    assert watch.look(first, T0, 600) == []
    assert watch.look(both, T0 + 60, 601) == []  # before its 600 s dwell; the newcomer ignored
    found = watch.look(both, T0 + 600, 610)
    assert [(f.detection, f.box[0]) for f in found] == [("exposed_garbage", 150)]


def test_a_still_camera_reports_an_object_seen_in_two_stills_with_its_own_box() -> None:
    c = cam(stills=True, zones=[{
        "id": "bins", "kind": "bin_area", "polygon": ZONE, "collection": ["06:00-07:00"],
    }])  # fmt: skip
    pipe = CameraPipeline(c)
    bag = with_box(asphalt(), 300, 150, 40, 24, (40, 60, 200))
    in_collection = T0 - T0 % 86400 + 6.5 * 3600  # 06:30 UTC: things beside the bins expected
    assert pipe.process(bag, in_collection).events == []
    assert pipe.process(bag, in_collection + 300).events == []
    events = pipe.process(bag, in_collection + 3600).events
    assert [e["detection"] for e in events] == ["exposed_garbage"]
    x, y, w, h = events[0]["box"]
    assert iou((round(x * W), round(y * H), round(w * W), round(h * H)), (300, 150, 40, 24)) > 0.5
    assert "evidence" in events[0]


# --- with a model stage: what the object is counts ---------------------------------------------


def seeing(*found: Detection) -> Any:
    """A model stage that always sees ``found``, and remembers the boxes it was asked about."""
    asked: list[list[tuple[int, int, int, int]]] = []

    def recognise(boxes: list[tuple[int, int, int, int]]) -> list[Detection]:
        asked.append(boxes)
        return list(found)

    recognise.asked = asked  # type: ignore[attr-defined]
    return recognise


def test_a_person_standing_in_a_bin_area_is_not_garbage() -> None:
    watch = StillWatch(detector(cam()))
    person = with_box(asphalt(), 300, 120, 30, 70, (150, 60, 40))  # a blue coat
    model = seeing(Detection("person", (298, 118, 34, 74), 0.9))
    assert watch.look(person, T0, 600, model) == []
    assert watch.look(person, T0 + 300, 605, model) == []
    [[asked]] = model.asked  # asked once, about the object confirmed in the second still
    assert iou(asked, (300, 120, 30, 70)) > 0.8
    # without the model, the same person is reported as garbage (the stage is what changed)
    plain = StillWatch(detector(cam()))
    plain.look(person, T0, 600)
    assert [f.detection for f in plain.look(person, T0 + 300, 605)] == ["exposed_garbage"]


def test_a_still_object_the_model_names_carries_its_label_to_the_clearing() -> None:
    watch = StillWatch(detector(cam()))
    bag = with_box(asphalt(), 300, 150, 40, 24, (40, 60, 200))
    model = seeing(Detection("garbage", (300, 150, 40, 24), 0.8))
    watch.look(bag, T0, 600, model)
    [f] = watch.look(bag, T0 + 300, 605, model)
    assert (f.detection, f.label, f.label_score) == ("exposed_garbage", "garbage", 0.8)
    [gone] = watch.look(asphalt(), T0 + 600, 610, model)
    assert gone.cleared and gone.label == "garbage"


def test_street_vending_on_a_still_needs_a_person_beside_the_stall() -> None:
    c = cam("road")
    stall = with_box(asphalt(), 300, 150, 60, 40, (90, 140, 190))
    alone = StillWatch(detector(c))
    nobody = seeing()
    alone.look(stall, T0, 600, nobody)
    assert alone.look(stall, T0 + 300, 605, nobody) == []
    vendor = seeing(Detection("person", (365, 130, 25, 60), 0.85))
    watch = StillWatch(detector(c))
    watch.look(stall, T0, 600, vendor)
    assert [f.detection for f in watch.look(stall, T0 + 300, 605, vendor)] == ["street_vending"]


def test_a_still_cameras_model_keeps_a_person_out_of_its_events(tmp_path: Path) -> None:
    """The pipeline asks the camera's model about a still's objects: a model that sees a
    person all over every region it is shown keeps the object from being garbage."""
    everywhere = np.array([[[[0, 1, 0.9, 0.0, 0.0, 1.0, 1.0]]]], np.float32)
    model = {"file": str(_tiny_ssd(tmp_path / "m.onnx", everywhere)), "format": "onnx",
             "input_size": [SIDE, SIDE], "classes": {1: "person"}, "score": 0.5}  # fmt: skip
    coat = with_box(asphalt(), 300, 150, 30, 70, (150, 60, 40))
    for with_model, expected in [(False, ["exposed_garbage"]), (True, [])]:
        extra: dict[str, Any] = {"model": model} if with_model else {}
        pipe = CameraPipeline(cam(stills=True, **extra))
        assert pipe.process(coat, T0).events == []
        events = pipe.process(coat, T0 + 300).events
        assert [e["detection"] for e in events] == expected
