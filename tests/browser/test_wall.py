"""The command-centre wall (big-screen mode) on a 1920x1080 screen in Chinese and English:
tiles count the open alerts the test raises, by severity and kind, today's alarms, the median
time to acknowledge and the devices offline; the town view shows each village's worst open
severity; the wall follows the live stream without a reload; ``/?big=1`` keeps its query."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.api_deployment import ApiDeployment
from villagewatch.alerts import AlertDatabase
from villagewatch.alerts.engine import notifier_for
from villagewatch.config import load_deployment
from villagewatch_dev.testing import fire_alert

from .conftest import OpenConsole
from .pages import ConsolePage

VILLAGES = {"xicun": "西村", "nancun": "南村"}
"""Two more villages of the demo's town, copies of 东村: the town view has three."""


@pytest.fixture
def town_api(tmp_path: Path) -> Iterator[ApiDeployment]:
    """A running API over three villages of one town, with readings for 东村's devices."""
    d = ApiDeployment(tmp_path / "deployment")
    try:
        text = (d.root / "dongcun.yaml").read_text(encoding="utf-8")
        for vid, name in VILLAGES.items():
            (d.root / f"{vid}.yaml").write_text(
                text.replace("id: dongcun", f"id: {vid}").replace("name: 东村", f"name: {name}"),
                encoding="utf-8",
            )
        files = ", ".join(["dongcun.yaml", *(f"{v}.yaml" for v in VILLAGES)])
        d.settings_path.write_text(
            d.settings_path.read_text().replace("villages: [dongcun.yaml]", f"villages: [{files}]")
        )
        d.deployment = load_deployment(d.settings_path)
        d.alerts.close()  # routed by the three villages' places from here on
        d.alerts = AlertDatabase(
            d.deployment.settings.alerts.state_path, notifier=notifier_for(d.deployment)
        )
        d.write_readings()
        d.start()
        yield d
    finally:
        d.close()


def _count(c: ConsolePage, testid: str, n: int) -> None:
    expect(c.by(testid)).to_have_attribute("data-count", str(n))


def _village(c: ConsolePage, vid: str, worst: str, open_: int) -> None:
    tile = c.page.locator(f'[data-testid="town-village"][data-village="{vid}"]')
    expect(tile).to_have_attribute("data-worst", worst)
    expect(tile).to_have_attribute("data-open", str(open_))


def _offline(api: ApiDeployment) -> int:
    devices = httpx.get(
        f"{api.base}/api/devices", headers={"Authorization": f"Bearer {api.token('op')}"}
    ).json()
    return sum(1 for d in devices if d["link"] == "offline")


