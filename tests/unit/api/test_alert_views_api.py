"""An alert's chart and picture through the API: the alert's own span, the detector's levels
from the running config, the reading that fired, the value now; the box and zone of a camera's
detection on its picture."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from tests.unit.api.conftest import Client, now_ms
from villagewatch.alerts.resolution import ResolutionReason
from villagewatch.api.context import ApiContext
from villagewatch.contract import Clock, Reading, point_time_ns
from villagewatch.store import Batch
from villagewatch.versions.cameras import CameraZones, apply_zones
from villagewatch_dev.testing import fire_alert

_MIN = 60_000


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def _gauge(ctx: ApiContext, start_ms: int, levels: list[float], device: str = "wl-bridge") -> None:
    readings = [
        Reading(
            "dongcun",
            "g1-bridge",
            device,
            "water_level",
            point_time_ns(start_ms + i * _MIN, "b", i),
            i,
            "b",
            {"level_cm": v},
            Clock.SYNCED,
            False,
            False,
            start_ms + i * _MIN,
        )
        for i, v in enumerate(levels)
    ]
    asyncio.run(ctx.store.write(Batch(readings)))


def test_level_chart_spans_the_alert_with_the_running_levels_the_fired_reading_and_now(
    ctx: ApiContext,
) -> None:
    """A level alert 40 min old: the span starts 40 min before it and ends now; the lines are
    the demo's blue 180, warning 200, guaranteed 260 and record 400 cm; the reading at the start
    is the fired one; the newest reading is the current value."""
    now = now_ms()
    start = now - 80 * _MIN
    levels = [150.0 + i * 2 for i in range(80)]  # reaches 200 at minute 25
    _gauge(ctx, start, levels)
    fired_at = start + 40 * _MIN
    alert = fire_alert(ctx.alerts, village="dongcun", subject="wl-bridge", kind="level",
                       severity="yellow", at_ms=fired_at, details={"value": 230.0})  # fmt: skip
    chart = Client(ctx).as_("viewer").get(f"/api/alerts/{alert.id}/chart").json()
    assert chart["metric"] == "level_cm" and chart["own"] is True
    assert [(lv["name"], lv["value"], lv["severity"]) for lv in chart["levels"]] == [
        ("blue", 180.0, "blue"), ("warning", 200.0, "yellow"),
        ("guaranteed", 260.0, "orange"), ("historical_max", 400.0, "red"),
    ]  # fmt: skip
    since, until = _ms(chart["since"]), _ms(chart["until"])
    assert abs((fired_at - since) - (until - fired_at)) < 5_000  # as long before as it lasted
    assert abs(until - now_ms()) < 5_000 and chart["ended"] is None
    assert chart["fired"]["value"] == 230.0 and _ms(chart["fired"]["at"]) == fired_at
    assert chart["current"]["value"] == levels[-1]
    assert sum(b["count"] for b in chart["buckets"]) == 80


def test_a_level_changed_in_the_village_file_is_the_line_drawn(ctx: ApiContext) -> None:
    """The levels come from the config the API runs with now, not from the alert's copy."""
    alert = fire_alert(ctx.alerts, village="dongcun", subject="wl-bridge", kind="level",
                       details={"thresholds": {"yellow": 999}})  # fmt: skip
    path = ctx.deployment.settings.villages[0]
    path.write_text(path.read_text().replace("warning_cm: 200", "warning_cm: 150"))
    ctx.use(ctx.deployment.reload())
    chart = Client(ctx).as_("viewer").get(f"/api/alerts/{alert.id}/chart").json()
    assert {lv["name"]: lv["value"] for lv in chart["levels"]}["warning"] == 150.0


def test_a_resolved_alert_is_charted_to_its_clear(ctx: ApiContext) -> None:
    """Resolved: the span ends a little after its resolution, not now."""
    start = now_ms() - 5 * 3600_000
    alert = fire_alert(ctx.alerts, village="dongcun", subject="wl-bridge", kind="level",
                       at_ms=start)  # fmt: skip
    ctx.alerts.resolve(
        alert.id, "op", start + 3600_000, "fell back", ResolutionReason.HANDLED_ON_SITE
    )
    chart = Client(ctx).as_("viewer").get(f"/api/alerts/{alert.id}/chart").json()
    assert chart["ended"] is not None
    assert _ms(chart["since"]) == start - 3600_000
    assert _ms(chart["until"]) == start + 3600_000 + 360_000  # a tenth of its length after


