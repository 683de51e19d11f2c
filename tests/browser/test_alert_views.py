"""What an alert shows beside its words, at desktop, wall and phone sizes in Chinese and English:
the chart over the alert's own span with the detector's levels, the reading that fired, the
value now, zoom and pan (issue 18, point 5); the detection's box and zone on the evidence
picture with its time (point 6); the plan's dots in their alert's colour, a legend, readable
grid names and clusters where devices crowd (point 7). Assertions read what is drawn: the
ECharts instance's option, the overlay's shapes, the dots' computed colours."""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.sync_api import expect

from tests.api_deployment import ApiDeployment
from villagewatch.db.configured import versions_location
from villagewatch.versions import VersionStore
from villagewatch.versions.cameras import CameraZones, apply_zones
from villagewatch_dev.testing import TINY_JPEG

from .conftest import OpenConsole
from .pages import ConsolePage

SIZES = {"desktop": (1440, 900), "wall": (1920, 1080), "phone": (390, 844)}
LOCALES = {"zh-CN": "zh", "en": "en"}
_MIN_MS = 60_000

CHART_OPTION = """() => {
  const el = document.querySelector('[data-testid=chart-canvas]');
  const chart = el && echarts.getInstanceByDom(el);
  if (!chart) return null;
  const o = chart.getOption();
  const mean = o.series.find((s) => s.id === 'mean');
  return {
    lines: mean.markLine.data.filter((d) => d.yAxis !== undefined).map((d) => [d.yAxis, d.name]),
    marks: mean.markLine.data.filter((d) => d.xAxis !== undefined).map((d) => d.xAxis),
    points: mean.markPoint.data.map((p) => [p.id, p.coord[0], p.coord[1]]),
    since: o.xAxis[0].min, until: o.xAxis[0].max,
    zoom: o.dataZoom.map((z) => [z.type, z.start, z.end]),
    means: mean.data.filter((d) => d[1] !== null).length,
  };
}"""


def _open(console: OpenConsole, api: ApiDeployment, size: str, locale: str) -> ConsolePage:
    width, height = SIZES[size]
    c = console(api=api, locale=locale, width=width, height=height)
    c.open()
    c.login("op")
    return c


def _option(c: ConsolePage) -> dict[str, Any]:
    c.page.wait_for_function(f"() => ({CHART_OPTION})() !== null")
    option = c.page.evaluate(f"({CHART_OPTION})()")
    assert isinstance(option, dict)
    return option


def test_level_chart_spans_the_alert_with_its_levels_fired_reading_now_and_zoom(
    api: ApiDeployment, console: OpenConsole
) -> None:
    """A yellow level alert 9 min old on the rising bridge gauge: the chart spans 30 min
    before it to now (not 6 h around it), draws the blue, warning, guaranteed and record
    levels of the village file with their names, pins the reading that fired and the value
    now, and zooms with the wheel; an SOS alert shows its place instead of a chart."""
    started = time.time_ns() // 1_000_000 - 9 * _MIN_MS
    level = api.raise_alert(subject="wl-bridge", kind="level", severity="yellow",
                            message="石桥水位计 water at 205 cm", at_ms=started,
                            details={"value": 205.3})  # fmt: skip
    sos = api.raise_alert(subject="sos-square", kind="sos", detector="sos", severity="red",
                          message="SOS pressed at 文化广场一键报警")  # fmt: skip
    words = {"zh": ("警戒水位 200 cm", "保证水位 260 cm", "当前值"),
             "en": ("warning level 200 cm", "guaranteed level 260 cm", "Now")}  # fmt: skip
    for locale, lang in LOCALES.items():
        for size in SIZES:
            c = _open(console, api, size, locale)
            c.open_alert(level.id)
            option = _option(c)
            assert [v for v, _ in option["lines"]] == [180, 200, 260, 400]
            assert words[lang][0] in [name for _, name in option["lines"]]
            assert option["since"] == started - 30 * _MIN_MS  # the alert's own span
            assert abs(option["until"] - time.time_ns() // 1_000_000) < 120_000
            assert option["marks"] == [started]
            points = {p[0]: p[1:] for p in option["points"]}
            assert points["point-fired"] == [started, 205.3]
            assert points["point-now"][1] > 200  # the gauge's newest reading
            assert [z[0] for z in option["zoom"]] == ["inside", "slider"]
            assert option["means"] > 10  # the rise fills the chart, not a sliver
            keys = c.by("chart").get_by_test_id("chart-line")
            expect(keys).to_have_count(4)
            expect(keys.nth(1)).to_have_text(words[lang][0])
            expect(keys.nth(2)).to_have_text(words[lang][1])
            expect(c.by("chart-now")).to_contain_text(words[lang][2])
            c.by("chart-canvas").scroll_into_view_if_needed()
            c.shot(f"05-chart-{size}-{lang}")
            if size == "desktop":
                box = c.by("chart-canvas").bounding_box()
                assert box is not None
                c.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 3)
                c.page.mouse.wheel(0, -400)
                c.page.wait_for_function(
                    f"() => ({CHART_OPTION})().zoom[0][1] > 0 || ({CHART_OPTION})().zoom[0][2] < 100"
                )
                c.shot(f"05-chart-zoomed-{lang}")

            c.page.goto(f"{api.base}/console/#alert/{sos.id}")
            expect(c.by("detail-message")).to_contain_text("SOS")
            expect(c.by("place-section")).to_be_visible()
            expect(c.by("detail-place")).to_contain_text("文化广场一键报警")
            expect(c.by("detail-place-dot")).to_be_visible()
            expect(c.by("chart-section")).to_have_count(0)
            c.shot(f"05-sos-place-{size}-{lang}")
            c.page.context.close()


