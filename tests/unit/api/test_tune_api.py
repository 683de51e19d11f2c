"""Replay in the API: a maintainer sends a candidate village file and a range, and gets the
same report as `villagewatch tune replay --json`; nothing is changed; bad input is refused."""

from __future__ import annotations

from typing import Any

from tests.unit.api.conftest import Client
from tests.unit.tune.history import MIN, T0, fill
from villagewatch.api.context import ApiContext
from villagewatch.contract import Clock, Reading, point_time_ns

_URL = "/api/tune/replay"
SINCE, UNTIL = "2026-11-18T11:06:40Z", "2026-11-18T17:46:40Z"  # T0 .. T0 + 400 min


def _flood(ctx: ApiContext) -> None:
    """The bridge gauge rises 1 cm a minute to 300 cm, one reading a minute."""
    fill(ctx.store, [
        Reading("dongcun", "g1-bridge", "wl-bridge", "water_level",
                point_time_ns(T0 + m * MIN, "b", m), m, "b", {"level_cm": float(m)},
                Clock.SYNCED, False, False, T0 + m * MIN)
        for m in range(300)
    ])  # fmt: skip


def _candidate(ctx: ApiContext, old: str, new: str) -> str:
    text = ctx.deployment.settings.villages[0].read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new, 1)


def _replay(client: Client, candidate: str, **extra: Any) -> Any:
    body = {"since": SINCE, "until": UNTIL, "village": "dongcun", "candidate": candidate}
    return client.post(_URL, json={**body, **extra})


def test_a_lower_warning_level_on_history_fires_earlier_and_nothing_changes(
    ctx: ApiContext,
) -> None:
    _flood(ctx)
    village_before = ctx.deployment.settings.villages[0].read_bytes()
    candidate = _candidate(ctx, "warning_cm: 200", "warning_cm: 150")
    reply = _replay(Client(ctx).as_("maint"), candidate)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["ok"] is True and body["issues"] == []
    report = body["report"]
    level = [c for c in report["changes"] if c["alert"] == "water_level/dongcun/wl-bridge/level"]
    assert level, report["changes"]
    assert all(c["change"] == "earlier" and c["shift_s"] < 0 for c in level)
    assert ctx.deployment.settings.villages[0].read_bytes() == village_before
    assert ctx.versions.versions("village:dongcun") == []
    assert ctx.alerts.open_alerts() == []


def test_a_broken_candidate_bad_range_and_foreign_village_are_refused(ctx: ApiContext) -> None:
    maint = Client(ctx).as_("maint")
    broken = _candidate(ctx, "warning_cm: 200", "warning_cm: 300")
    reply = _replay(maint, broken)
    assert reply.status_code == 200 and reply.json()["ok"] is False
    (issue,) = reply.json()["issues"]
    assert issue["path"] == "detect.devices.wl-bridge.level"
    assert issue["message"].startswith("levels must rise")
    same = _candidate(ctx, "warning_cm: 200", "warning_cm: 200")
    assert _replay(maint, same, until=SINCE).status_code == 422
    assert _replay(maint, same, until="2027-06-01T00:00:00Z").status_code == 422  # > 92 days
    assert _replay(maint, same, village="nowhere").status_code == 404
    assert _replay(Client(ctx).as_("viewer"), same).status_code == 403
