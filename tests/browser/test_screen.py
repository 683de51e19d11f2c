"""The console's screen: both languages, big-screen mode, the village plan and device list,
and that it fetches nothing from anywhere but its own API."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from playwright.sync_api import Route, expect

from tests.api_deployment import ApiDeployment, plan_png

from .conftest import OpenConsole

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'"
)
"""Only the console's own origin; pictures also from blob: URLs (fetched with the token)."""

MISSING_KEYS = """async () => {
  const { DICTIONARIES } = await import('/console/i18n.js');
  const keys = new Set(Object.values(DICTIONARIES).flatMap(Object.keys));
  return Object.entries(DICTIONARIES).flatMap(
    ([lang, d]) => [...keys].filter((k) => !d[k]).map((k) => `${lang}:${k}`));
}"""


def test_language_toggle_switches_every_text_and_is_remembered(
    api: ApiDeployment, console: OpenConsole
) -> None:
    """The toggle turns the console's text English and back to Chinese, the choice survives a
    reload, and both dictionaries have every key."""
    alert = api.raise_alert(subject="wl-sluice", kind="level", severity="yellow",
                            message="闸口水位接近警戒线")  # fmt: skip
    c = console(locale="zh-CN")
    c.open()
    expect(c.by("login-submit")).to_have_text("登录")
    c.login("op")
    assert c.page.evaluate(MISSING_KEYS) == []
    feed_heading = c.page.locator(".feed-panel h2")
    expect(feed_heading).to_have_text("告警")
    expect(c.by("lang-toggle")).to_have_text("English")

    c.by("lang-toggle").click()
    expect(feed_heading).to_have_text("Alerts")
    expect(c.by("nav-registry")).to_have_text("Rental registry")
    expect(c.by("live-indicator")).to_have_text("live")
    expect(c.by("lang-toggle")).to_have_text("中文")
    expect(c.feed_item(alert.id).get_by_test_id("feed-state")).to_have_text("Firing")
    expect(c.page.locator("html")).to_have_attribute("lang", "en-GB")
    c.open_alert(alert.id)
    expect(c.by("ack-button")).to_have_text("Acknowledge")
    c.shot("01-english")

    c.page.reload()
    expect(feed_heading).to_have_text("Alerts")
    c.by("lang-toggle").click()
    expect(feed_heading).to_have_text("告警")
    expect(c.by("ack-button")).to_have_text("确认")
    expect(c.feed_item(alert.id).get_by_test_id("feed-state")).to_have_text("告警中")
    c.shot("02-chinese")


def test_big_screen_shows_feed_and_plan_without_actions(
    api: ApiDeployment, console: OpenConsole
) -> None:
    """Big-screen mode (the toggle, or ?big=1) keeps the feed and the plan, in larger type,
    and hides the action buttons and the device table."""
    alert = api.raise_alert(subject="rain-north", kind="rain", detector="rain", severity="blue",
                            message="北雨量计 1 小时雨量 18 mm")  # fmt: skip
    c = console()
    c.open()
    c.login("op")
    c.open_alert(alert.id)
    expect(c.by("ack-button")).to_be_visible()
    expect(c.by("device-list")).to_be_visible()

    c.by("big-toggle").click()
    expect(c.page.locator("body")).to_have_class(re.compile(r"\bbig\b"))
    expect(c.by("ack-button")).to_be_hidden()
    expect(c.by("resolve-button")).to_be_hidden()
    expect(c.by("device-list")).to_be_hidden()
    expect(c.by("feed")).to_be_visible()
    expect(c.by("plan")).to_be_visible()
    c.shot("01-big-screen-detail")

    c.open("/console/?big=1")  # same tab: the session is kept
    expect(c.by("live-indicator")).to_have_attribute("data-status", "live")
    expect(c.page.locator("body")).to_have_class(re.compile(r"\bbig\b"))
    expect(c.feed_item(alert.id)).to_be_visible()
    expect(c.by("device-list")).to_be_hidden()
    c.shot("02-big-screen")
    c.open_alert(alert.id)
    expect(c.by("ack-button")).to_be_hidden()


