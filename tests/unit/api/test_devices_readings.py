"""Health, metrics, devices with their state and newest values, downsampled readings."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.unit.api.conftest import Client
from villagewatch.api.context import ApiContext
from villagewatch.contract import Clock, Reading, point_time_ns
from villagewatch.ingest import IngestMetrics
from villagewatch.store import Batch
from villagewatch.store.relational import RelationalStore

T0 = 1_795_000_000_000


@pytest.fixture
def client(ctx: ApiContext) -> Client:
    readings = [
        Reading(
            "dongcun",
            "g1-bridge",
            "wl-bridge",
            "water_level",
            point_time_ns(T0 + i * 60_000, "b", i),
            i,
            "b",
            {"level_cm": 100.0 + i},
            Clock.SYNCED,
            False,
            False,
            T0 + i * 60_000,
        )
        for i in range(60)
    ]
    asyncio.run(ctx.store.write(Batch(readings)))
    metrics = IngestMetrics()
    metrics.received = 3
    ctx.registries = [metrics.registry]
    return Client(ctx).as_("viewer")


def test_health_and_metrics_need_no_token(anon: Client, client: Client) -> None:
    assert anon.get("/healthz").json() == {"status": "ok"}
    body = anon.get("/metrics").text
    assert "villagewatch_ingest_messages_received_total 3.0" in body


def test_devices_list_config_with_newest_values(client: Client) -> None:
    devices = {d["id"]: d for d in client.get("/api/devices").json()}
    assert len(devices) == 25
    bridge = devices["wl-bridge"]
    assert bridge["kind"] == "water_level" and bridge["grid"] == "g1-bridge"
    assert bridge["last"]["level_cm"]["value"] == 159.0
    assert devices["lock-a01"]["last"] == {}
    # heard long ago (T0 is in 2026-11-18): offline; never heard: unknown
    assert bridge["link"] == "offline" and bridge["state"] == "offline"
    assert devices["lock-a01"]["link"] == "never" and devices["lock-a01"]["state"] == "unknown"


def test_devices_are_scoped_to_the_users_places(ctx: ApiContext) -> None:
    devices = Client(ctx).as_("g3-viewer").get("/api/devices").json()
    assert devices and {d["place"] for d in devices} == {
        "grid:dongcun/g3",
        "grid:dongcun/g3-a",
        "grid:dongcun/g3-b",
    }
    reply = Client(ctx).as_("g3-viewer").get("/api/readings", params={"device": "wl-bridge"})
    assert reply.status_code == 404


def test_readings_downsampled(client: Client) -> None:
    reply = client.get(
        "/api/readings",
        params={
            "device": "wl-bridge",
            "since": "2026-11-18T11:06:40Z",
            "until": "2026-11-18T12:06:40Z",
            "buckets": 6,
        },
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["metric"] == "level_cm"
    assert [b["count"] for b in body["buckets"]] == [10] * 6
    assert body["buckets"][0]["min"] == 100 and body["buckets"][-1]["max"] == 159


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        pytest.param({"device": "nope"}, 404, "no device", id="unknown-device"),
        pytest.param(
            {"device": "wl-bridge", "metric": "mm"}, 422, "no metric 'mm'", id="wrong-metric"
        ),
        pytest.param(
            {"device": "wl-bridge", "buckets": 0}, 422, "greater than or equal", id="zero-buckets"
        ),
        pytest.param(
            {
                "device": "wl-bridge",
                "since": "2026-11-18T09:00:00Z",
                "until": "2026-11-18T08:00:00Z",
            },
            422,
            "after since",
            id="reversed-range",
        ),
        pytest.param(
            {"device": "wl-bridge", "until": "2026-11-18T08:00:00"},
            422,
            "UTC offset",
            id="naive-time",
        ),
        pytest.param(
            {"device": "wl-bridge", "since": "yesterday"}, 422, "datetime", id="garbage-time"
        ),
    ],
)
def test_bad_readings_queries_say_what_is_wrong(
    client: Client, params: dict[str, object], status: int, says: str
) -> None:
    reply = client.get("/api/readings", params=params)
    assert reply.status_code == status
    assert says in reply.text


@pytest.mark.parametrize(
    ("path", "params"),
    [
        pytest.param("/api/readings", {"since": "0001-01-01T00:00:00Z"}, id="readings-year-1"),
        pytest.param("/api/readings", {"until": "9999-12-31T23:59:59Z"}, id="readings-year-9999"),
        pytest.param(
            "/api/readings",
            {"since": "1677-01-01T00:00:00Z", "until": "1677-01-02T00:00:00Z"},
            id="readings-before-1678",
        ),
        pytest.param(
            "/api/readings", {"until": "1678-01-01T10:00:00+00:00"}, id="readings-default-since"
        ),
        pytest.param("/api/alerts", {"since": "0001-01-01T00:00:00Z"}, id="alerts-year-1"),
        pytest.param("/api/alerts", {"until": "9999-12-31T23:59:59-14:00"}, id="alerts-year-9999"),
    ],
)
def test_times_the_stores_cannot_hold_are_422_with_the_range(
    ctx: ApiContext, tmp_path: Path, path: str, params: dict[str, str]
) -> None:
    """Over the SQLite readings store (whose times are 64-bit nanoseconds): a clear 422, no 500."""
    ctx.store = RelationalStore(tmp_path / "readings.db")
    reply = Client(ctx).as_("viewer").get(path, params={"device": "wl-bridge", **params})
    assert reply.status_code == 422, reply.text
    assert "between 1678-01-01 and 2262-01-01" in reply.json()["detail"]
