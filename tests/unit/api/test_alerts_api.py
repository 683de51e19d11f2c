"""Alerts through the API: filters, place scoping, one-click actions, audit, silences."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.unit.api.conftest import PASSWORD, Client, now_ms, write_deployment
from tests.unit.db.sqlite_writer import BOUND_S, SlowNotifier, within_bound, write_lock_held
from villagewatch.alerts import AlertDatabase
from villagewatch.alerts.lifecycle import Alert
from villagewatch.api.context import ApiContext, open_context
from villagewatch.api.users import UserRole
from villagewatch.config import load_deployment
from villagewatch.errors import StoreUnavailable
from villagewatch_dev.testing import TINY_JPEG, MemoryStore, fire_alert


def _fire(ctx: ApiContext, subject: str, severity: str = "orange", **kw: object) -> Alert:
    return fire_alert(
        ctx.alerts, village="dongcun", subject=subject, kind=str(kw.pop("kind", "level")),
        severity=severity, message=f"{subject} {severity}", **kw,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.fixture
def three(ctx: ApiContext) -> list[Alert]:
    """A red flood at the bridge (grid g1-bridge), an orange lock alert in g3-a, a yellow one."""
    return [
        _fire(ctx, "wl-bridge", "red"),
        _fire(ctx, "lock-a01", "orange", kind="forced_open", detector="smart_lock"),
        _fire(ctx, "rain-north", "yellow", kind="rain", detector="rain"),
    ]


def test_list_newest_first_with_filters(ctx: ApiContext, three: list[Alert]) -> None:
    viewer = Client(ctx).as_("viewer")
    ids = [a["id"] for a in viewer.get("/api/alerts").json()]
    assert ids == [a.id for a in reversed(three)]
    red = viewer.get("/api/alerts", params={"severity": "red"}).json()
    assert [a["subject"] for a in red] == ["wl-bridge"]
    assert red[0]["place"] == "grid:dongcun/g1-bridge" and red[0]["place_name"] == "石桥微网格"
    g1 = viewer.get("/api/alerts", params={"place": "grid:dongcun/g1"}).json()
    assert {a["subject"] for a in g1} == {"wl-bridge", "rain-north"}
    kinds = viewer.get("/api/alerts", params=[("kind", "rain"), ("kind", "forced_open")]).json()
    assert {a["kind"] for a in kinds} == {"rain", "forced_open"}
    page = viewer.get("/api/alerts", params={"limit": 1, "before_id": three[2].id}).json()
    assert [a["id"] for a in page] == [three[1].id]
    assert viewer.get("/api/alerts", params={"until": "2000-01-01T00:00:00Z"}).json() == []


@pytest.mark.parametrize(
    ("params", "says"),
    [
        pytest.param({"place": "village:nowhere"}, "no place", id="unknown-place"),
        pytest.param({"severity": "purple"}, "severity", id="bad-severity"),
        pytest.param({"since": "2026-11-18T08:00:00"}, "UTC offset", id="naive-time"),
        pytest.param({"limit": 0}, "greater than or equal", id="zero-limit"),
    ],
)
def test_bad_filters_say_what_is_wrong(
    ctx: ApiContext, params: dict[str, object], says: str
) -> None:
    reply = Client(ctx).as_("viewer").get("/api/alerts", params=params)
    assert reply.status_code == 422 and says in reply.text


def test_a_grid_leader_sees_and_handles_only_their_grid(
    ctx: ApiContext, three: list[Alert]
) -> None:
    leader = Client(ctx).as_("g1-leader")
    assert {a["subject"] for a in leader.get("/api/alerts").json()} == {"wl-bridge", "rain-north"}
    lock = three[1].id
    assert leader.get(f"/api/alerts/{lock}").status_code == 404
    assert leader.post(f"/api/alerts/{lock}/acknowledge", json={}).status_code == 404
    assert ctx.alerts.get(lock) is not None and ctx.alerts.get(lock).state.value == "firing"  # type: ignore[union-attr]
    # a place filter cannot widen the scope
    assert leader.get("/api/alerts", params={"place": "grid:dongcun/g3"}).json() == []


def test_acknowledge_assign_comment_resolve_with_audit(ctx: ApiContext, three: list[Alert]) -> None:
    op = Client(ctx).as_("op")
    aid = three[0].id
    acked = op.post(f"/api/alerts/{aid}/acknowledge", json={"note": "on my way"}).json()
    assert acked["state"] == "acknowledged" and acked["acknowledged_by"] == "op"
    again = op.post(f"/api/alerts/{aid}/acknowledge", json={})
    assert again.status_code == 200 and again.json()["acknowledged"] == acked["acknowledged"]
    assert (
        op.post(f"/api/alerts/{aid}/assign", json={"assignee": "g1-leader"}).json()["assignee"]
        == "g1-leader"
    )
    assert (
        op.post(f"/api/alerts/{aid}/comment", json={"text": "sandbags placed"}).status_code == 200
    )
    done = op.post(
        f"/api/alerts/{aid}/resolve", json={"note": "water down", "reason": "handled_on_site"}
    ).json()
    assert done["state"] == "resolved" and done["resolved_by"] == "op"
    refused = op.post(f"/api/alerts/{aid}/acknowledge", json={})
    assert refused.status_code == 409 and "resolved" in refused.json()["detail"]

    detail = op.get(f"/api/alerts/{aid}").json()
    assert [e["action"] for e in detail["audit"]][-4:] == [
        "acknowledged",
        "assigned",
        "noted",
        "resolved",
    ]
    assert [n["text"] for n in detail["notes"]] == ["on my way", "sandbags placed", "water down"]
    assert detail["chart"] == {"village": "dongcun", "device": "wl-bridge", "metric": "level_cm"}
    actions = [(r.user, r.action, r.target) for r in reversed(ctx.users.audit_log())]
    assert [a for a in actions if a[1] != "login"] == [
        ("op", verb, f"alert:{aid}")
        for verb in ("acknowledge", "acknowledge", "assign", "comment", "resolve")
    ]


@pytest.mark.parametrize(
    ("path", "body", "says"),
    [
        pytest.param("comment", {"text": ""}, "at least 1", id="empty-comment"),
        pytest.param("comment", {"text": "x" * 2001}, "at most 2000", id="long-comment"),
        pytest.param("assign", {"assignee": "../etc"}, "assignee", id="bad-assignee"),
        pytest.param("acknowledge", {"note": "x", "extra": 1}, "extra", id="unknown-field"),
    ],
)
def test_bad_action_bodies_are_refused(
    ctx: ApiContext, three: list[Alert], path: str, body: dict[str, object], says: str
) -> None:
    reply = Client(ctx).as_("op").post(f"/api/alerts/{three[0].id}/{path}", json=body)
    assert reply.status_code == 422 and says in reply.text.lower()


def test_evidence_picture_is_served_from_the_evidence_folder(ctx: ApiContext) -> None:
    alert = _fire(ctx, "cam-market:road", kind="street_vending", detector="camera",
                  details={"evidence": "ev-42"})  # fmt: skip
    viewer = Client(ctx).as_("viewer")
    body = viewer.get("/api/alerts").json()[0]
    assert body["evidence"] == f"/api/alerts/{alert.id}/evidence"
    missing = viewer.get(body["evidence"])
    assert missing.status_code == 404 and "not arrived" in missing.json()["detail"]
    folder = ctx.deployment.settings.ingest.evidence_dir / "dongcun" / "cam-market"
    folder.mkdir(parents=True)
    (folder / "ev-42.jpg").write_bytes(TINY_JPEG)
    got = viewer.get(body["evidence"])
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    assert got.content == TINY_JPEG


def test_evidence_id_from_a_detail_cannot_escape_the_folder(ctx: ApiContext) -> None:
    alert = _fire(ctx, "cam-market:road", kind="street_vending", detector="camera",
                  details={"evidence": "../../api/api.db"})  # fmt: skip
    assert Client(ctx).as_("viewer").get(f"/api/alerts/{alert.id}/evidence").status_code == 404


def test_silence_needs_the_whole_village(ctx: ApiContext) -> None:
    body = {"village": "dongcun", "kind": "level", "duration_s": 3600, "reason": "sluice works"}
    leader = Client(ctx).as_("g1-leader").post("/api/silences", json=body)
    assert leader.status_code == 403
    made = Client(ctx).as_("op").post("/api/silences", json=body)
    assert made.status_code == 200, made.text
    assert made.json()["matchers"] == {"village": "dongcun", "kind": "level"}
    assert ctx.users.audit_log(limit=1)[0].action == "silence"


def test_a_store_that_is_unavailable_answers_503_from_any_route(
    ctx: ApiContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    def busy(**_: object) -> list[Alert]:
        raise StoreUnavailable("alert store busy or unreadable: database is locked")

    monkeypatch.setattr(ctx.alerts, "search", busy)
    reply = Client(ctx).as_("viewer").get("/api/alerts")
    assert reply.status_code == 503
    assert reply.json()["detail"] == (
        "store unavailable: alert store busy or unreadable: database is locked"
    )


def test_the_alert_list_answers_while_a_slow_write_is_under_way(
    ctx: ApiContext, three: list[Alert]
) -> None:
    """An alert change that takes long (held inside its transaction) does not hold up the
    console: the list and an alert's detail answer at once, from the last commit."""
    notifier = SlowNotifier()
    opened = ctx.alerts
    ctx.alerts = AlertDatabase(ctx.deployment.settings.alerts.state_path, notifier=notifier)
    viewer = Client(ctx).as_("viewer")
    pool = ThreadPoolExecutor(1)
    try:
        writing = pool.submit(_fire, ctx, "wl-east")
        assert notifier.entered.wait(BOUND_S)
        listed = within_bound(lambda: viewer.get("/api/alerts"))
        detail = within_bound(lambda: viewer.get(f"/api/alerts/{three[0].id}"))
        assert not writing.done()
    finally:
        notifier.release.set()
        pool.shutdown(wait=True)
        opened.close()
    assert listed.status_code == 200
    assert [a["id"] for a in listed.json()] == [a.id for a in reversed(three)]
    assert detail.status_code == 200 and detail.json()["alert"]["subject"] == "wl-bridge"
    assert viewer.get("/api/alerts").json()[0]["id"] == writing.result().id


