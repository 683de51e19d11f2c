# ruff: noqa: RUF001 - the Chinese texts use full-width punctuation on purpose
"""Issue 18, item 3: alert texts, kinds, detectors and village names in the reader's language
(desktop, the 1920x1080 wall and a 390 px phone, in zh-CN and en)."""

from __future__ import annotations

import time
import uuid

import pytest
from playwright.sync_api import expect

from tests.api_deployment import ApiDeployment
from villagewatch.alerts.lifecycle import Alert, AlertPolicy
from villagewatch.catalogue import Said, num
from villagewatch.transitions import AlertKey, Severity, Transition

from .conftest import OpenConsole

VIEWPORTS = {"desktop": (1440, 900), "wall": (1920, 1080), "phone": (390, 844)}


def fire(api: ApiDeployment, key: AlertKey, severity: Severity, said: Said) -> Alert:
    """An alert as a detector raises it: with its message key and parameters (each test its
    own subject: the API, and so the alert store, is shared by the tests)."""
    now = time.time_ns() // 1_000_000
    t = Transition(
        key, "fire", severity, now, said.text, {}, message_key=said.key, params=said.params
    )
    alert = api.alerts.apply(t, f"lang-{key}-{now}", AlertPolicy(), now)
    assert alert is not None
    return alert


def flood(api: ApiDeployment) -> Alert:
    said = Said(
        "water_level.above_guaranteed",
        {"label": "石桥水位计", "value": num(274.8), "guaranteed": num(250)},
    )
    key = AlertKey("water_level", "dongcun", f"wl-{uuid.uuid4().hex[:8]}", "level")
    return fire(api, key, Severity.ORANGE, said)


def link_down(api: ApiDeployment) -> Alert:
    said = Said("offline.village_down", {"village": "dongcun", "count": "9", "total": "12"})
    key = AlertKey("offline", "dongcun", f"edge-{uuid.uuid4().hex[:8]}", "link_down")
    return fire(api, key, Severity.ORANGE, said)


EXPECTED = {
    "zh-CN": {
        "flood": "石桥水位计：水位 274.8 厘米，已达保证水位（250 厘米）",
        "link": "东村：12 台设备中 9 台同时失联",
        "kind": "水位 · 检测器 水位",
    },
    "en": {
        "flood": "石桥水位计: water at 274.8 cm, above the guaranteed level (保证水位) (250 cm)",
        "link": "东村: 9 of 12 devices went silent together",
        "kind": "water level · Detector water level",
    },
}


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("locale", list(EXPECTED))
def test_alerts_read_in_the_readers_language(
    api: ApiDeployment, console: OpenConsole, locale: str, viewport: str
) -> None:
    """The feed and the detail show the alert's message, kind and detector in the console's
    language, and the village by its configured name (东村, not dongcun)."""
    width, height = VIEWPORTS[viewport]
    c = console(locale=locale, width=width, height=height)
    c.open()
    c.login("op")
    water, link = flood(api), link_down(api)
    want = EXPECTED[locale]
    expect(c.feed_item(water.id)).to_contain_text(want["flood"])
    expect(c.feed_item(link.id)).to_contain_text(want["link"])
    expect(c.feed_item(link.id)).not_to_contain_text("dongcun")
    c.shot(f"{locale}-{viewport}-01-feed")
    c.open_alert(water.id)
    expect(c.by("detail-message")).to_have_text(want["flood"])
    expect(c.by("alert-detail")).to_contain_text(want["kind"])
    c.shot(f"{locale}-{viewport}-02-detail")


def test_switching_language_rerenders_the_texts(api: ApiDeployment, console: OpenConsole) -> None:
    """The language toggle re-renders stored alerts from their keys; an alert without a key
    (from before keys were kept) keeps its stored text in both languages."""
    c = console(locale="zh-CN")
    c.open()
    c.login("op")
    water = flood(api)
    old = api.raise_alert(subject="wl-bridge", kind="rise", severity="yellow", message="旧告警文本")
    expect(c.feed_item(water.id)).to_contain_text(EXPECTED["zh-CN"]["flood"])
    c.by("lang-toggle").click()
    expect(c.feed_item(water.id)).to_contain_text(EXPECTED["en"]["flood"])
    expect(c.feed_item(old.id)).to_contain_text("旧告警文本")
    c.shot("01-switched-to-en")


def test_the_registry_names_the_village(console: OpenConsole) -> None:
    """The registry's village choice shows 东村, not its id."""
    c = console(locale="zh-CN")
    c.open()
    c.login("op")
    c.by("nav-registry").click()
    option = c.by("add-house").locator('select[name="village"] option[value="dongcun"]')
    expect(option).to_have_text("东村")
    c.shot("01-registry")