def _street_jpeg() -> bytes:
    """A 640 by 360 street with a car in the fire lane (a plain picture when OpenCV is absent)."""
    try:
        import cv2
        import numpy as np
    except ImportError:
        return TINY_JPEG
    img = np.full((360, 640, 3), (92, 98, 104), np.uint8)
    cv2.rectangle(img, (0, 0), (640, 120), (180, 150, 120), -1)  # houses
    cv2.rectangle(img, (64, 180), (320, 330), (70, 90, 200), -1)  # the fire lane, red paint
    cv2.rectangle(img, (140, 200), (260, 290), (40, 40, 40), -1)  # the car
    ok, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return bytes(data)


def test_evidence_picture_shows_the_box_the_zone_and_when_it_was_taken(
    api: ApiDeployment, console: OpenConsole
) -> None:
    """A parking detection with its box (from the event) and the camera's fire-lane zone (from
    its configured zones): both drawn over the picture, exactly where the numbers say, with
    the time the picture was taken and the place."""
    lane = [[0.1, 0.5], [0.5, 0.5], [0.5, 0.92], [0.1, 0.92]]
    versions = VersionStore(versions_location(api.deployment.settings))
    try:
        apply_zones(versions, CameraZones.model_validate({"zones": [
            {"id": "fire-lane", "kind": "no_parking", "polygon": lane}]}),
            village="dongcun", agent="edge-bridge", device="cam-market", who="maint",
            note="fire lane", at_ms=time.time_ns() // 1_000_000, publish=lambda _t, _p: None)  # fmt: skip
    finally:
        versions.close()
    api.add_evidence("cam-market", "ev-lane", _street_jpeg())
    taken = time.time_ns() // 1_000_000 - 3 * _MIN_MS
    alert = api.raise_alert(subject="cam-market:fire-lane", kind="illegal_parking",
                            detector="camera", severity="yellow", at_ms=taken,
                            message="集市路口摄像头: illegal parking in zone fire-lane",
                            details={"evidence": "ev-lane", "zone": "fire-lane",
                                     "box": [0.22, 0.55, 0.19, 0.25], "dwell_s": 420.0})  # fmt: skip
    for locale, lang in LOCALES.items():
        for size in SIZES:
            c = _open(console, api, size, locale)
            c.open_alert(alert.id)
            rect = c.by("evidence-box")
            expect(rect).to_have_attribute("x", "0.22")
            expect(rect).to_have_attribute("width", "0.19")
            expect(c.by("evidence-zone")).to_have_attribute("data-zone", "fire-lane")
            points = c.by("evidence-zone").locator("polygon").get_attribute("points")
            assert points == "0.1,0.5 0.5,0.5 0.5,0.92 0.1,0.92"
            c.page.wait_for_function(
                "() => document.querySelector('[data-testid=evidence-img]')?.naturalWidth > 0"
            )
            img = c.by("evidence-img").bounding_box()
            drawn = rect.bounding_box()
            assert img is not None and drawn is not None
            # the box lies where its numbers put it on the picture as shown
            assert abs(drawn["x"] - (img["x"] + 0.22 * img["width"])) < 3
            assert abs(drawn["width"] - 0.19 * img["width"]) < 3
            assert abs(drawn["y"] - (img["y"] + 0.55 * img["height"])) < 3
            caption = c.by("evidence-caption")
            expect(caption).to_contain_text("拍摄于" if lang == "zh" else "Taken")
            expect(caption).to_contain_text("违章停车" if lang == "zh" else "illegal parking")
            second = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(taken / 1000))
            expect(c.by("evidence-time")).to_have_attribute("datetime", re.compile(f"^{second}"))
            expect(c.by("detail-place")).to_contain_text("集市路口摄像头")
            c.by("evidence-figure").scroll_into_view_if_needed()
            c.shot(f"06-evidence-{size}-{lang}")
            c.page.context.close()


