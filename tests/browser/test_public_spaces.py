"""The public free-spaces page in Chromium: no login, the page's language from the browser,
readable on a phone, a silent camera's lot said to be without a current count, and no
serious accessibility violation (axe)."""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import Route, expect

from tests.api_deployment import ApiDeployment
from villagewatch.contract import Clock, Reading, point_time_ns
from villagewatch.store import Batch, RelationalStore

from .conftest import OpenConsole

SIZES = {"desktop": (1440, 900), "phone": (390, 844)}
NAMES = {
    "zh-CN": ("卫生院停车场", "空位", "共 24 个车位"),
    "en": ("Clinic car park", "free", "of 24 spaces"),
}


def _count_clinic(api: ApiDeployment, free: int, taken: int) -> None:
    ms = time.time_ns() // 1_000_000 - 20_000
    reading = Reading(
        "dongcun", "g2", "cam-market", "camera", point_time_ns(ms, "pub", 1), 1, "pub",
        {"free_spaces": float(free), "occupied_spaces": float(taken)}, Clock.SYNCED, False,
        False, ms, "clinic",
    )  # fmt: skip

    async def write() -> None:
        store = RelationalStore(api.root / "readings.db")
        try:
            await store.write(Batch(readings=[reading]))
        finally:
            await store.close()

    with ThreadPoolExecutor(max_workers=1) as pool:  # sync Playwright holds this thread's loop
        pool.submit(lambda: asyncio.run(write())).result()


@pytest.mark.parametrize(
    ("locale", "size"),
    [("zh-CN", "phone"), ("en", "phone"), ("zh-CN", "desktop"), ("en", "desktop")],
)
def test_the_public_page_shows_free_spaces_without_a_login(
    own_api: ApiDeployment, console: OpenConsole, locale: str, size: str
) -> None:
    _count_clinic(own_api, 3, 21)
    width, height = SIZES[size]
    c = console(api=own_api, locale=locale, width=width, height=height)
    c.open("/public/spaces")
    name, free, total = NAMES[locale]
    card = c.by("lot-dongcun-clinic")
    expect(card).to_contain_text(name)
    expect(card).to_contain_text("3")
    expect(card).to_contain_text(free)
    expect(card).to_contain_text(total)
    assert c.page.evaluate("document.documentElement.lang") == locale.split("-", maxsplit=1)[0] + (
        "-CN" if locale == "zh-CN" else ""
    )
    # one column on a phone: nothing wider than the screen
    assert c.page.evaluate("document.documentElement.scrollWidth") <= width
    c.shot(f"{size}-{locale}")
    found = c.axe()
    assert not found, "\n".join(map(str, found))
    # the page asked for its own files and the public JSON, nothing of the console's API
    asked = [u.removeprefix(own_api.base) for u in c.requests]
    assert all(u.startswith(("/public/spaces", "/console/publicspaces")) for u in asked), asked


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_a_silent_cameras_lot_says_it_has_no_current_count(
    own_api: ApiDeployment, console: OpenConsole, locale: str
) -> None:
    c = console(api=own_api, locale=locale, width=390, height=844)
    stale = {
        "generated": "2026-12-06T08:00:00Z",
        "lots": [
            {
                "village": "dongcun", "id": "clinic",
                "name": {"zh": "卫生院停车场", "en": "Clinic car park"},
                "note": {"zh": "卫生院门前", "en": "In front of the clinic"},
                "state": "stale", "free": None, "total": None,
                "updated": "2026-12-06T05:00:00Z", "age_s": 10_800, "stale_after_s": 600,
            },
        ],
    }  # fmt: skip

    def answer(route: Route) -> None:
        route.fulfill(status=200, content_type="application/json", body=json.dumps(stale))

    c.page.route("**/public/spaces.json", answer)
    c.open("/public/spaces")
    card = c.by("lot-dongcun-clinic")
    expect(card).to_contain_text("3 小时" if locale == "zh-CN" else "3 h")
    expect(card).to_contain_text("暂无当前空位数" if locale == "zh-CN" else "no current count")
    assert card.locator(".free").count() == 0  # no number shown as if it were now
    c.shot(f"phone-{locale}-stale")
    found = c.axe()
    assert not found, "\n".join(map(str, found))


def test_a_flood_is_told_to_wait(own_api: ApiDeployment, console: OpenConsole) -> None:
    c = console(api=own_api, locale="en", width=390, height=844)

    def busy(route: Route) -> None:
        route.fulfill(status=429, headers={"Retry-After": "42"}, body='{"detail": "too many"}')

    c.page.route("**/public/spaces.json", busy)
    c.open("/public/spaces")
    expect(c.by("status")).to_contain_text("trying again in 42 s")