def _no_sideways_scroll(c: ConsolePage) -> None:
    assert c.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_wall_counts_raised_alerts_shows_villages_and_follows_the_stream(
    town_api: ApiDeployment, console: OpenConsole
) -> None:
    """/?big=1 opens the wall with its query kept; the tiles and the town view count what
    the test raised; a new red alarm and an acknowledgement show without a reload; both
    languages at 1920x1080."""
    api = town_api
    now = time.time_ns() // 1_000_000
    red = api.raise_alert(subject="wl-bridge", kind="level", severity="red",
                          message="石桥水位 214 cm 超过红色警戒线", at_ms=now - 300_000)  # fmt: skip
    api.raise_alert(subject="lock-a01", kind="forced_open", detector="smart_lock",
                    severity="orange", message="A 片 1 号出租房门锁被撬", at_ms=now - 200_000)  # fmt: skip
    rain = fire_alert(api.alerts, village="xicun", subject="rain-north", kind="rain",
                      detector="rain", severity="yellow", message="西村北雨量计 1 小时 18 mm",
                      at_ms=now - 100_000)  # fmt: skip
    api.alerts.acknowledge(rain.id, "op", now - 10_000)  # 90 s after it fired

    c = console(api=api, locale="zh-CN", width=1920, height=1080)
    c.open("/?big=1")
    assert c.page.url == f"{api.base}/console/?big=1"
    c.login("op")
    expect(c.by("wall-tiles")).to_have_attribute("data-ready", "true")
    _count(c, "wall-open-red", 1)
    _count(c, "wall-open-orange", 1)
    _count(c, "wall-open-yellow", 1)
    _count(c, "wall-open-blue", 0)
    _count(c, "wall-unacked", 2)
    _count(c, "wall-today", 3)
    expect(c.by("wall-median")).to_have_attribute("data-seconds", "90")
    expect(c.by("wall-median")).to_contain_text("1分30秒")
    expect(c.by("wall-offline")).to_have_attribute("data-count", str(_offline(api)))
    kinds = c.by("wall-kind")
    expect(kinds).to_have_count(3)
    expect(kinds.first).to_have_attribute("data-kind", "level")  # the worst first
    expect(kinds.first).to_contain_text("水位")
    _village(c, "dongcun", "red", 2)
    _village(c, "xicun", "yellow", 1)
    _village(c, "nancun", "none", 0)
    expect(c.page.locator('[data-village="nancun"]')).to_contain_text("平稳")
    expect(c.by("feed")).to_be_visible()
    expect(c.feed_item(red.id)).to_be_visible()
    expect(c.by("plan")).to_be_visible()
    expect(c.page.locator("#wall-hourly canvas")).to_have_count(1)
    expect(c.page.locator("#wall-daily canvas")).to_have_count(1)
    stacked = c.page.evaluate(
        "() => echarts.getInstanceByDom(document.getElementById('wall-hourly')).getOption()"
        ".series.reduce((n, s) => n + s.data.reduce((a, b) => a + b, 0), 0)"
    )
    assert stacked == 3
    _no_sideways_scroll(c)
    c.shot("01-wall-zh")

    # live: a red SOS in 南村 and an acknowledgement arrive through the stream
    sos = fire_alert(api.alerts, village="nancun", subject="sos-square", kind="sos",
                     detector="call_button", severity="red", message="南村文化广场一键报警")  # fmt: skip
    api.alerts.acknowledge(red.id, "op", time.time_ns() // 1_000_000)
    _count(c, "wall-open-red", 2)
    _count(c, "wall-today", 4)
    _count(c, "wall-unacked", 2)  # the SOS in, the bridge acknowledged
    _village(c, "nancun", "red", 1)
    expect(c.feed_item(sos.id)).to_be_visible()
    c.shot("02-wall-live-zh")

    c.by("lang-toggle").click()
    expect(c.by("wall-today")).to_contain_text("Alarms today")
    expect(c.page.locator('[data-village="xicun"]')).to_contain_text("Yellow")
    expect(c.page.locator("#wall-side h2").first).to_have_text("By kind (open)")
    c.shot("03-wall-en")


def test_wall_is_usable_at_desktop_size_in_english(
    town_api: ApiDeployment, console: OpenConsole
) -> None:
    """The same wall in a 1440x900 window: every tile and panel on screen, nothing scrolls
    sideways; leaving big-screen mode hides the wall's parts and the URL drops ?big."""
    town_api.raise_alert(subject="wl-sluice", kind="level", severity="blue",
                         message="闸口水位接近警戒线")  # fmt: skip
    c = console(api=town_api, locale="en-GB", width=1440, height=900)
    c.open("/?big=1")
    c.login("op")
    _count(c, "wall-open-blue", 1)
    for testid in ("wall-tiles", "wall-side", "wall-town", "feed", "plan", "wall-hourly"):
        expect(c.by(testid)).to_be_in_viewport()
    _no_sideways_scroll(c)
    c.shot("01-wall-desktop-en")
    c.by("big-toggle").click()
    expect(c.by("wall-tiles")).to_be_hidden()
    expect(c.by("wall-town")).to_be_hidden()
    expect(c.by("device-list")).to_be_visible()
    assert "big=" not in c.page.url
