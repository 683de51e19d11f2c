"""Alerts in the console: the live feed, the detail panel, acting on an alert, roles, links."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from tests.api_deployment import ApiDeployment
from villagewatch.alerts.lifecycle import AlertState

from .conftest import OpenConsole

SESSION_TOKEN = "JSON.parse(sessionStorage.getItem('villagewatch.session')).token"


def test_operator_acknowledges_an_alert_that_arrived_live(
    api: ApiDeployment, console: OpenConsole
) -> None:
    """An alert raised while the console is open appears in the feed without a reload (with
    the alarm sound); acknowledging it with a note turns the state badge to acknowledged in
    the detail and in the feed, and the note shows."""
    c = console()
    c.open()
    c.login("op")
    c.shot("01-logged-in")

    alert = api.raise_alert(
        subject="wl-bridge", kind="level", severity="red",
        message="石桥水位 215 cm 超过红色警戒线 200 cm",
    )  # fmt: skip
    item = c.feed_item(alert.id)
    expect(item).to_have_attribute("data-state", "firing")
    expect(item).to_have_attribute("data-severity", "red")
    expect(item).to_contain_text("石桥水位 215 cm")
    expect(c.by("sound-toggle")).to_have_attribute("data-rings", "1")
    c.shot("02-live-alert")

    c.open_alert(alert.id)
    expect(c.by("detail-state")).to_have_attribute("data-state", "firing")
    expect(c.by("chart")).to_be_visible()
    expect(c.by("ack-button")).to_be_enabled()
    c.by("note-input").fill("已通知网格员老王到场查看")
    c.by("ack-button").click()

    expect(c.by("detail-state")).to_have_attribute("data-state", "acknowledged")
    expect(c.by("detail-state")).to_have_text("已确认")
    expect(item).to_have_attribute("data-state", "acknowledged")
    expect(item.get_by_test_id("feed-state")).to_have_text("已确认")
    expect(c.by("notes-list")).to_contain_text("已通知网格员老王到场查看")
    expect(c.by("ack-button")).to_be_disabled()
    c.shot("03-acknowledged")
    stored = api.alerts.get(alert.id)
    assert stored is not None
    assert stored.state is AlertState.ACKNOWLEDGED and stored.acknowledged_by == "op"


def test_viewer_sees_alerts_but_cannot_act_on_them(
    api: ApiDeployment, console: OpenConsole
) -> None:
    """A viewer sees the alert and its detail with no enabled action button, and the API
    refuses the viewer's own token with 403."""
    alert = api.raise_alert(
        subject="sos-square", kind="sos", detector="call_button", severity="orange",
        message="文化广场一键报警被按下",
    )  # fmt: skip
    c = console()
    c.open()
    c.login("viewer")
    expect(c.by("user-info")).to_have_attribute("data-role", "viewer")
    expect(c.feed_item(alert.id)).to_contain_text("文化广场一键报警被按下")
    c.open_alert(alert.id)
    expect(c.by("readonly-note")).to_be_visible()
    for action in ("ack-button", "resolve-button", "assign-button"):
        expect(c.page.locator(f'[data-testid="{action}"]:enabled')).to_have_count(0)
    c.shot("01-read-only-detail")

    token = c.page.evaluate(SESSION_TOKEN)
    reply = c.page.request.post(
        f"{api.base}/api/alerts/{alert.id}/acknowledge",
        data={"note": "viewer tries"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert reply.status == 403
    assert "operator" in reply.json()["detail"]
    stored = api.alerts.get(alert.id)
    assert stored is not None and stored.state is AlertState.FIRING


def test_evidence_picture_shows_in_the_detail(api: ApiDeployment, console: OpenConsole) -> None:
    """The camera's picture shows (a decoded image) when it has arrived; "no picture yet"
    when the alert names one that has not."""
    api.add_evidence("cam-bridge", "ev-1")
    with_picture = api.raise_alert(
        subject="cam-bridge", kind="intrusion", detector="camera", severity="orange",
        message="石桥摄像头 禁区有人", details={"evidence": "ev-1"},
    )  # fmt: skip
    without = api.raise_alert(
        subject="cam-market", kind="crowd", detector="camera", severity="yellow",
        message="集市路口人员聚集", details={"evidence": "ev-not-sent"},
    )  # fmt: skip
    c = console()
    c.open()
    c.login("op")

    c.open_alert(with_picture.id)
    picture = c.by("evidence-img")
    expect(picture).to_be_visible()
    c.page.wait_for_function(
        "() => document.querySelector('[data-testid=evidence-img]')?.naturalWidth > 0"
    )
    assert picture.evaluate("img => img.naturalWidth") == 8  # TINY_JPEG is 8 by 8
    c.shot("01-evidence")

    c.open_alert(without.id)
    expect(c.by("evidence-missing")).to_have_text("暂无图片")
    expect(c.by("evidence-img")).to_have_count(0)


def test_alert_link_opens_that_alert_after_login_on_a_phone(
    api: ApiDeployment, console: OpenConsole
) -> None:
    """/console/#alert/<id> on a phone-sized screen: log in, and the alert's detail opens,
    filling the screen's width."""
    alert = api.raise_alert(
        subject="sos-school", kind="sos", detector="call_button", severity="red",
        message="小学门口一键报警被按下",
    )  # fmt: skip
    c = console(width=390, height=844)
    c.open(f"/console/#alert/{alert.id}")
    c.shot("01-login")
    c.login("op")
    detail = c.by("alert-detail")
    expect(detail).to_be_visible()
    expect(c.by("detail-message")).to_have_text("小学门口一键报警被按下")
    box = detail.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    c.shot("02-alert")
    c.by("detail-close").click()
    expect(detail).to_be_hidden()
    expect(c.feed_item(alert.id)).to_be_visible()
    c.shot("03-feed")


def test_expired_session_goes_back_to_the_login_form(
    api: ApiDeployment, console: OpenConsole
) -> None:
    """When the token stops working the next call shows the login form, saying why; logging
    in again brings the console back."""
    c = console()
    c.open()
    c.login("op")
    token = c.page.evaluate(SESSION_TOKEN)
    logout = httpx.post(f"{api.base}/api/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert logout.status_code == 204
    c.by("feed-filter").select_option("all")  # makes a call with the dead token
    expect(c.by("login-form")).to_be_visible()
    expect(c.by("login-error")).to_contain_text("登录已过期")
    c.shot("01-expired")
    c.login("op")
    expect(c.by("feed")).to_be_visible()


def test_operator_assigns_and_resolves_and_sees_a_refusal_explained(
    api: ApiDeployment, console: OpenConsole
) -> None:
    """A refused action shows the server's reason; assigning shows the assignee in the detail
    and the feed; resolving with a note closes the alert, which then leaves the open feed."""
    alert = api.raise_alert(
        subject="sos-elder-home", kind="sos", detector="call_button", severity="orange",
        message="居家养老中心一键报警被按下",
    )  # fmt: skip
    c = console()
    c.open()
    c.login("op")
    c.open_alert(alert.id)

    c.by("assign-input").fill("Lao Wang")  # not a user name the API accepts
    c.by("assign-button").click()
    expect(c.by("action-message")).to_contain_text("操作被拒绝")
    expect(c.by("action-message")).to_contain_text("pattern")
    expect(c.by("detail-state")).to_have_attribute("data-state", "firing")
    c.shot("01-refused")

    c.by("assign-input").fill("wang")
    c.by("assign-button").click()
    expect(c.by("alert-detail").locator(".d-meta")).to_contain_text("wang")
    expect(c.feed_item(alert.id)).to_contain_text("→ wang")

    c.by("note-input").fill("家属已到场, 误按")
    c.by("resolve-reason").select_option("false_alarm")
    c.by("resolve-button").click()
    expect(c.by("detail-state")).to_have_attribute("data-state", "resolved")
    expect(c.by("notes-list")).to_contain_text("家属已到场, 误按")
    expect(c.by("resolve-button")).to_be_disabled()
    expect(c.feed_item(alert.id)).to_have_count(0)  # the feed shows open alerts
    c.shot("02-resolved")
    c.by("feed-filter").select_option("all")
    expect(c.feed_item(alert.id)).to_have_attribute("data-state", "resolved")
    stored = api.alerts.get(alert.id)
    assert stored is not None
    assert stored.state is AlertState.RESOLVED and stored.assignee == "wang"
