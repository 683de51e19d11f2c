"""Camera zones from the centre through a real broker to a real agent: the zones a maintainer
applies (kept as versions, published retained as the config writer) are reported applied by
the agent, a car in the new zone is raised as an event of that zone, and zones the camera
cannot run are reported refused with the agent's reason while the last good ones keep
running."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import yaml

from villagewatch.api.edgeconfig import EdgeConfigLink
from villagewatch.config import MqttSettings
from villagewatch.contract.control import ReportedConfig
from villagewatch.edge.agent import EdgeAgent
from villagewatch.versions import VersionStore
from villagewatch.versions.cameras import CameraZones, apply_zones
from villagewatch_dev.servers import Mosquitto

from .edge_world import Collector, edge_settings
from .test_edge_camera import drop_stills

CAMERA = {"camera": "lane-cam", "motion": {"short_s": 5, "long_s": 3600, "grace_s": 60}}
# the fire lane of test_edge_camera, normalised (the stills are 1280 x 720)
LANE = {
    "id": "drawn-lane", "kind": "no_parking", "dwell_s": 120, "min_object": 0.01,
    "polygon": [[400 / 1280, 300 / 720], [900 / 1280, 300 / 720], [900 / 1280, 650 / 720],
                [400 / 1280, 650 / 720]],
}  # fmt: skip


async def until(check: Callable[[], object], within_s: float = 30) -> None:
    for _ in range(int(within_s * 10)):
        if await asyncio.to_thread(check):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


def test_applied_zones_reach_the_agent_and_its_events(tmp_path: Path, mosquitto: Mosquitto) -> None:
    (tmp_path / "lane-cam.yaml").write_text(yaml.safe_dump(CAMERA))
    stills = tmp_path / "stills"
    stills.mkdir()
    camera = {
        "driver": "camera", "device": "cam-1", "source": str(stills),
        "camera": tmp_path / "lane-cam.yaml",
    }  # fmt: skip
    collector = Collector(mosquitto.port, "v")
    agent = EdgeAgent(edge_settings(tmp_path, mosquitto.port, devices=[camera]))
    link = EdgeConfigLink(MqttSettings(port=mosquitto.port))
    versions = VersionStore(tmp_path / "config-versions.db")
    seen: dict[str, object] = {}

    def apply(zones: dict[str, object], note: str) -> int:
        done = apply_zones(
            versions, CameraZones.model_validate(zones), village="v", agent="edge-1",
            device="cam-1", who="maint", note=note, at_ms=1, publish=link.publish,
        )  # fmt: skip
        return done.desired.n

    def report_of(n: int) -> Callable[[], ReportedConfig | None]:
        def check() -> ReportedConfig | None:
            got = link.reported("v", "edge-1")
            return got if isinstance(got, ReportedConfig) and got.version == n else None

        return check

    def events() -> list[dict[str, object]]:
        return [i for g in collector.messages() if g.topic.endswith("/event") for i in g.items]

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(agent.run(stop))
        try:
            await asyncio.wait_for(agent.link.connected.wait(), 20)
            seen["before"] = await asyncio.to_thread(link.reported, "v", "edge-1")
            n = await asyncio.to_thread(apply, {"zones": [LANE]}, "fire lane drawn")
            await until(report_of(n))
            seen["applied"] = await asyncio.to_thread(report_of(n))
            drop_stills(stills, 12, car_from=2)  # car from 60 s; dwell 120 s
            await until(events, within_s=60)
            # a gauge zone needs the camera file's gauge settings, which this camera has not
            gauge = {**LANE, "id": "staff", "kind": "gauge"}
            bad = await asyncio.to_thread(apply, {"zones": [LANE, gauge]}, "gauge added")
            await until(report_of(bad))
            seen["refused"] = await asyncio.to_thread(report_of(bad))
            seen["running"] = agent.settings.devices[0]
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)

    try:
        asyncio.run(scenario())
    finally:
        collector.close()
        versions.close()
    assert seen["before"] is None
    assert seen["applied"] == ReportedConfig(v=1, version=1, applied=True)
    (event,) = events()
    assert event["detection"] == "illegal_parking" and event["zone"] == "drawn-lane"
    refused = seen["refused"]
    assert isinstance(refused, ReportedConfig) and not refused.applied
    assert "gauge zone needs the `gauge` settings" in str(refused.error)
    assert [z.id for z in seen["running"].zones] == ["drawn-lane"]  # type: ignore[attr-defined]