def test_a_change_that_waits_past_the_busy_timeout_is_503_and_counted(tmp_path: Path) -> None:
    """Another process holds the alert store's write lock: the list still answers, an
    acknowledgement gives up after ``api.sqlite_busy_timeout_s`` with 503, /metrics counts it."""
    settings = write_deployment(tmp_path)
    text = settings.read_text(encoding="utf-8")
    settings.write_text(text.replace("live_poll_s: 0.05", "live_poll_s: 0.05, "
                                     "sqlite_busy_timeout_s: 0.2"), encoding="utf-8")  # fmt: skip
    ctx = open_context(load_deployment(settings), MemoryStore())
    try:
        ctx.users.add("op", PASSWORD, UserRole.OPERATOR, ["*"], now_ms())
        alert = _fire(ctx, "wl-bridge")
        op = Client(ctx).as_("op")
        with write_lock_held(ctx.deployment.settings.alerts.state_path):
            listed = within_bound(lambda: op.get("/api/alerts"))
            refused = within_bound(lambda: op.post(f"/api/alerts/{alert.id}/acknowledge", json={}))
        assert listed.status_code == 200 and [a["id"] for a in listed.json()] == [alert.id]
        assert refused.status_code == 503 and "busy" in refused.json()["detail"]
        metrics = Client(ctx).get("/metrics").text
        assert 'villagewatch_sqlite_busy_total{access="write",database="alerts"}' in metrics
        assert op.post(f"/api/alerts/{alert.id}/acknowledge", json={}).status_code == 200
    finally:
        ctx.close()


@pytest.mark.parametrize("at_ms", [2**53, -(2**53)], ids=["far-future", "far-past"])
def test_an_alert_with_a_time_beyond_the_calendar_is_still_listed(
    ctx: ApiContext, three: list[Alert], at_ms: int
) -> None:
    """A device clock gone wild reached an alert's start time: the list and the alert still
    answer (the time shown as the calendar's first or last moment), for every alert."""
    wild = _fire(ctx, "wl-sluice", at_ms=at_ms)
    viewer = Client(ctx).as_("viewer")
    listed = viewer.get("/api/alerts")
    assert listed.status_code == 200
    assert [a["id"] for a in listed.json()] == [wild.id, *(a.id for a in reversed(three))]
    started = listed.json()[0]["started"]
    assert started.startswith("9999-12-31" if at_ms > 0 else "0001-01-01")
    assert viewer.get(f"/api/alerts/{wild.id}").status_code == 200