RGB = {"red": "rgb(220, 47, 42)", "orange": "rgb(240, 138, 36)",
       "yellow": "rgb(242, 194, 48)", "blue": "rgb(42, 114, 204)"}  # fmt: skip


def test_plan_colours_each_alarm_by_its_worst_severity_with_legend_labels_and_clusters(
    own_api: ApiDeployment, console: OpenConsole
) -> None:
    """A blue, a yellow, an orange and a red alert (and a second, blue one on the red's
    device): each dot has its worst open severity's colour (a blue alert is blue, not red); the
    legend names the four colours; grid names are at least 13 px; on a phone the crowded quiet
    locks gather into clusters that list their devices, while every alarm keeps its own dot."""
    for subject, kind, severity in (
        ("lock-b03", "battery", "blue"), ("sos-elder-home", "sos", "yellow"),
        ("cam-market", "crowd", "orange"), ("wl-bridge", "level", "red"),
        ("wl-bridge", "rise", "blue"),
    ):  # fmt: skip
        own_api.raise_alert(subject=subject, kind=kind, severity=severity, message=kind)
    alarms = {"lock-b03": "blue", "sos-elder-home": "yellow", "cam-market": "orange",
              "wl-bridge": "red"}  # fmt: skip
    for locale, lang in LOCALES.items():
        for size in SIZES:
            c = _open(console, own_api, size, locale)
            expect(c.by("plan")).to_be_visible()
            for device, severity in alarms.items():
                dot = c.by("plan").locator(f'[data-testid="plan-dot"][data-device-id="{device}"]')
                expect(dot).to_be_visible()
                expect(dot).to_have_attribute("data-severity", severity)
                expect(dot).to_have_css("background-color", RGB[severity])
            legend = c.by("plan-legend").get_by_test_id("plan-legend-severity")
            expect(legend).to_have_count(4)
            expect(legend.first).to_contain_text("红色" if lang == "zh" else "Red")
            expect(legend.nth(3).locator("i")).to_have_css("background-color", RGB["blue"])
            label = c.by("plan-grid-label").first
            expect(label).to_be_visible()
            size_px = float(label.evaluate("e => getComputedStyle(e).fontSize")[:-2])
            assert size_px >= 13
            if size == "phone":
                cluster = c.by("plan-cluster").first
                expect(cluster).to_be_visible()
                count = int(cluster.get_attribute("data-count") or 0)
                assert count >= 2
                c.by("plan").scroll_into_view_if_needed()
                c.shot(f"07-plan-{size}-{lang}")
                cluster.click()
                listed = c.page.locator('[data-testid="plan-cluster-list"]:not([hidden])')
                expect(listed.get_by_test_id("plan-dot")).to_have_count(count)
                listed.scroll_into_view_if_needed()
                c.shot(f"07-plan-cluster-open-{lang}")
            else:
                c.by("plan").scroll_into_view_if_needed()
                c.shot(f"07-plan-{size}-{lang}")
            c.page.context.close()
