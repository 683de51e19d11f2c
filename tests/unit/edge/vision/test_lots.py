"""Parking lots of a camera: config checks, counts per lot, and the pipeline sending them."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from villagewatch.edge.vision.config import CameraVision
from villagewatch.edge.vision.lots import Lot, lot_telemetry
from villagewatch.edge.vision.pipeline import CameraPipeline

from .test_occupancy import SPACES, lot, shot, with_car


def _camera(lots: list[dict[str, Any]], **extra: Any) -> CameraVision:
    zones = [
        {"id": name.lower(), "kind": "space", "polygon": [list(p) for p in poly]}
        for name, poly in SPACES.items()
    ]
    raw = {"camera": "lot-cam", "frame": [640, 360], "zones": zones, "lots": lots}
    return CameraVision.model_validate({**raw, **extra})


CLINIC = {"id": "clinic", "name": "卫生院", "spaces": ["a", "b"]}
MARKET = {"id": "market", "spaces": ["c", "d"]}


def test_counts_per_lot() -> None:
    lots = [Lot.model_validate(CLINIC), Lot.model_validate(MARKET)]
    occupied = {"a": True, "b": False, "c": True, "d": True}
    assert lot_telemetry(lots, occupied) == [
        {"lot": "clinic", "free_spaces": 1, "occupied_spaces": 1},
        {"lot": "market", "free_spaces": 0, "occupied_spaces": 2},
    ]


def test_a_lot_with_no_space_looked_at_sends_nothing() -> None:
    assert lot_telemetry([Lot.model_validate(CLINIC)], {"c": True}) == []


@pytest.mark.parametrize(
    ("lots", "message"),
    [
        ([CLINIC, {**MARKET, "id": "clinic"}], "lot ids must be unique: clinic"),
        ([{"id": "far", "spaces": ["z"]}], "lot far: 'z' is not a zone of kind space"),
        ([CLINIC, {"id": "both", "spaces": ["b"]}], "space 'b' is also in lot clinic"),
        ([{"id": "none", "spaces": []}], "at least 1 item"),
        ([{"id": "Bad Id!", "spaces": ["a"]}], "lots.0.id"),
    ],
    ids=["duplicate-lot", "unknown-space", "space-in-two-lots", "no-spaces", "hostile-id"],
)
def test_bad_lots_are_refused_with_what_and_where(lots: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _camera(lots)


def test_a_zone_of_another_kind_is_not_a_space() -> None:
    zones = [{"id": "lane", "kind": "no_parking", "polygon": [[0, 0], [10, 0], [10, 10]]}]
    with pytest.raises(ValidationError, match="'lane' is not a zone of kind space"):
        CameraVision.model_validate(
            {"camera": "c", "zones": zones, "lots": [{"id": "x", "spaces": ["lane"]}]}
        )


def test_the_pipeline_sends_the_total_and_each_lot() -> None:
    empty = lot()
    cam = _camera([CLINIC, MARKET])
    pipe = CameraPipeline(cam, references=[shot(empty, s) for s in range(3)])
    out = pipe.process(shot(with_car(empty, "A"), 9), 1_700_000_000.0)
    spaces = [t for t in out.telemetry if "free_spaces" in t]
    assert spaces == [
        {"free_spaces": 3, "occupied_spaces": 1},
        {"lot": "clinic", "free_spaces": 1, "occupied_spaces": 1},
        {"lot": "market", "free_spaces": 2, "occupied_spaces": 0},
    ]


def test_a_camera_without_lots_sends_its_total_only() -> None:
    empty = lot()
    pipe = CameraPipeline(_camera([]), references=[shot(empty, s) for s in range(3)])
    out = pipe.process(shot(with_car(empty, "A"), 9), 1_700_000_000.0)
    assert [t for t in out.telemetry if "free_spaces" in t] == [
        {"free_spaces": 3, "occupied_spaces": 1}
    ]
