"""Silences through the API: a recurring maintenance window made, listed with its next window
in local time, refused in words when it cannot be, ended; only for the user's own places."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.unit.api.conftest import Client, now_ms
from villagewatch.api.context import ApiContext

SLUICE = {
    "village": "dongcun", "subject": "wl-bridge", "duration_s": 7200,
    "reason": "sluice gauge maintenance", "repeat": {"days": ["tue"], "at": "09:00"},
}  # fmt: skip


def test_a_weekly_window_is_made_and_listed_with_its_next_window_in_local_time(
    ctx: ApiContext,
) -> None:
    made = Client(ctx).as_("op").post("/api/silences", json=SLUICE)
    assert made.status_code == 200, made.text
    body = made.json()
    assert body["matchers"] == {"village": "dongcun", "subject": "wl-bridge"}
    assert body["repeat"]["text"] == "Tuesday 09:00 for 2 h (Asia/Shanghai)"
    assert body["ends"] is None and body["ended_by"] is None
    starts = datetime.fromisoformat(body["next_starts"])
    ends = datetime.fromisoformat(body["next_ends"])
    assert starts.strftime("%a %H:%M %z") == "Tue 09:00 +0800"
    assert (ends - starts).total_seconds() == 7200
    assert body["in_force"] == (starts.timestamp() * 1000 <= now_ms())
    assert ctx.users.audit_log(limit=1)[0].action == "silence"

    listed = Client(ctx).as_("g3-viewer").get("/api/silences")  # sees a part of dongcun
    assert listed.status_code == 200
    assert [(s["id"], s["next_starts"]) for s in listed.json()] == [
        (body["id"], body["next_starts"])
    ]


def test_a_one_off_silence_is_listed_with_its_window(ctx: ApiContext) -> None:
    once = {k: v for k, v in SLUICE.items() if k != "repeat"}
    made = Client(ctx).as_("op").post("/api/silences", json=once).json()
    assert made["repeat"] is None and made["in_force"] is True
    assert made["next_ends"] == made["ends"]
    assert [s["id"] for s in Client(ctx).as_("viewer").get("/api/silences").json()] == [made["id"]]


@pytest.mark.parametrize(
    ("repeat", "duration_s", "message"),
    [
        ({"days": ["tuesdy"], "at": "09:00"}, 3600, "'tuesdy' is not a day of the week"),
        ({"days": ["daily"], "at": "09:00"}, 86400, "a window of 24 h does not fit"),
        ({"days": ["tue"], "at": "9am"}, 3600, "start time '9am' is not HH:MM"),
    ],
    ids=["a-day-that-does-not-exist", "longer-than-its-period", "a-time-not-hh-mm"],
)
def test_a_repeat_that_cannot_be_is_refused_in_words(
    ctx: ApiContext, repeat: dict[str, object], duration_s: int, message: str
) -> None:
    body = {**SLUICE, "repeat": repeat, "duration_s": duration_s}
    refused = Client(ctx).as_("op").post("/api/silences", json=body)
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith("repeat: ") and message in refused.json()["detail"]
    assert ctx.alerts.silences(now_ms()) == []


def test_a_repeat_that_ended_before_it_began_is_refused(ctx: ApiContext) -> None:
    body = {**SLUICE, "repeat": {"days": ["tue"], "at": "09:00", "until": "2020-01-01"}}
    refused = Client(ctx).as_("op").post("/api/silences", json=body)
    assert refused.status_code == 409 and "would never be in force" in refused.json()["detail"]


def test_only_the_villages_own_people_make_or_end_one(ctx: ApiContext) -> None:
    assert Client(ctx).as_("g1-leader").post("/api/silences", json=SLUICE).status_code == 403
    made = Client(ctx).as_("maint").post("/api/silences", json=SLUICE).json()
    end = f"/api/silences/{made['id']}/end"
    leader = Client(ctx).as_("g1-leader").post(end)
    assert leader.status_code == 403 and "not all yours" in leader.json()["detail"]
    ended = Client(ctx).as_("op").post(end)
    assert ended.status_code == 200, ended.text
    assert ended.json()["ended_by"] == "op" and ended.json()["next_starts"] is None
    assert Client(ctx).as_("op").post(end).status_code == 409  # already over
    assert Client(ctx).as_("op").post("/api/silences/999/end").status_code == 404
    assert Client(ctx).as_("viewer").get("/api/silences").json() == []
    assert ctx.users.audit_log(limit=1)[0].action == "silence_end"


def test_a_silence_of_no_village_is_seen_and_ended_only_by_who_sees_everything(
    ctx: ApiContext,
) -> None:
    """One made from a terminal for a device anywhere (no village) is the whole deployment's."""
    now = now_ms()
    s = ctx.alerts.add_silence(
        {"subject": "wl-bridge"}, now, now + 3_600_000, created_by="li", reason="x", now_ms=now
    )
    assert Client(ctx).as_("g3-viewer").get("/api/silences").json() == []
    assert Client(ctx).as_("g1-leader").post(f"/api/silences/{s.id}/end").status_code == 404
    assert [x["id"] for x in Client(ctx).as_("viewer").get("/api/silences").json()] == [s.id]
    assert Client(ctx).as_("op").post(f"/api/silences/{s.id}/end").status_code == 200
