"""Camera zones end to end: a maintainer draws a no-parking zone on the camera's latest picture
in a real Chromium, drags a corner and applies it with a note; a real edge agent (a camera on
a folder of stills, through a real Mosquitto) applies the new version and the console shows
its report; a car standing in the drawn zone is then raised as an event of that zone."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
import yaml
from playwright.sync_api import expect

from tests.api_deployment import ApiDeployment
from tests.integration.edge_world import Collector, edge_settings
from tests.integration.test_edge_camera import drop_stills
from tests.unit.edge.vision.synth import street
from villagewatch.edge.agent import EdgeAgent
from villagewatch.edge.drivers import CameraConfig
from villagewatch_dev.servers import Mosquitto

from .conftest import OpenConsole

# the camera file on the box: no zones yet (the centre's console draws them)
CAMERA = {"camera": "bridge-cam", "motion": {"short_s": 5, "long_s": 3600, "grace_s": 60}}
# the corners clicked, as fractions of the picture: around where drop_stills parks the car
CORNERS = [(0.29, 0.44), (0.72, 0.42), (0.72, 0.92), (0.31, 0.92)]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    started = Mosquitto(tmp_path / "mosquitto").start()
    yield started
    started.kill()


@pytest.fixture
def centre(tmp_path: Path, broker: Mosquitto) -> Iterator[ApiDeployment]:
    """The API of the demo village, signing in to ``broker`` as the config writer."""
    deployment = ApiDeployment(tmp_path / "deployment")
    with deployment.settings_path.open("a") as f:
        f.write(f"mqtt: {{host: 127.0.0.1, port: {broker.port}}}\n")
    ok, jpeg = cv2.imencode(".jpg", street())
    assert ok
    deployment.add_evidence("cam-bridge", "ev-earlier", jpeg.tobytes())  # its latest picture
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.close()


class RunningAgent:
    """Edge agent ``edge-bridge`` of dongcun with camera ``cam-bridge`` on a stills folder, in a
    thread of its own (Playwright's sync API holds this thread's event loop)."""

    def __init__(self, tmp_path: Path, port: int) -> None:
        (tmp_path / "bridge-cam.yaml").write_text(yaml.safe_dump(CAMERA))
        self.stills = tmp_path / "stills"
        self.stills.mkdir()
        camera = {
            "driver": "camera", "device": "cam-bridge", "source": str(self.stills),
            "camera": tmp_path / "bridge-cam.yaml",
        }  # fmt: skip
        self.agent = EdgeAgent(
            edge_settings(tmp_path, port, id="edge-bridge", village="dongcun", devices=[camera])
        )
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._run, name="edge-agent")
        self._thread.start()

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self.agent.run(self._stop))
        finally:
            self._loop.close()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        assert not self._thread.is_alive(), "the agent did not stop"


def test_a_zone_drawn_in_the_console_reaches_the_agent_and_its_events(
    tmp_path: Path, broker: Mosquitto, centre: ApiDeployment, console: OpenConsole
) -> None:
    collector = Collector(broker.port, "dongcun")
    (tmp_path / "edge").mkdir()
    agent = RunningAgent(tmp_path / "edge", broker.port)
    try:
        page = console(api=centre, locale="en-GB")
        page.open()
        page.login("maint")
        page.by("nav-zones").click()
        expect(page.by("zones-camera")).to_have_value("dongcun/cam-bridge")
        expect(page.by("zones-picture").locator("img")).to_be_visible()
        expect(page.by("zones-reported")).to_have_attribute("data-state", "not_sent")

        page.by("zones-kind").select_option("no_parking")
        page.by("zones-new-zone").click()
        canvas = page.by("zones-canvas")
        box = canvas.bounding_box()
        assert box is not None
        for x, y in CORNERS:
            canvas.click(position={"x": x * box["width"], "y": y * box["height"]})
        page.by("zones-finish").click()
        expect(page.by("zones-shape-no-parking-1")).to_be_visible()
        # drag the first corner up and left a little (measured again: the drawing hint is gone)
        box = canvas.bounding_box()
        assert box is not None
        corner = page.by("zones-corner").first
        c = corner.bounding_box()
        assert c is not None
        page.page.mouse.move(c["x"] + c["width"] / 2, c["y"] + c["height"] / 2)
        page.page.mouse.down()
        page.page.mouse.move(
            box["x"] + 0.30 * box["width"], box["y"] + 0.40 * box["height"], steps=5
        )
        page.page.mouse.up()
        page.shot("drawn")

        page.by("zones-note").fill("fire lane at the bridge")
        page.by("zones-apply").click()
        expect(page.by("zones-message")).to_contain_text("Kept as version 1")
        expect(page.by("zones-version")).to_contain_text("fire lane at the bridge")
        expect(page.by("zones-reported")).to_have_attribute("data-state", "applied", timeout=30_000)
        expect(page.by("zones-reported")).to_contain_text("edge-bridge applied config version 1")
        page.shot("applied")

        running = agent.agent.settings.devices[0]
        assert isinstance(running, CameraConfig) and running.zones is not None
        (zone,) = running.zones
        assert zone.id == "no-parking-1" and zone.kind == "no_parking"
        assert zone.polygon[0] == pytest.approx((0.30, 0.40), abs=0.01)  # the dragged corner

        drop_stills(agent.stills, 20, car_from=2)  # a car from 60 s on; the zone's dwell: 300 s

        def events() -> list[dict[str, object]]:
            return [i for g in collector.messages() if g.topic.endswith("/event") for i in g.items]

        for _ in range(600):
            if events():
                break
            page.page.wait_for_timeout(100)
        (event,) = events()
        assert event["detection"] == "illegal_parking" and event["zone"] == "no-parking-1"
    finally:
        agent.stop()
        collector.close()
