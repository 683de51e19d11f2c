"""The live feed's link: when the API goes away the console says so, reconnects when it is
back, and catches up on what changed meanwhile (Last-Event-ID)."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.api_deployment import ApiDeployment

from .conftest import OpenConsole


def test_feed_reconnects_after_an_api_restart_and_catches_up(
    own_api: ApiDeployment, console: OpenConsole
) -> None:
    """Stopping the API turns the indicator to reconnecting; after a restart it is live again
    and an alert raised while the API was down is in the feed, without a reload."""
    before = own_api.raise_alert(subject="wl-sluice", kind="level", severity="yellow",
                                 message="闸口水位接近警戒线")  # fmt: skip
    c = console(api=own_api)
    c.open()
    c.login("op")
    expect(c.feed_item(before.id)).to_be_visible()

    # With a console's stream open, SIGTERM alone does not stop the API (uvicorn waits for the
    # stream to end, and it never does), so this ends in a kill after a short grace.
    own_api.stop(grace_s=1)
    expect(c.by("live-indicator")).to_have_attribute("data-status", "reconnecting")
    c.shot("01-reconnecting")
    during = own_api.raise_alert(subject="sos-school", kind="sos", detector="call_button",
                                 severity="red", message="小学门口一键报警被按下")  # fmt: skip
    own_api.start()

    expect(c.by("live-indicator")).to_have_attribute("data-status", "live")
    expect(c.feed_item(during.id)).to_have_attribute("data-state", "firing")
    expect(c.feed_item(before.id)).to_be_visible()
    c.shot("02-caught-up")