def test_plan_draws_devices_by_state_and_a_dot_opens_its_alert(
    own_api: ApiDeployment, console: OpenConsole
) -> None:
    """On the uploaded plan each device is a dot coloured by its state (alarm, offline, ok,
    never heard); clicking the alarmed one opens its alert. The device table lists them all
    and sorts by a column."""
    own_api.upload_plan(plan_png())
    own_api.add_evidence("cam-bridge", "ev-7")
    red = own_api.raise_alert(subject="wl-bridge", kind="level", severity="red",
                              message="石桥水位 214 cm 超过红色警戒线")  # fmt: skip
    own_api.raise_alert(subject="cam-bridge", kind="intrusion", detector="camera",
                        severity="orange", message="石桥摄像头 河堤有人",
                        details={"evidence": "ev-7"})  # fmt: skip
    own_api.raise_alert(subject="sos-elder-home", kind="sos", detector="call_button",
                        severity="yellow", message="居家养老中心一键报警")  # fmt: skip
    own_api.raise_alert(subject="lock-b03", kind="battery", detector="smart_lock",
                        severity="blue", message="B 片 3 号出租房门锁电量低 15%")  # fmt: skip
    c = console(api=own_api)
    c.open()
    c.login("op")

    plan_image = c.by("plan-image")
    expect(plan_image).to_be_visible()
    c.page.wait_for_function(
        "() => document.querySelector('[data-testid=plan-image]')?.naturalWidth === 960"
    )

    def dot(device: str) -> str:
        return f'[data-testid="plan-dot"][data-device-id="{device}"]'

    expect(c.page.locator(dot("wl-bridge"))).to_have_attribute("data-state", "alarm")
    expect(c.page.locator(dot("wl-sluice"))).to_have_attribute("data-state", "ok")
    expect(c.page.locator(dot("lock-a07"))).to_have_attribute("data-state", "unknown")
    expect(c.page.locator(dot("rain-south"))).to_have_attribute("data-state", "offline")
    expect(c.page.locator(dot("wl-sluice"))).to_have_attribute(
        "title", re.compile(r"闸口水位计.*水位 [56]\d(\.\d)? cm", re.DOTALL)
    )
    rows = c.by("device-list").get_by_test_id("device-row")
    expect(rows).to_have_count(25)
    c.shot("01-overview")

    c.page.locator('[data-testid="device-list"] th button[data-sort="battery"]').click()
    expect(rows.first).to_have_attribute("data-device-id", "rain-south")
    expect(rows.first).to_contain_text("9%")

    c.page.locator(dot("wl-bridge")).click()
    expect(c.by("detail-message")).to_have_text("石桥水位 214 cm 超过红色警戒线")
    expect(c.by("alert-detail")).to_contain_text(f"#{red.id}")
    c.shot("02-dot-opened-alert")


def test_console_fetches_nothing_but_its_own_api(api: ApiDeployment, console: OpenConsole) -> None:
    """Through login, the feed, an alert with picture and chart, both languages, the registry
    and big-screen mode, every request goes to the API's own host and port; and the console
    runs under a Content-Security-Policy that allows nothing else (nor inline code or styles)."""
    api.add_evidence("cam-bridge", "ev-net")
    alert = api.raise_alert(subject="cam-bridge", kind="loitering", detector="camera",
                            severity="orange", message="石桥摄像头 有人长时间逗留",
                            details={"evidence": "ev-net"})  # fmt: skip
    c = console()

    def strict(route: Route) -> None:
        response = route.fetch()
        route.fulfill(
            response=response, headers={**response.headers, "content-security-policy": CSP}
        )

    c.page.route(f"{api.base}/console/", strict)
    c.open()
    c.login("op")
    c.open_alert(alert.id)
    expect(c.by("evidence-img")).to_be_visible()
    expect(c.by("chart")).to_be_visible()
    c.by("lang-toggle").click()
    c.by("detail-close").click()
    c.by("nav-registry").click()
    expect(c.by("registry")).to_be_visible()
    c.by("nav-overview").click()
    c.by("big-toggle").click()
    expect(c.by("plan")).to_be_visible()
    c.shot("01-done")

    own = urlsplit(api.base).netloc
    paths = {urlsplit(url).path for url in c.requests}
    assert {"/console/", "/console/app.js", "/console/console.css", "/api/devices"} <= paths
    foreign = [
        url
        for url in c.requests
        if urlsplit(url).scheme not in ("data", "blob")
        and (urlsplit(url).scheme != "http" or urlsplit(url).netloc != own)
    ]
    assert foreign == []
    assert [e for e in c.console_errors if "Content Security Policy" in e] == []
