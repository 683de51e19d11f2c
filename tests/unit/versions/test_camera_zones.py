"""Camera zones as versions: each apply keeps the camera's zones and the agent's desired config
as versions, publishes the desired config before either is kept, and builds it on the one
before (another camera of the agent keeps its zones)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from villagewatch.contract.control import DesiredConfig
from villagewatch.versions import VersionRefused, VersionStore
from villagewatch.versions.cameras import (
    CameraZones,
    agent_file,
    apply_zones,
    camera_file,
    current_zones,
    zones_of_text,
)

ROAD = {"id": "lane", "kind": "no_parking", "polygon": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.6]]}
MASK = {"id": "window", "polygon": [[0.7, 0.0], [1.0, 0.0], [1.0, 0.3]]}


class Broker:
    """Takes what is published, or refuses everything."""

    def __init__(self, *, down: bool = False) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.down = down

    def __call__(self, topic: str, payload: bytes) -> None:
        if self.down:
            raise ConnectionError("broker down")
        self.sent.append((topic, payload))


@pytest.fixture
def versions(tmp_path: Path) -> VersionStore:
    return VersionStore(tmp_path / "config-versions.db")


def _apply(versions: VersionStore, broker: Broker, device: str, zones: CameraZones) -> None:
    apply_zones(
        versions, zones, village="dongcun", agent="edge-bridge", device=device, who="maint",
        note="fire lane marked", at_ms=1_000, publish=broker,
    )  # fmt: skip


def test_an_apply_keeps_both_versions_and_publishes_the_numbered_desired_config(
    versions: VersionStore,
) -> None:
    broker = Broker()
    zones = CameraZones.model_validate({"zones": [ROAD], "masks": [MASK]})
    _apply(versions, broker, "cam-bridge", zones)
    ((topic, payload),) = broker.sent
    assert topic == "vw/v1/dongcun/edge-bridge/config"
    desired = DesiredConfig.model_validate_json(payload)
    assert desired.version == 1
    assert desired.config["devices"]["cam-bridge"]["zones"][0]["id"] == "lane"  # type: ignore[index,call-overload]
    (camera,) = versions.versions(camera_file("dongcun", "cam-bridge"))
    assert (camera.n, camera.who, camera.note) == (1, "maint", "fire lane marked")
    assert zones_of_text(versions.version(camera.file, 1).text) == zones
    assert current_zones(versions, "dongcun", "cam-bridge") == (zones, camera)
    (agent,) = versions.versions(agent_file("dongcun", "edge-bridge"))
    assert orjson.loads(versions.version(agent.file, 1).text) == desired.config


def test_a_second_camera_of_the_agent_keeps_the_first_ones_zones(versions: VersionStore) -> None:
    broker = Broker()
    _apply(versions, broker, "cam-bridge", CameraZones.model_validate({"zones": [ROAD]}))
    _apply(versions, broker, "cam-yard", CameraZones.model_validate({"masks": [MASK]}))
    last = DesiredConfig.model_validate_json(broker.sent[-1][1])
    assert last.version == 2
    assert set(last.config["devices"]) == {"cam-bridge", "cam-yard"}  # type: ignore[arg-type]
    diff = versions.version(agent_file("dongcun", "edge-bridge"), 2).diff
    assert '+    "cam-yard"' in diff


def test_a_broker_that_does_not_take_it_leaves_no_version(versions: VersionStore) -> None:
    with pytest.raises(ConnectionError):
        _apply(versions, Broker(down=True), "cam-bridge", CameraZones())
    assert versions.versions(camera_file("dongcun", "cam-bridge")) == []
    assert versions.versions(agent_file("dongcun", "edge-bridge")) == []


def test_a_missing_note_is_refused_before_anything_is_sent(versions: VersionStore) -> None:
    broker = Broker()
    with pytest.raises(VersionRefused, match="a note is required"):
        apply_zones(
            versions, CameraZones(), village="v", agent="a", device="d", who="m", note=" ",
            at_ms=1, publish=broker,
        )  # fmt: skip
    assert broker.sent == []


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        pytest.param({"zones": [{**ROAD, "polygon": [[0, 0], [2, 0], [1, 1]]}]},
                     r"zone lane: corner \(2, 0\) is outside the picture", id="outside"),
        pytest.param({"zones": [ROAD, ROAD]}, "zone ids must be unique: lane", id="twice"),
        pytest.param({"zones": [{**ROAD, "kind": "moat"}]}, "Input should be", id="kind"),
    ],
)  # fmt: skip
def test_zones_that_cannot_be_are_refused_with_what_is_wrong(
    doc: dict[str, object], words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        CameraZones.model_validate(doc)
