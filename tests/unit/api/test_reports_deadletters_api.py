"""The monthly assessment (JSON and CSV, in alerts.time_zone, of the user's places) and the
dead letters (counts by reason, newest examples per device, pages, payloads as inert text)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

from tests.unit.api.conftest import Client
from villagewatch.api.context import ApiContext
from villagewatch.contract import DeadLetter, RejectReason
from villagewatch_dev.testing import MemoryStore, fire_alert

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _ms(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=SHANGHAI).timestamp() * 1000)  # type: ignore[arg-type,misc]


def _fire(ctx: ApiContext, subject: str, at_ms: int, kind: str = "level") -> None:
    fire_alert(
        ctx.alerts, village="dongcun", subject=subject, kind=kind, at_ms=at_ms,
        detector="smart_lock" if subject.startswith("lock") else "water_level",
    )  # fmt: skip


def test_the_month_in_the_deployments_zone_of_the_users_places(ctx: ApiContext) -> None:
    """00:30 on 1 December in Shanghai is December's (16:30 UTC on 30 November); a grid's
    viewer counts only the alerts of their grid."""
    _fire(ctx, "wl-bridge", _ms(2026, 11, 12, 9))
    _fire(ctx, "lock-a01", _ms(2026, 11, 30, 23, 30), kind="forced_open")
    _fire(ctx, "wl-sluice", _ms(2026, 12, 1, 0, 30))
    everyone = Client(ctx).as_("viewer").get("/api/reports/month?month=2026-11")
    assert everyone.status_code == 200, everyone.text
    body = everyone.json()
    assert body["zone"] == "Asia/Shanghai" and body["month"] == "2026-11"
    assert sorted((r["place"], r["kind"], r["alerts"]) for r in body["rows"]) == [
        ("grid:dongcun/g1-bridge", "level", 1), ("grid:dongcun/g3-a", "forced_open", 1),
    ]  # fmt: skip
    assert set(body["per_day"]) == {"2026-11-12", "2026-11-30"}
    assert all(r["reasons"] == {} or isinstance(r["reasons"], dict) for r in body["rows"])
    g3 = Client(ctx).as_("g3-viewer").get("/api/reports/month?month=2026-11").json()
    assert [r["place"] for r in g3["rows"]] == ["grid:dongcun/g3-a"]


def test_the_month_as_csv_to_download(ctx: ApiContext) -> None:
    _fire(ctx, "wl-bridge", _ms(2026, 11, 12, 9))
    reply = Client(ctx).as_("viewer").get("/api/reports/month.csv?month=2026-11")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/csv")
    assert 'filename="villagewatch-2026-11.csv"' in reply.headers["content-disposition"]
    header, row = list(csv.reader(io.StringIO(reply.text)))
    assert header[:4] == ["month", "zone", "place", "kind"]
    assert row[:5] == ["2026-11", "Asia/Shanghai", "grid:dongcun/g1-bridge", "level", "1"]


def test_a_wrong_month_is_refused_in_words(ctx: ApiContext) -> None:
    viewer = Client(ctx).as_("viewer")
    for wrong in ("2026-13", "November", "2026-1", "'; DROP"):
        reply = viewer.get("/api/reports/month", params={"month": wrong})
        assert reply.status_code == 422, (wrong, reply.text)
    assert "'2026-13' is not YYYY-MM" in viewer.get("/api/reports/month?month=2026-13").text
    assert Client(ctx).get("/api/reports/month.csv").status_code == 401


def _letters(ctx: ApiContext) -> MemoryStore:
    store = ctx.store
    assert isinstance(store, MemoryStore)
    t = 1_795_000_000_000_000_000
    store.letters += [
        DeadLetter(t + i, "vw/v1/dongcun/wl-bridge/telemetry", RejectReason.BAD_JSON,
                   "not JSON", b'{"v":1, broken' + bytes([i])) for i in range(5)
    ]  # fmt: skip
    store.letters += [
        DeadLetter(t + 10, "vw/v1/dongcun/lock-a01/event", RejectReason.INVALID_PAYLOAD,
                   "seq: missing", b"<script>alert(1)</script>"),
        DeadLetter(t + 11, "vw/v1/dongcun/ghost-9/telemetry", RejectReason.UNKNOWN_DEVICE,
                   "no device ghost-9", b"\xff\xfe\x00binary"),
        DeadLetter(t + 12, "garbage/topic", RejectReason.BAD_TOPIC, "not under vw/v1", b"x"),
    ]  # fmt: skip
    return store


def test_dead_letters_by_reason_and_device_with_the_newest_examples(ctx: ApiContext) -> None:
    _letters(ctx)
    summary = Client(ctx).as_("op").get("/api/dead-letters/summary?examples=2")
    assert summary.status_code == 200, summary.text
    body = summary.json()
    assert body["scanned"] == 8 and body["complete"] is True
    assert body["reasons"] == {
        "bad_json": 5, "invalid_payload": 1, "unknown_device": 1, "bad_topic": 1,
    }  # fmt: skip
    first = body["devices"][0]
    assert (first["device"], first["count"], len(first["latest"])) == ("wl-bridge", 5, 2)
    assert first["latest"][0]["received_ns"] > first["latest"][1]["received_ns"]
    lock = next(d for d in body["devices"] if d["device"] == "lock-a01")
    assert lock["latest"][0]["payload"] == "<script>alert(1)</script>"  # text; the page escapes
    ghost = next(d for d in body["devices"] if d["device"] == "ghost-9")["latest"][0]
    assert ghost["binary"] is True and ghost["payload_bytes"] == 9 and "\ufffd" in ghost["payload"]
    nowhere = next(d for d in body["devices"] if d["village"] is None)
    assert nowhere["latest"][0]["topic"] == "garbage/topic"


def test_dead_letters_are_paged_and_scoped_and_need_an_operator(ctx: ApiContext) -> None:
    _letters(ctx)
    op = Client(ctx).as_("op")
    first = op.get("/api/dead-letters?limit=3").json()
    assert [d["reason"] for d in first["letters"]] == [
        "bad_topic",
        "unknown_device",
        "invalid_payload",
    ]
    second = op.get(f"/api/dead-letters?limit=3&before={first['next_before']}").json()
    third = op.get(f"/api/dead-letters?limit=3&before={second['next_before']}").json()
    seen = [d["received_ns"] for page in (first, second, third) for d in page["letters"]]
    assert len(seen) == len(set(seen)) == 8 and third["next_before"] is None
    assert op.get("/api/dead-letters?limit=201").status_code == 422
    assert op.get("/api/dead-letters?before=-1").status_code == 422
    assert Client(ctx).as_("viewer").get("/api/dead-letters").status_code == 403
    leader = Client(ctx).as_("g1-leader").get("/api/dead-letters/summary").json()
    # g1's leader: the bridge gauge (g1-bridge lies in g1), not g3's lock, not a device the
    # village does not know (its village is not wholly theirs), not a topic with no place
    assert {d["device"] for d in leader["devices"]} == {"wl-bridge"}
    assert leader["reasons"] == {"bad_json": 5}
