"""A lost or stale live link cannot be missed: a banner across the page with the time since the
server was last heard from (counting up), the data greyed, and all back to normal once the
link is live again — whether the API process is gone or its stream stalls."""

from __future__ import annotations

import re
import signal

import pytest
from playwright.sync_api import expect

from tests.api_deployment import ApiDeployment

from .conftest import OpenConsole

SIZES = {"desktop": (1440, 900), "wall": (1920, 1080), "phone": (390, 844)}
DOWN = re.compile(r"\blink-down\b")
SECONDS = re.compile(r"(\d+)\s*(?:秒|s)\b")


def since_s(text: str) -> int:
    """The seconds of the banner's "last update … ago" (under a minute)."""
    found = SECONDS.search(text)
    assert found, f"no seconds in {text!r}"
    return int(found[1])


@pytest.mark.parametrize(
    ("locale", "size"),
    [("zh-CN", "desktop"), ("en", "desktop"), ("zh-CN", "phone"), ("en", "phone")],
)
def test_a_stopped_api_shows_a_banner_that_counts_and_greys_the_data(
    own_api: ApiDeployment, console: OpenConsole, locale: str, size: str
) -> None:
    """Stopping the API process puts a banner across the page whose "last update" time counts
    up, and greys the data; a restart takes both away."""
    alert = own_api.raise_alert(subject="wl-sluice", kind="level", severity="yellow",
                                message="闸口水位接近警戒线")  # fmt: skip
    width, height = SIZES[size]
    c = console(api=own_api, locale=locale, width=width, height=height)
    c.open()
    c.login("op")
    expect(c.feed_item(alert.id)).to_be_visible()
    banner = c.by("link-banner")
    expect(banner).to_be_hidden()
    expect(c.page.locator("body")).not_to_have_class(DOWN)

    own_api.stop(grace_s=1)
    expect(banner).to_be_visible()
    expect(banner).to_contain_text(
        "连接已断开" if locale == "zh-CN" else "Connection to the server lost"
    )
    expect(c.page.locator("body")).to_have_class(DOWN)
    expect(c.by("live-indicator")).to_have_attribute("data-status", "reconnecting")
    since = c.by("link-banner-since")
    first = since_s(since.inner_text())
    expect(since).not_to_have_text(since.inner_text())  # it counts up, second by second
    assert since_s(since.inner_text()) > first
    grey = c.page.evaluate("getComputedStyle(document.getElementById('overview')).filter")
    assert "grayscale" in grey
    c.shot(f"01-{size}-{locale}-lost")

    own_api.start()
    expect(c.by("live-indicator")).to_have_attribute("data-status", "live")
    expect(banner).to_be_hidden()
    expect(c.page.locator("body")).not_to_have_class(DOWN)
    c.shot(f"02-{size}-{locale}-back")


@pytest.mark.parametrize(("locale", "size"), [("zh-CN", "wall"), ("en", "desktop")])
def test_a_stalled_stream_is_called_stale_before_it_is_given_up(
    own_api: ApiDeployment, console: OpenConsole, locale: str, size: str
) -> None:
    """A stream that stays open but brings nothing (the API frozen: no keepalive for 20 s) is
    shown as stalled with the banner; the first byte after it brings the page back."""
    width, height = SIZES[size]
    c = console(api=own_api, locale=locale, width=width, height=height)
    c.page.clock.install()  # to skip the 20 s of silence instead of waiting them
    c.open()
    c.login("op")
    assert own_api.proc is not None
    own_api.proc.send_signal(signal.SIGSTOP)
    try:
        c.page.clock.fast_forward("00:25")
        expect(c.by("live-indicator")).to_have_attribute("data-status", "stale")
        banner = c.by("link-banner")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("实时推送已停滞" if locale == "zh-CN" else "stalled")
        assert since_s(c.by("link-banner-since").inner_text()) >= 20
        expect(c.page.locator("body")).to_have_class(DOWN)
        c.shot(f"01-{size}-{locale}-stalled")
    finally:
        own_api.proc.send_signal(signal.SIGCONT)
    # the frozen API wakes: the alert raised meanwhile arrives on the same connection
    alert = own_api.raise_alert(subject="sos-school", kind="sos", detector="call_button",
                                severity="red", message="小学门口一键报警被按下")  # fmt: skip
    expect(c.feed_item(alert.id)).to_be_visible()
    expect(c.by("live-indicator")).to_have_attribute("data-status", "live")
    expect(banner).to_be_hidden()
    expect(c.page.locator("body")).not_to_have_class(DOWN)
    c.shot(f"02-{size}-{locale}-live-again")


def test_a_clock_set_forward_does_not_make_a_live_link_look_stale(
    api: ApiDeployment, console: OpenConsole
) -> None:
    """Staleness is measured on the page's monotonic clock: the computer's clock jumping an
    hour ahead (a careless operator, an NTP step) raises no banner while keepalives arrive."""
    c = console(locale="en")
    c.page.clock.install()
    c.open()
    c.login("op")
    c.page.clock.set_system_time(c.page.evaluate("Date.now()") + 3_600_000)
    c.page.wait_for_timeout(2500)  # two turns of the once-a-second staleness check
    expect(c.by("live-indicator")).to_have_attribute("data-status", "live")
    expect(c.by("link-banner")).to_be_hidden()
