"""Resolving through the API: a reason always, a note where the alert needs one (422 naming
what is missing), the reason in the alert and its history."""

from __future__ import annotations

import pytest

from tests.unit.api.conftest import Client
from villagewatch.api.context import ApiContext
from villagewatch_dev.testing import fire_alert


@pytest.mark.parametrize(
    ("severity", "body", "says"),
    [
        pytest.param("red", {"reason": "false_alarm"}, "needs a note saying what was done (it is red)", id="red-no-note"),
        pytest.param("yellow", {"note": "ok"}, "needs a reason (one of handled_on_site", id="no-reason"),
        pytest.param("yellow", {}, "needs a reason", id="empty-body"),
        pytest.param("yellow", {"reason": "other"}, "the reason is 'other'", id="other-no-note"),
    ],
)  # fmt: skip
def test_an_incomplete_resolve_is_422_naming_the_missing_part(
    ctx: ApiContext, severity: str, body: dict[str, str], says: str
) -> None:
    alert = fire_alert(ctx.alerts, village="dongcun", subject="sos-square", kind="sos",
                       severity=severity, detector="call_button")  # fmt: skip
    reply = Client(ctx).as_("op").post(f"/api/alerts/{alert.id}/resolve", json=body)
    assert reply.status_code == 422, reply.text
    assert says in reply.json()["detail"]
    assert ctx.alerts.get(alert.id).state.value == "firing"  # type: ignore[union-attr]


def test_an_unknown_reason_is_422_listing_the_choices(ctx: ApiContext) -> None:
    alert = fire_alert(ctx.alerts, village="dongcun", subject="sos-square", kind="sos")
    reply = (
        Client(ctx)
        .as_("op")
        .post(f"/api/alerts/{alert.id}/resolve", json={"reason": "bored", "note": "x"})
    )
    assert reply.status_code == 422 and "handled_on_site" in reply.text


def test_a_red_sos_resolved_with_reason_and_note_shows_both_in_its_history(
    ctx: ApiContext,
) -> None:
    alert = fire_alert(ctx.alerts, village="dongcun", subject="sos-square", kind="sos",
                       severity="red", detector="call_button")  # fmt: skip
    op = Client(ctx).as_("op")
    done = op.post(
        f"/api/alerts/{alert.id}/resolve",
        json={"reason": "handled_on_site", "note": "grid leader on site, elder fine"},
    )
    assert done.status_code == 200, done.text
    assert (done.json()["state"], done.json()["resolution"]) == ("resolved", "handled_on_site")
    detail = op.get(f"/api/alerts/{alert.id}").json()
    last = detail["audit"][-1]
    assert (last["action"], last["actor"]) == ("resolved", "op")
    assert last["detail"] == {
        "reason": "handled_on_site",
        "note": "grid leader on site, elder fine",
    }
    listed = op.get("/api/alerts", params={"state": "resolved"}).json()
    assert [(a["id"], a["resolution"]) for a in listed] == [(alert.id, "handled_on_site")]
