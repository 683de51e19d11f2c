"""Rejected messages (dead letters) in the console: counts by reason in words, each device's
latest examples, paging through all of them, hostile payloads shown as text; operators see
the view, viewers do not; desktop, wall and phone in both languages."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from playwright.sync_api import Dialog, expect

from tests.api_deployment import ApiDeployment
from villagewatch.contract import DeadLetter, RejectReason
from villagewatch.store import Batch, RelationalStore

from .conftest import OpenConsole
from .pages import ConsolePage

HOSTILE = "<img src=x onerror=alert(1)>"
SIZES = {"desktop": (1440, 900), "wall": (1920, 1080), "phone": (390, 844)}


def _reject(api: ApiDeployment) -> None:
    """What the ingester would have kept: 25 unreadable messages of the bridge gauge (the newest
    one a hostile payload), two of an unregistered device, one on a topic that names no device
    and one that is not text."""
    now = time.time_ns() - 60 * 1_000_000_000
    bridge = "vw/v1/dongcun/wl-bridge/telemetry"
    letters = [
        DeadLetter(now - i * 1_000_000_000, bridge, RejectReason.BAD_JSON, "not JSON",
                   f'{{"v":1,"seq":{i}, broken'.encode())
        for i in range(1, 25)
    ]  # fmt: skip
    letters += [
        DeadLetter(now, bridge, RejectReason.BAD_JSON, "not JSON", HOSTILE.encode()),
        DeadLetter(now - 30_000_000_000, "vw/v1/dongcun/ghost-9/telemetry",
                   RejectReason.UNKNOWN_DEVICE, "no device ghost-9 in village dongcun", b"{}"),
        DeadLetter(now - 31_000_000_000, "vw/v1/dongcun/ghost-9/telemetry",
                   RejectReason.UNKNOWN_DEVICE, "no device ghost-9 in village dongcun", b"{}"),
        DeadLetter(now - 32_000_000_000, "garbage", RejectReason.BAD_TOPIC, "not vw/v1/…",
                   b"<script>alert(2)</script>"),
        DeadLetter(now - 33_000_000_000, "vw/v1/dongcun/rain-north/telemetry",
                   RejectReason.INVALID_PAYLOAD, "seq: missing", b"\xff\xfe\x00binary"),
    ]  # fmt: skip

    async def write() -> None:
        store = RelationalStore(api.root / "readings.db")
        try:
            await store.write(Batch(dead_letters=letters))
        finally:
            await store.close()

    # a thread of its own: sync Playwright keeps an event loop running on this one
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(lambda: asyncio.run(write())).result()


def _open(c: ConsolePage, dialogs: list[str]) -> None:
    def dialog(d: Dialog) -> None:
        dialogs.append(d.message)  # an alert() run by a payload would land here
        d.dismiss()

    c.page.on("dialog", dialog)
    c.open()
    c.login("op")
    c.by("nav-deadletters").click()
    expect(c.by("dl-reasons")).to_be_visible()


def test_operators_see_rejected_messages_by_reason_and_device_as_text(
    own_api: ApiDeployment, console: OpenConsole
) -> None:
    """Counts per reason with a sentence each, the bridge gauge first with its newest three,
    the hostile payload as its characters (no image, no dialog), a binary one marked; at every
    size and in both languages without sideways scrolling."""
    _reject(own_api)
    words = {"zh-CN": ("格式无法读取", "设备未登记", "不是文字"),
             "en": ("Unreadable format", "Device not registered", "Not text")}  # fmt: skip
    for locale, (bad_json, unknown, binary) in words.items():
        for size, (width, height) in SIZES.items():
            dialogs: list[str] = []
            c = console(api=own_api, locale=locale, width=width, height=height)
            _open(c, dialogs)
            expect(c.by("dl-scanned")).to_contain_text("29")
            counts = {
                "bad_json": "25",
                "unknown_device": "2",
                "bad_topic": "1",
                "invalid_payload": "1",
            }
            for reason, n in counts.items():
                row = c.page.locator(f'[data-testid="dl-reason"][data-reason="{reason}"]')
                expect(row.get_by_test_id("dl-reason-count")).to_have_text(n)
            expect(c.page.locator('[data-testid="dl-reason"]').first).to_have_attribute(
                "data-reason", "bad_json"
            )
            expect(
                c.page.locator('[data-testid="dl-reason"][data-reason="bad_json"]')
            ).to_contain_text(bad_json)
            expect(
                c.page.locator('[data-testid="dl-reason"][data-reason="unknown_device"]')
            ).to_contain_text(unknown)
            expect(c.by("dl-reasons-chart").locator("canvas")).to_have_count(1)

            first = c.by("dl-device").first
            expect(first).to_have_attribute("data-device", "wl-bridge")
            expect(first.get_by_test_id("dl-device-count")).to_contain_text("25")
            expect(first.get_by_test_id("dl-letter")).to_have_count(3)
            expect(first.get_by_test_id("dl-payload").first).to_have_text(HOSTILE)
            expect(c.page.locator('[data-device="ghost-9"]')).to_contain_text(unknown)
            expect(c.page.locator('[data-testid="dl-device"][data-device=""]')).to_contain_text(
                "<script>alert(2)</script>"
            )
            expect(c.page.locator('[data-device="rain-north"]')).to_contain_text(binary)
            assert c.page.locator('img[src="x"], .dl-payload img, .dl-payload script').count() == 0
            assert dialogs == []
            scroll = c.page.evaluate("document.documentElement.scrollWidth")
            assert scroll <= width, f"{scroll} px wide on a {width} px screen"
            c.shot(f"{locale}-{size}")


def test_paging_through_every_rejected_message(
    own_api: ApiDeployment, console: OpenConsole
) -> None:
    """The full list comes 20 at a time, newest first; "older" brings the rest, then says
    there are none."""
    _reject(own_api)
    c = console(api=own_api)
    _open(c, [])
    listed = c.by("dl-all").get_by_test_id("dl-letter")
    expect(listed).to_have_count(20)
    expect(listed.first.get_by_test_id("dl-payload")).to_have_text(HOSTILE)
    c.by("dl-more").click()
    expect(listed).to_have_count(29)
    expect(c.by("dl-more")).to_have_count(0)
    expect(c.by("dl-end")).to_be_visible()
    c.shot("paged")


def test_viewers_have_no_rejected_messages_view(
    own_api: ApiDeployment, console: OpenConsole
) -> None:
    """A viewer has no tab for it, and a hand-typed visit is refused by the API."""
    c = console(api=own_api)
    c.open()
    c.login("viewer")
    expect(c.by("nav-assessment")).to_be_visible()
    expect(c.by("nav-deadletters")).to_be_hidden()
    token = c.page.evaluate("JSON.parse(sessionStorage.getItem('villagewatch.session')).token")
    reply = c.page.request.get(
        f"{own_api.base}/api/dead-letters/summary", headers={"Authorization": f"Bearer {token}"}
    )
    assert reply.status == 403
