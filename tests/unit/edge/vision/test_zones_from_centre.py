"""Zones and privacy masks from the centre (normalised) take the place of the camera file's, in
the file's own coordinates; zones the view cannot run, or outside the picture, are refused in
words that say which and why; time windows dump as they are written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from villagewatch.edge.remote import RemoteConfigError, apply_remote
from villagewatch.edge.settings import EdgeSettings
from villagewatch.edge.vision.config import CameraVision, Mask, Zone, load_camera

FILE = {
    "camera": "lane-cam",
    "frame": [1280, 720],
    "zones": [{"id": "old", "kind": "road", "polygon": [[0, 0], [100, 0], [100, 100]]}],
    "masks": [{"id": "window", "polygon": [[1000, 0], [1280, 0], [1280, 250]]}],
}
LANE = Zone.model_validate(
    {"id": "lane", "kind": "no_parking", "polygon": [[0.25, 0.5], [0.75, 0.5], [0.5, 1.0]]}
)


def test_centre_zones_replace_the_files_in_its_pixels() -> None:
    view = CameraVision.model_validate(FILE)
    ran = view.with_zones(zones=[LANE], masks=None)
    assert [z.id for z in ran.zones] == ["lane"]
    assert ran.zones[0].polygon == [(320, 360), (960, 360), (640, 720)]
    assert ran.masks == view.masks  # None keeps the file's
    bare = view.with_zones(zones=None, masks=[])
    assert bare.masks == [] and bare.zones == view.zones


def test_a_zone_the_view_cannot_run_is_refused_with_the_camera_named() -> None:
    staff = Zone.model_validate({**LANE.model_dump(), "id": "staff", "kind": "gauge"})
    with pytest.raises(ValueError, match="do not fit camera lane-cam: a gauge zone needs"):
        CameraVision.model_validate(FILE).with_zones(zones=[staff], masks=None)


def test_time_windows_dump_as_written_and_read_back() -> None:
    road = Zone.model_validate({**LANE.model_dump(), "kind": "road", "hours": ["22:00-06:00"]})
    assert road.model_dump(mode="json")["hours"] == ["22:00-06:00"]
    assert Zone.model_validate(road.model_dump()) == road


def _edge(tmp_path: Path) -> EdgeSettings:
    (tmp_path / "cam.yaml").write_text(yaml.safe_dump(FILE))
    return EdgeSettings.model_validate({"id": "edge-1", "village": "v", "devices": [
        {"driver": "camera", "device": "cam-1", "source": "rtsp://cam", "camera": tmp_path / "cam.yaml"},
    ]})  # fmt: skip


def test_the_remote_config_carries_a_cameras_zones_and_masks(tmp_path: Path) -> None:
    mask = Mask.model_validate({"id": "door", "polygon": [[0, 0], [0.1, 0], [0.1, 0.1]]})
    ran = apply_remote(_edge(tmp_path), {"devices": {"cam-1": {
        "zones": [LANE.model_dump(mode="json")], "masks": [mask.model_dump(mode="json")]}}})  # fmt: skip
    cam: Any = ran.devices[0]
    assert cam.zones == [LANE] and cam.masks == [mask]
    assert (
        load_camera(cam.camera).with_zones(zones=cam.zones, masks=cam.masks).masks[0].id == "door"
    )


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        pytest.param({"zones": [{**LANE.model_dump(mode="json"), "polygon": [[0, 0], [1280, 0], [0, 720]]}]},
                     "zone lane: corner (1280, 0) is outside the picture (0..1", id="pixels"),
        pytest.param({"zones": [LANE.model_dump(mode="json")] * 2}, "zone ids must be unique: lane",
                     id="twice"),
        pytest.param({"masks": [{"id": "m", "polygon": [[0, 0], [1, 1]]}]}, "at least 3 items",
                     id="two-corners"),
    ],
)  # fmt: skip
def test_zones_that_cannot_be_refuse_the_config(
    tmp_path: Path, changes: dict[str, Any], reason: str
) -> None:
    with pytest.raises(RemoteConfigError, match=r"devices\.cam-1") as caught:
        apply_remote(_edge(tmp_path), {"devices": {"cam-1": changes}})
    assert reason in str(caught.value)
