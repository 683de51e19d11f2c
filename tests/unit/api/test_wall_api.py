"""The wall's figures (/api/wall): counted in SQL over the user's places, today in the
deployment's local day, the median time to acknowledge, trends by hour and day; and the
root's redirect keeps its query (/?big=1 opens the wall)."""

from __future__ import annotations

import itertools
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from tests.unit.api.conftest import Client, now_ms
from villagewatch.alerts.lifecycle import Alert
from villagewatch.alerts.resolution import ResolutionReason
from villagewatch.api.context import ApiContext
from villagewatch.api.routes.wall import day_edges, hour_edges
from villagewatch_dev.testing import fire_alert

_H = 3_600_000


def _fire(ctx: ApiContext, subject: str, severity: str, kind: str, at_ms: int) -> Alert:
    return fire_alert(
        ctx.alerts, village="dongcun", subject=subject, kind=kind, severity=severity,
        message=f"{subject} {kind}", at_ms=at_ms,
    )  # fmt: skip


def test_open_alerts_today_median_and_trends(ctx: ApiContext) -> None:
    """Three alarms now (two acknowledged, after 60 s and 180 s: median 120 s), one resolved
    two days ago; the open list, today's figures and both trends count exactly those."""
    now = now_ms()
    red = _fire(ctx, "wl-bridge", "red", "level", now - 1000)
    orange = _fire(ctx, "lock-a01", "orange", "forced_open", now - 900)
    _fire(ctx, "rain-north", "yellow", "rain", now - 800)
    old = _fire(ctx, "sos-square", "red", "sos", now - 48 * _H)
    ctx.alerts.acknowledge(red.id, "op", red.fired_ms + 60_000)  # type: ignore[operator]
    ctx.alerts.acknowledge(orange.id, "op", orange.fired_ms + 180_000)  # type: ignore[operator]
    ctx.alerts.resolve(
        old.id, "op", now - 47 * _H, "pressed by a child", ResolutionReason.FALSE_ALARM
    )

    body = Client(ctx).as_("viewer").get("/api/wall").json()

    assert sorted((a["severity"], a["kind"], a["state"]) for a in body["open"]) == [
        ("orange", "forced_open", "acknowledged"),
        ("red", "level", "acknowledged"),
        ("yellow", "rain", "firing"),
    ]
    # (a test running just after local midnight would see the old one's day shift: not 48 h)
    assert body["today"] == {"fired": 3, "acknowledged": 2, "resolved": 0, "ack_median_s": 120.0}
    assert body["time_zone"] == "Asia/Shanghai"
    assert len(body["hourly"]) == 24 and len(body["daily"]) == 30
    assert body["hourly"][-1]["counts"] == {
        "info": 0, "blue": 0, "yellow": 1, "orange": 1, "red": 1
    }  # fmt: skip
    assert sum(sum(b["counts"].values()) for b in body["hourly"]) == 3
    assert sum(sum(b["counts"].values()) for b in body["daily"]) == 4
    assert body["daily"][-3]["counts"]["red"] == 1  # the old SOS, two local days back
    assert body["villages"] == [
        {"id": "dongcun", "name": "东村", "town": "town:qiaotou", "town_name": "桥头镇",
         "fired_today": 3},
    ]  # fmt: skip


def test_the_median_of_an_odd_count_is_the_middle_one(ctx: ApiContext) -> None:
    now = now_ms()
    for i, (subject, wait_s) in enumerate(
        (("wl-bridge", 10), ("lock-a01", 500), ("rain-north", 30))
    ):
        a = _fire(ctx, subject, "orange", f"k{i}", now - 5000)
        ctx.alerts.acknowledge(a.id, "op", now - 5000 + wait_s * 1000)
    body = Client(ctx).as_("viewer").get("/api/wall").json()
    assert body["today"]["ack_median_s"] == 30.0
    assert body["today"]["fired"] == 3


def test_a_grid_user_counts_only_their_grid(ctx: ApiContext) -> None:
    """g3-viewer sees grid g3 and under: the lock alert, not the bridge's."""
    now = now_ms()
    _fire(ctx, "wl-bridge", "red", "level", now)
    lock = _fire(ctx, "lock-a01", "orange", "forced_open", now)
    client = Client(ctx).as_("g3-viewer")
    body = client.get("/api/wall").json()
    assert [a["id"] for a in body["open"]] == [lock.id]
    assert body["today"]["fired"] == 1
    assert sum(sum(b["counts"].values()) for b in body["hourly"]) == 1
    narrowed = Client(ctx).as_("viewer").get("/api/wall", params={"place": "grid:dongcun/g1"})
    assert [a["kind"] for a in narrowed.json()["open"]] == ["level"]


def test_an_empty_store_has_zeros_and_no_median(ctx: ApiContext) -> None:
    body = Client(ctx).as_("viewer").get("/api/wall").json()
    assert body["open"] == []
    assert body["today"] == {"fired": 0, "acknowledged": 0, "resolved": 0, "ack_median_s": None}
    assert all(sum(b["counts"].values()) == 0 for b in body["daily"])


def test_bad_place_and_no_token_are_refused_in_words(ctx: ApiContext) -> None:
    bad = Client(ctx).as_("viewer").get("/api/wall", params={"place": "village:nowhere"})
    assert bad.status_code == 422
    assert "no place 'village:nowhere'" in bad.json()["detail"]
    assert Client(ctx).get("/api/wall").status_code == 401


def test_five_hundred_open_alerts_are_counted_fast(ctx: ApiContext) -> None:
    now = now_ms()
    for i in range(500):
        _fire(ctx, f"dev-{i}", ("red", "orange", "yellow", "blue")[i % 4], f"k{i % 7}", now - i)
    viewer = Client(ctx).as_("viewer")
    viewer.get("/api/wall")
    started = time.perf_counter()
    body = viewer.get("/api/wall").json()
    took = time.perf_counter() - started
    assert len(body["open"]) == 500
    assert took < 0.5, f"/api/wall took {took:.3f} s with 500 open alerts"


def test_days_follow_the_wall_clock_across_summer_time() -> None:
    """Berlin's last Sunday of March has 23 hours; the edges are local midnights."""
    now = datetime(2026, 3, 30, 12, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    edges = day_edges(now, days=3)
    assert [b - a for a, b in itertools.pairwise(edges)] == [24 * _H, 23 * _H, 24 * _H]
    assert datetime.fromtimestamp(edges[2] / 1000, ZoneInfo("Europe/Berlin")).hour == 0
    hours = hour_edges(5 * _H + 123)
    assert hours[-1] == 6 * _H and len(hours) == 25


def test_the_root_redirect_keeps_the_query(anon: Client) -> None:
    """/?big=1, as documented, opens the console with the wall; no query, no '?'."""
    got = anon.get("/?big=1&lang=en")
    assert got.status_code in (302, 307)
    assert got.headers["location"] == "/console/?big=1&lang=en"
    assert anon.get("/").headers["location"] == "/console/"