def test_sos_and_lock_alerts_have_no_chart_but_a_camera_has_its_gauge(ctx: ApiContext) -> None:
    viewer = Client(ctx).as_("viewer")
    sos = fire_alert(ctx.alerts, village="dongcun", subject="sos-square", kind="sos",
                     detector="sos", severity="red")  # fmt: skip
    reply = viewer.get(f"/api/alerts/{sos.id}/chart")
    assert reply.status_code == 404 and "no series" in reply.json()["detail"]
    assert viewer.get(f"/api/alerts/{sos.id}").json()["chart"] is None
    cam = fire_alert(ctx.alerts, village="dongcun", subject="cam-bridge:lane", kind="loitering",
                     detector="camera")  # fmt: skip
    chart = viewer.get(f"/api/alerts/{cam.id}/chart").json()
    assert chart["metric"] == "level_cm" and chart["own"] is False and chart["fired"] is None


def test_camera_picture_carries_the_box_the_zone_and_when_it_was_taken(ctx: ApiContext) -> None:
    lane = {"id": "lane", "kind": "no_parking", "polygon": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.6]]}
    apply_zones(ctx.versions, CameraZones.model_validate({"zones": [lane]}), village="dongcun",
                agent="edge-bridge", device="cam-bridge", who="maint", note="lane",
                at_ms=now_ms(), publish=lambda _t, _p: None)  # fmt: skip
    taken = now_ms() - 120_000
    alert = fire_alert(ctx.alerts, village="dongcun", subject="cam-bridge:lane",
                       kind="illegal_parking", detector="camera", at_ms=taken,
                       details={"evidence": "ev-1", "zone": "lane", "box": [0.2, 0.3, 0.1, 0.2]})  # fmt: skip
    pic = Client(ctx).as_("viewer").get(f"/api/alerts/{alert.id}/picture").json()
    assert pic["url"] == f"/api/alerts/{alert.id}/evidence"
    assert _ms(pic["taken"]) == taken and pic["detection"] == "illegal_parking"
    assert pic["box"] == [0.2, 0.3, 0.1, 0.2]
    assert pic["zone"] == {"id": "lane", "kind": "no_parking", "polygon": lane["polygon"]}


@pytest.mark.parametrize(
    "box",
    [
        pytest.param("x, y, w, h", id="text"),
        pytest.param([0.2, 0.3, 0.1], id="three-numbers"),
        pytest.param([0.2, 0.3, 0, 0.2], id="no-width"),
        pytest.param([1.5, 0.3, 0.1, 0.2], id="outside"),
        pytest.param([True, 0.3, 0.1, 0.2], id="boolean"),
    ],
)
def test_a_bad_box_from_the_edge_is_not_drawn(ctx: ApiContext, box: object) -> None:
    alert = fire_alert(ctx.alerts, village="dongcun", subject="cam-market:gate", kind="x",
                       detector="camera", details={"evidence": "ev-2", "box": box, "zone": "gone"})  # fmt: skip
    pic = Client(ctx).as_("viewer").get(f"/api/alerts/{alert.id}/picture").json()
    assert pic["box"] is None and pic["zone"] is None


def test_no_picture_and_unseen_alerts_are_404(ctx: ApiContext) -> None:
    alert = fire_alert(ctx.alerts, village="dongcun", subject="wl-bridge", kind="level")
    viewer = Client(ctx).as_("viewer")
    assert viewer.get(f"/api/alerts/{alert.id}/picture").status_code == 404
    assert viewer.get(f"/api/alerts/{alert.id}/chart").status_code == 200
    g3 = Client(ctx).as_("g3-viewer")
    assert g3.get(f"/api/alerts/{alert.id}/chart").status_code == 404
    assert g3.get(f"/api/alerts/{alert.id}/picture").status_code == 404
