"""The console on a 390x844 phone: nothing wider than the screen (header, feed filter, devices
as cards), and a grid leader's path from the link in a DingTalk/WeCom message — open it, log in
once, land on that alert, acknowledge it with a note in two taps."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.api_deployment import ApiDeployment

from .conftest import OpenConsole
from .pages import ConsolePage

WIDTH, HEIGHT = 390, 844

OVERFLOW = """() => {
  const wide = [];
  for (const el of document.querySelectorAll('#app *')) {
    if (el.closest('[hidden]') || !el.getClientRects().length) continue;
    const r = el.getBoundingClientRect();
    // a scrolling row (the tabs, the sort buttons) may hold more than fits: it scrolls itself
    if (!el.closest('.tabs, .devices thead') && (r.right > innerWidth + 1 || r.left < -1)) {
      wide.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className} ${Math.round(r.left)}..${Math.round(r.right)}`);
    }
  }
  return { wide: wide.slice(0, 10), page: document.scrollingElement.scrollWidth };
}"""


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_the_overview_fits_a_phone(api: ApiDeployment, console: OpenConsole, locale: str) -> None:
    """At 390 px: the header is one row of controls over a row of tabs, the feed's filter stays
    on screen, and each device is a card of labelled values with no sideways scrolling."""
    api.raise_alert(
        subject=f"wl-sluice:phone-{locale}",
        kind="level",
        severity="orange",
        message="闸口水位超过警戒线",
    )
    c = console(locale=locale, width=WIDTH, height=HEIGHT)
    c.open()
    c.login("op")
    expect(c.by("device-row").first).to_be_visible()
    found = c.page.evaluate(OVERFLOW)
    assert found["page"] <= WIDTH, found
    assert found["wide"] == [], found["wide"]
    # the controls in one row: their vertical centres within a few pixels of each other
    tops = c.page.evaluate(
        """() => [...document.querySelectorAll('.top > :not(.tabs):not([hidden])')]
              .filter((el) => el.getClientRects().length)
              .map((el) => { const r = el.getBoundingClientRect(); return Math.round(r.top + r.height / 2); })"""
    )
    assert max(tops) - min(tops) <= 8, tops
    filt = c.by("feed-filter").bounding_box()
    assert filt is not None and filt["x"] + filt["width"] <= WIDTH, filt
    row = c.by("device-row").first
    assert (
        c.page.evaluate("getComputedStyle(document.querySelector('.devices tbody tr')).display")
        == "grid"
    )
    expect(row.locator("td.latest")).to_have_attribute(
        "data-label", "最新读数" if locale == "zh-CN" else "Latest"
    )
    body = c.page.locator("#devices-body")
    assert body.evaluate("el => el.scrollWidth <= el.clientWidth"), (
        "the device list scrolls sideways"
    )
    c.shot(f"01-{locale}-overview")
    c.by("device-row").first.scroll_into_view_if_needed()
    c.shot(f"02-{locale}-device-cards")


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_a_link_from_a_message_logs_in_once_and_acknowledges_with_a_note_in_two_taps(
    api: ApiDeployment, console: OpenConsole, locale: str
) -> None:
    """The link a DingTalk/WeCom message carries (/console/#alert/<id>) asks for the login,
    then shows that alert; typing a note and one tap on Acknowledge record both."""
    alert = api.raise_alert(subject=f"sos-school:link-{locale}", kind="sos", detector="call_button",
                            severity="red", message="小学门口一键报警被按下")  # fmt: skip
    c = console(locale=locale, width=WIDTH, height=HEIGHT)
    c.open(f"/console/#alert/{alert.id}")
    c.shot(f"01-{locale}-login")
    c.login("op")
    detail = c.by("alert-detail")
    expect(detail).to_be_visible()
    expect(detail.get_by_text(f"#{alert.id}", exact=True)).to_be_visible()
    box = detail.bounding_box()
    assert box is not None and box["width"] <= WIDTH, box
    expect(c.by("ack-button")).to_be_in_viewport()
    c.shot(f"02-{locale}-alert")

    c.by("note-input").click()  # tap one: the note
    c.by("note-input").fill("已到现场 学生安全")
    c.by("ack-button").click()  # tap two: acknowledge
    expect(c.by("detail-state")).to_have_attribute("data-state", "acknowledged")
    expect(c.by("notes-list")).to_contain_text("已到现场 学生安全")
    c.shot(f"03-{locale}-acknowledged")
    assert api.alerts.get(alert.id).state == "acknowledged"  # type: ignore[union-attr]


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_staying_signed_in_on_the_phone_opens_the_next_link_without_a_login(
    api: ApiDeployment, console: OpenConsole, locale: str
) -> None:
    """A grid leader signs in once with "stay signed in on this device": the next message's
    link, opened in a new tab of the same phone browser, shows its alert at once. Without it,
    a new tab asks again; signing out forgets the device's login too."""
    first = api.raise_alert(subject=f"sos-school:remember-{locale}", kind="sos",
                            detector="call_button", severity="red", message="一键报警")  # fmt: skip
    second = api.raise_alert(subject=f"sos-square:remember-{locale}", kind="sos",
                             detector="call_button", severity="red", message="一键报警")  # fmt: skip
    c = console(locale=locale, width=WIDTH, height=HEIGHT)
    c.open(f"/console/#alert/{first.id}")
    c.by("login-remember").check()
    c.shot(f"01-{locale}-remember")
    c.login("op")
    expect(c.by("alert-detail").get_by_text(f"#{first.id}", exact=True)).to_be_visible()

    tab = ConsolePage(c.page.context.new_page(), api, f"{c.test}-tab")
    tab.open(f"/console/#alert/{second.id}")
    expect(tab.by("alert-detail").get_by_text(f"#{second.id}", exact=True)).to_be_visible()
    expect(tab.by("login-user")).to_be_hidden()
    tab.shot(f"02-{locale}-next-link")

    tab.by("detail-close").click()  # on a phone the alert covers the header
    tab.by("logout").click()
    expect(tab.by("login-user")).to_be_visible()
    again = ConsolePage(c.page.context.new_page(), api, f"{c.test}-again")
    again.open(f"/console/#alert/{second.id}")
    expect(again.by("login-user")).to_be_visible()
    assert tab.problems() == "" and again.problems() == ""


def test_without_staying_signed_in_a_new_tab_asks_for_the_login(
    api: ApiDeployment, console: OpenConsole
) -> None:
    alert = api.raise_alert(subject="sos-school:no-remember", kind="sos", detector="call_button",
                            severity="red", message="一键报警")  # fmt: skip
    c = console(width=WIDTH, height=HEIGHT)
    c.open(f"/console/#alert/{alert.id}")
    c.login("op")
    tab = ConsolePage(c.page.context.new_page(), api, f"{c.test}-tab")
    tab.open(f"/console/#alert/{alert.id}")
    expect(tab.by("login-user")).to_be_visible()
