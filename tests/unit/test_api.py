"""The HTTP API over a store: health, metrics, devices with last values, downsampled readings."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from villagewatch.api.app import create_app
from villagewatch.config import load_deployment
from villagewatch.contract import Clock, Reading, point_time_ns
from villagewatch.ingest import IngestMetrics
from villagewatch.store import Batch
from villagewatch.testing import MemoryStore

REPO = Path(__file__).resolve().parents[2]
T0 = 1_795_000_000_000


class Client:
    """Requests to the app in-process, through httpx's ASGI transport."""

    def __init__(self, app: object) -> None:
        self._transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]

    def get(self, path: str, params: dict[str, object] | None = None) -> httpx.Response:
        async def call() -> httpx.Response:
            async with httpx.AsyncClient(transport=self._transport, base_url="http://api") as c:
                return await c.get(path, params=params)  # type: ignore[arg-type]

        return asyncio.run(call())


@pytest.fixture
def client() -> Client:
    deployment = load_deployment(REPO / "config/demo/villagewatch.yaml")
    store = MemoryStore()
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
    asyncio.run(store.write(Batch(readings)))
    metrics = IngestMetrics()
    metrics.received = 3
    return Client(create_app(deployment=deployment, store=store, registries=[metrics.registry]))


def test_health_and_metrics(client: Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    body = client.get("/metrics").text
    assert "villagewatch_ingest_messages_received_total 3.0" in body


def test_devices_list_config_with_newest_values(client: Client) -> None:
    devices = {d["id"]: d for d in client.get("/api/devices").json()}
    assert len(devices) == 25
    bridge = devices["wl-bridge"]
    assert bridge["kind"] == "water_level" and bridge["grid"] == "g1-bridge"
    assert bridge["last"]["level_cm"]["value"] == 159.0
    assert devices["lock-a01"]["last"] == {}


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
