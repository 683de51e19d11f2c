"""Camera events name each object: a debris event carries one box per floating thing (the
largest as ``box``), a model's label when there is one, and its evidence draws every box and
the zone."""

from __future__ import annotations

import functools
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import orjson
import pytest
from pydantic import TypeAdapter

from tests.unit.edge.vision.synth import camera, run, street
from villagewatch.contract import MAX_OBJECTS
from villagewatch.contract.payloads import CameraEvent
from villagewatch.edge.vision.events import event_fields
from villagewatch.edge.vision.rules import Finding, pieces
from villagewatch.edge.vision.scene import Scene

U8 = npt.NDArray[np.uint8]
EVENT = TypeAdapter(CameraEvent)
WATER = {
    "id": "river",
    "kind": "water",
    "polygon": [[0, 500], [1280, 500], [1280, 720], [0, 720]],
    "dwell_s": 30,
    "covered_min": 0.05,
}
# three floating things (x, y, w, h in frame pixels), largest first, and a speck too small
THINGS = [(100, 560, 240, 100), (520, 580, 160, 80), (900, 600, 120, 60)]
SPECK = (1150, 640, 12, 12)
RED = np.array([0, 0, 255])  # BGR of the boxes
ZONE = np.array([0, 200, 255])  # BGR of the zone outline


def _river() -> U8:
    f = street()
    f[500:] = (120, 90, 60)
    return f


RIVER = _river()


def _frames(i: int, rng: np.random.Generator) -> U8:
    f = RIVER.copy()
    f[500:] = np.clip(f[500:] + rng.normal(0, 6, f[500:].shape), 0, 255).astype(np.uint8)
    if i / 2 >= 20:
        for x, y, w, h in [*THINGS, SPECK]:
            cv2.rectangle(f, (x, y), (x + w - 1, y + h - 1), (235, 235, 235), -1)
    return f


@functools.cache
def _debris() -> tuple[dict[str, Any], U8]:
    rng = np.random.default_rng(7)
    for _, out in run(camera([WATER]), lambda i: _frames(i, rng), 90):
        for e in out.events:
            jpeg = {s.id: s.jpeg for s in out.evidence}[e["evidence"]]
            img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            return e, np.asarray(img, np.uint8)
    raise AssertionError("no debris event")


def _valid(event: dict[str, Any]) -> None:
    """``event`` as the agent sends it passes the contract."""
    EVENT.validate_json(orjson.dumps({"seq": 0, "clock": "synced", **event}))


def _iou(a: list[float], b: tuple[float, ...]) -> float:
    ix = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    iy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(0.0, ix) * max(0.0, iy)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def _frac(box: tuple[int, int, int, int]) -> tuple[float, ...]:
    x, y, w, h = box
    return (x / 1280, y / 720, w / 1280, h / 720)


def _near(img: U8, x: int, y: int, colour: npt.NDArray[Any], r: int = 2) -> bool:
    """Whether a pixel within ``r`` of (x, y) has about ``colour`` (JPEG blurs the lines)."""
    patch = img[max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1].reshape(-1, 3).astype(int)
    return bool((np.abs(patch - colour).max(axis=1) < 70).any())


def test_a_debris_event_has_one_box_per_floating_object_the_largest_as_its_box() -> None:
    event, _ = _debris()
    _valid(event)
    objects = event["objects"]
    assert len(objects) == len(THINGS), objects  # the speck is below min_object
    for obj, thing in zip(objects, THINGS, strict=True):
        assert _iou(obj["box"], _frac(thing)) > 0.7, (obj, thing)
    assert event["box"] == objects[0]["box"]  # old consumers read the largest object
    assert event["box"][2] < 0.25  # not the whole water any more


def test_the_debris_evidence_draws_every_object_and_the_zone() -> None:
    event, img = _debris()
    for obj in event["objects"]:
        x, y, w, h = (round(v * s) for v, s in zip(obj["box"], (1280, 720, 1280, 720), strict=True))
        for px, py in [(x + w // 2, y), (x + w // 2, y + h), (x, y + h // 2), (x + w, y + h // 2)]:
            assert _near(img, px, py, RED), (obj, px, py, img[py, px])
        assert not _near(img, x + w // 2, y + h // 2, RED, r=0)  # a box, not a filled patch
    for px in (200, 640, 1100):  # the water zone's top edge
        assert _near(img, px, 500, ZONE), img[500, px]
    sx, sy, sw, _ = SPECK
    assert not _near(img, sx + sw // 2, sy - 2, RED, r=1)  # no box around the speck


def test_pieces_are_largest_first_and_at_most_the_contracts_bound() -> None:
    mask = np.zeros((100, 200), bool)
    for k in range(40):  # 40 separate squares of growing size
        x, y = (k % 10) * 20, (k // 10) * 25
        s = 3 + k % 10
        mask[y : y + s, x : x + s] = True
    got = pieces(mask, min_area=16)
    assert len(got) == MAX_OBJECTS
    areas = [w * h for _, _, w, h in got]
    assert areas == sorted(areas, reverse=True) and min(areas) >= 16
    assert pieces(np.zeros((10, 10), bool), 1) == []


def _scene() -> Scene:
    cam = camera([{**WATER, "id": "lane", "kind": "no_parking"}])
    return Scene(cam, 1280, 720)


@pytest.mark.parametrize(
    ("label", "score", "said", "said_score"),
    [
        ("person", 0.87, "person", 0.87),
        ("Traffic light", 0.5, "traffic_light", 0.5),
        ("person", float("nan"), "person", None),
        ("9", 0.5, None, None),
        (None, None, None, None),
    ],
    ids=["person", "class-name", "nan-score", "no-word-left", "no-model"],
)
def test_an_objects_event_carries_the_models_label_in_the_contracts_words(
    label: str | None, score: float | None, said: str | None, said_score: float | None
) -> None:
    scene = _scene()
    area = scene.zones[0]
    f = Finding(area, "illegal_parking", (80, 130, 40, 30), 0.9, 75.0, label=label,
                label_score=score)  # fmt: skip
    event = event_fields(f, scene)
    _valid(event)
    assert event.get("label") == said and event.get("label_score") == said_score
    (obj,) = event["objects"]
    assert obj["box"] == event["box"] == [0.25, 0.7222, 0.125, 0.1667]
    assert obj.get("label") == said and obj.get("score") == said_score


def test_a_box_at_the_pictures_edge_stays_inside_it() -> None:
    scene = _scene()
    f = Finding(scene.zones[0], "illegal_parking", (300, 170, 21, 11), 0.9, 75.0)
    event = event_fields(f, scene)
    x, y, w, h = event["box"]
    assert x + w <= 1 and y + h <= 1
    _valid(event)


def test_a_cleared_debris_event_without_objects_names_none() -> None:
    scene = _scene()
    f = Finding(scene.zones[0], "river_debris", (0, 0, 0, 0), 0.0, 80.0, cleared=True,
                covered_fraction=0.0)  # fmt: skip
    event = event_fields(f, scene)
    assert "objects" not in event
    _valid(event)
