"""Issue 18, points 1, 2 and 11 in the console, at desktop, wall and phone size in Chinese and
English: the feed keeps an unacknowledged red on top and filters by severity, kind and place
(without overflowing a phone); resolving needs a reason, a note for a red alert and a
confirmation; labelled count chips, dates with times, "Acknowledged", disabled buttons that
look disabled, the responsible team with its phone, and the demo's rental houses."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.api_deployment import ApiDeployment, running_api
from villagewatch.alerts.resolution import ResolutionReason
from villagewatch.demo.registry import DEMO_HOUSES, seed_demo_registry

from .conftest import OpenConsole
from .pages import ConsolePage

_HANDLED = ResolutionReason.HANDLED_ON_SITE
VIEWS = [
    pytest.param(name, width, height, locale, id=f"{name}-{locale}")
    for locale in ("zh-CN", "en")
    for name, width, height in (("desktop", 1440, 900), ("wall", 1920, 1080), ("phone", 390, 844))
]
TEXT = {
    "zh-CN": {
        "red": "红色", "needreason": "请先选择关闭原因", "neednote": "红色告警须填写处置说明",
        "required": "必填", "kept": "未关闭", "resolved": "已关闭\uff08已现场处置\uff09",
        "reason": "已现场处置", "acked": "已确认", "date": r"\d{1,2}月\d{1,2}日 \d{2}:\d{2}",
    },
    "en": {
        "red": "Red", "needreason": "Choose a reason for closing first",
        "neednote": "A red alert needs a note", "required": "required",
        "kept": "Not closed", "resolved": "Resolved (Handled on site)", "reason": "Handled on site",
        "acked": "Acknowledged", "date": r"[A-Z][a-z]{2} \d{1,2}, \d{2}:\d{2}",
    },
}  # fmt: skip


def _open(console: OpenConsole, width: int, height: int, locale: str, **kw: object) -> ConsolePage:
    c = console(locale=locale, width=width, height=height, **kw)  # type: ignore[arg-type]
    c.open()
    c.login("op")
    return c


def _order(c: ConsolePage) -> list[int]:
    ids: list[int] = c.page.locator('[data-testid="feed-item"]').evaluate_all(
        "els => els.map((e) => Number(e.dataset.alertId))"
    )
    return ids


@pytest.mark.parametrize(("view", "width", "height", "locale"), VIEWS)
def test_an_unacknowledged_red_stays_on_top_and_the_feed_filters_fit_the_screen(
    api: ApiDeployment, console: OpenConsole, view: str, width: int, height: int, locale: str
) -> None:
    """A yellow parking alert arriving after a firing red SOS lands below it; the severity,
    state, kind and place filters and the "newest first" sort work; on a phone nothing is
    wider than the screen."""
    tag = f"{view}-{locale}".lower()
    c = _open(console, width, height, locale)
    red = api.raise_alert(subject=f"sos-school:{tag}", kind="sos", detector="call_button",
                          severity="red", message=f"小学门口一键报警 {tag}")  # fmt: skip
    expect(c.feed_item(red.id)).to_be_visible()
    yellow = api.raise_alert(subject=f"cam-market:{tag}", kind="parking", detector="parking",
                             severity="yellow", message=f"集市路口违停 {tag}")  # fmt: skip
    expect(c.feed_item(yellow.id)).to_be_visible()
    order = _order(c)
    assert order.index(red.id) < order.index(yellow.id), "the firing red stays above"
    assert order[0] != yellow.id
    expect(c.feed_item(red.id)).to_have_class(re.compile(r"\bpinned\b"))
    expect(c.by("count-red")).to_contain_text(TEXT[locale]["red"])
    c.shot("1-01-red-on-top")

    c.by("feed-severity").select_option("yellow")
    expect(c.feed_item(red.id)).to_have_count(0)
    expect(c.feed_item(yellow.id)).to_be_visible()
    c.by("feed-severity").select_option("")
    c.by("feed-state-filter").select_option("acknowledged")
    expect(c.feed_item(red.id)).to_have_count(0)
    expect(c.feed_item(yellow.id)).to_have_count(0)
    c.by("feed-state-filter").select_option("firing")
    expect(c.feed_item(yellow.id)).to_be_visible()
    c.by("feed-state-filter").select_option("")
    c.by("feed-kind").select_option("sos")
    expect(c.feed_item(yellow.id)).to_have_count(0)
    expect(c.feed_item(red.id)).to_be_visible()
    c.by("feed-kind").select_option("")
    c.by("feed-place").select_option("grid:dongcun/g2")  # the market, not the school (g1)
    expect(c.feed_item(red.id)).to_have_count(0)
    expect(c.feed_item(yellow.id)).to_be_visible()
    c.by("feed-place").select_option("village:dongcun")  # a village holds all its grids
    expect(c.feed_item(red.id)).to_be_visible()
    c.by("feed-sort").select_option("newest")
    expect(c.feed_item(red.id)).to_be_visible()
    order = _order(c)
    assert order.index(yellow.id) < order.index(red.id)
    c.by("feed-filters").scroll_into_view_if_needed()
    c.shot("1-02-filtered")

    wide = c.page.evaluate("document.documentElement.scrollWidth")
    assert wide <= width, f"the page is {wide} px wide on a {width} px screen"
    box = c.by("feed-filters").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
    for part in ("feed-sort", "feed-severity", "feed-state-filter", "feed-kind", "feed-place"):
        part_box = c.by(part).bounding_box()
        assert part_box is not None and part_box["x"] + part_box["width"] <= width, part
    api.alerts.resolve(red.id, "op", int(time.time() * 1000), "test over", _HANDLED)
    api.alerts.resolve(yellow.id, "op", int(time.time() * 1000), "", _HANDLED)


@pytest.mark.parametrize(("view", "width", "height", "locale"), VIEWS)
def test_resolving_a_red_sos_needs_a_reason_a_note_and_a_confirmation(
    api: ApiDeployment, console: OpenConsole, view: str, width: int, height: int, locale: str
) -> None:
    """One click no longer closes a red SOS: the reason, then a note are asked for; the
    confirmation can be declined; once confirmed, the reason shows in the detail and its
    history and is stored."""
    tag = f"{view}-{locale}".lower()
    text = TEXT[locale]
    alert = api.raise_alert(subject=f"sos-elder-home:{tag}", kind="sos", detector="call_button",
                            severity="red", message=f"居家养老中心一键报警 {tag}")  # fmt: skip
    c = _open(console, width, height, locale)
    c.open_alert(alert.id)

    c.by("resolve-button").click()
    expect(c.by("action-message")).to_have_text(text["needreason"])
    c.by("resolve-reason").select_option("handled_on_site")
    expect(c.by("note-label")).to_contain_text(text["required"])
    c.by("resolve-button").click()
    expect(c.by("action-message")).to_contain_text(text["neednote"])
    expect(c.by("detail-state")).to_have_attribute("data-state", "firing")
    c.shot("2-01-note-needed")

    c.by("note-input").fill("网格员已到场, 老人安好")
    c.by("resolve-button").click()
    expect(c.by("confirm-dialog")).to_be_visible()
    c.shot("2-02-confirm")
    c.by("confirm-no").click()
    expect(c.by("confirm-dialog")).to_have_count(0)
    expect(c.by("action-message")).to_contain_text(text["kept"])
    expect(c.by("detail-state")).to_have_attribute("data-state", "firing")
    assert api.alerts.get(alert.id).state.value == "firing"  # type: ignore[union-attr]

    c.by("resolve-button").click()
    c.by("confirm-yes").click()
    expect(c.by("detail-state")).to_have_attribute("data-state", "resolved")
    expect(c.by("action-message")).to_have_text(text["resolved"])
    expect(c.by("alert-detail").locator(".d-meta")).to_contain_text(text["reason"])
    expect(c.by("audit-list")).to_contain_text(text["reason"])
    expect(c.by("audit-list")).to_contain_text("网格员已到场, 老人安好")
    c.shot("2-03-resolved")
    stored = api.alerts.get(alert.id)
    assert stored is not None and (stored.resolution, stored.resolved_by) == (
        "handled_on_site", "op",
    )  # fmt: skip


@pytest.mark.parametrize(("view", "width", "height", "locale"), VIEWS)
def test_dates_wording_disabled_buttons_and_the_responsible_team(
    api: ApiDeployment, console: OpenConsole, view: str, width: int, height: int, locale: str
) -> None:
    """An alert from three days ago shows its date with its time, month first in en-US;
    acknowledging says "Acknowledged"; the spent button looks disabled; the detail names the
    grid's team with a phone to call."""
    tag = f"{view}-{locale}".lower()
    three_days_ago = int(time.time() * 1000) - 3 * 86_400_000
    alert = api.raise_alert(subject=f"sos-square:{tag}", kind="sos", detector="call_button",
                            severity="orange", message=f"文化广场一键报警 {tag}",
                            at_ms=three_days_ago)  # fmt: skip
    c = _open(console, width, height, locale)
    stamp = c.feed_item(alert.id).locator("time")
    expect(stamp).to_have_text(re.compile(f"^{TEXT[locale]['date']}$"))
    c.open_alert(alert.id)
    expect(c.by("detail-team")).to_contain_text("王网格长")
    expect(c.by("detail-team")).to_contain_text("139 0000 0002")
    expect(c.by("detail-team").locator("a[href='tel:13900000002']")).to_be_visible()
    c.by("ack-button").click()
    expect(c.by("action-message")).to_have_text(TEXT[locale]["acked"])
    expect(c.by("ack-button")).to_be_disabled()
    style = c.by("ack-button").evaluate(
        "b => [getComputedStyle(b).borderTopStyle, getComputedStyle(b).backgroundColor]"
    )
    assert style[0] == "dashed" and style[1] != "rgb(42, 102, 196)", style  # not primary blue
    c.shot("11-01-detail")
    api.alerts.resolve(alert.id, "op", int(time.time() * 1000), "test over", _HANDLED)


@pytest.fixture(scope="module")
def demo_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiDeployment]:
    """An API whose registry holds the demo's seeded houses."""
    with running_api(Path(tmp_path_factory.mktemp("demo-registry")), readings=False) as api:
        assert seed_demo_registry(api.deployment) == len(DEMO_HOUSES)
        yield api


@pytest.mark.parametrize(("view", "width", "height", "locale"), VIEWS)
def test_the_demo_registry_shows_its_rental_houses(
    demo_api: ApiDeployment, console: OpenConsole, view: str, width: int, height: int,
    locale: str,
) -> None:  # fmt: skip
    c = _open(console, width, height, locale, api=demo_api)
    c.by("nav-registry").click()
    expect(c.by("house")).to_have_count(len(DEMO_HOUSES))
    expect(c.by("registry")).to_contain_text("A 片 2 号出租房")
    c.shot("11-02-registry")
