"""The public free-spaces page and JSON: no login, the public lots only, stale counts said to
be stale, a flood refused per address, and the store read once for a crowd."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from villagewatch.api.context import PUBLIC_BURST, ApiContext
from villagewatch.api.publicspaces import PublicSpaces
from villagewatch.config import load_deployment
from villagewatch.contract import Clock, Reading, point_time_ns
from villagewatch.errors import ConfigError
from villagewatch.store import Batch
from villagewatch_dev.testing import MemoryStore

from .conftest import Client

URL = "/public/spaces.json"


def _count(
    ctx: ApiContext, lot: str, free: int, taken: int, *, age_s: float = 5, seq: int = 1
) -> None:
    ms = int(time.time() * 1000 - age_s * 1000)
    reading = Reading(
        "dongcun", "g2", "cam-market", "camera", point_time_ns(ms, "b1", seq), seq, "b1",
        {"free_spaces": float(free), "occupied_spaces": float(taken)}, Clock.SYNCED, False,
        False, ms, lot,
    )  # fmt: skip
    asyncio.run(ctx.store.write(Batch([reading])))


def test_the_demo_lot_without_a_count_is_unknown(anon: Client) -> None:
    reply = anon.get(URL)
    assert reply.status_code == 200
    (lot,) = reply.json()["lots"]
    assert lot["village"] == "dongcun"
    assert lot["id"] == "clinic"
    assert lot["name"] == {"zh": "卫生院停车场", "en": "Clinic car park"}
    assert (lot["state"], lot["free"], lot["total"], lot["updated"]) == (
        "unknown",
        None,
        None,
        None,
    )


def test_a_recent_count_is_current_with_free_and_total_and_nothing_else(
    ctx: ApiContext, anon: Client
) -> None:
    _count(ctx, "clinic", 3, 21)
    _count(ctx, "private-yard", 9, 1, seq=2)  # a lot of the same camera nobody made public
    reply = anon.get(URL)
    (lot,) = reply.json()["lots"]
    assert (lot["state"], lot["free"], lot["total"]) == ("current", 3, 24)
    assert 0 <= lot["age_s"] <= 60
    assert "cam-market" not in reply.text  # no device id: the lot is all a resident needs
    assert "private-yard" not in reply.text
    assert reply.headers["Cache-Control"] == "public, max-age=10"
    assert reply.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_a_count_from_a_silent_camera_is_stale_without_numbers(
    ctx: ApiContext, anon: Client
) -> None:
    _count(ctx, "clinic", 3, 21, age_s=3600)
    (lot,) = anon.get(URL).json()["lots"]
    assert (lot["state"], lot["free"], lot["total"]) == ("stale", None, None)
    assert lot["age_s"] >= 3600
    assert lot["updated"] is not None


def test_a_count_from_a_clock_ahead_is_not_negative(ctx: ApiContext, anon: Client) -> None:
    _count(ctx, "clinic", 3, 21, age_s=-120)
    (lot,) = anon.get(URL).json()["lots"]
    assert (lot["state"], lot["age_s"]) == ("current", 0)


@pytest.mark.parametrize(
    "query",
    [
        "?village=dongcun&lot=private-yard",
        "?village=dongcun&lot=..%2F..%2Fetc%2Fpasswd",
        "?village=dongcun&lot=%3Cscript%3E",
        "?village=xicun&lot=clinic",
        "?lot=" + "x" * 64,
    ],
    ids=["private", "path", "markup", "other-village", "long"],
)
def test_a_lot_that_is_not_public_is_not_found_whatever_it_is(anon: Client, query: str) -> None:
    reply = anon.get(URL + query)
    assert reply.status_code == 404
    assert reply.json() == {"detail": "no such public lot"}


def test_one_public_lot_by_id(ctx: ApiContext, anon: Client) -> None:
    _count(ctx, "clinic", 3, 21)
    reply = anon.get(URL + "?village=dongcun&lot=clinic")
    assert [lot["id"] for lot in reply.json()["lots"]] == ["clinic"]
    assert anon.get(URL + "?lot=" + "x" * 65).status_code == 422


def test_a_flood_from_one_address_gets_429_with_retry_after(anon: Client) -> None:
    codes = [anon.get(URL).status_code for _ in range(PUBLIC_BURST)]
    assert set(codes) == {200}
    refused = anon.get(URL)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert anon.get("/public/spaces").status_code == 429  # the page counts too
    assert anon.get("/healthz").status_code == 200  # the rest of the API is not limited by it


@pytest.mark.parametrize(
    "path",
    ["/api/devices", "/api/readings?device=cam-market", "/api/alerts", "/api/places",
     "/api/alerts/1/evidence", "/api/cameras/dongcun/cam-market/zones", "/api/wall"],
)  # fmt: skip
def test_everything_else_stays_closed_without_a_session(anon: Client, path: str) -> None:
    assert anon.get(path).status_code == 401


def test_the_page_is_served_with_the_consoles_policy(anon: Client) -> None:
    reply = anon.get("/public/spaces")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/console/publicspaces.js">' in reply.text
    assert "script-src 'self'" in reply.headers["Content-Security-Policy"]
    assert anon.get("/console/publicspaces.js").status_code == 200


class _CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def last_values(self, **kw: Any) -> Any:
        self.reads += 1
        await asyncio.sleep(0.01)  # slow enough for the crowd to arrive while it reads
        return await super().last_values(**kw)


def test_a_crowd_reads_the_store_once_per_freshness(ctx: ApiContext) -> None:
    store = _CountingStore()
    now = [0.0]
    spaces = PublicSpaces(fresh_s=10, clock=lambda: now[0])

    async def crowd() -> None:
        await asyncio.gather(*(spaces.answer(ctx.deployment, store) for _ in range(200)))

    async def main() -> None:
        await crowd()
        assert store.reads == 1
        now[0] = 9.9
        await crowd()
        assert store.reads == 1
        now[0] = 10.0
        await crowd()
        assert store.reads == 2

    asyncio.run(main())


def test_a_store_outage_is_503_and_not_retried_by_every_phone(ctx: ApiContext) -> None:
    class Broken(MemoryStore):
        reads = 0

        async def last_values(self, **kw: Any) -> Any:
            Broken.reads += 1
            from villagewatch.errors import StoreUnavailable

            raise StoreUnavailable("influx down")

    ctx.store = Broken()
    anon = Client(ctx)
    assert [anon.get(URL).status_code for _ in range(5)] == [503] * 5
    assert Broken.reads == 1


def _village(tmp_path: Path, public_lots: list[dict[str, Any]]) -> Path:
    raw = yaml.safe_load(Path("config/demo/dongcun.yaml").read_text(encoding="utf-8"))
    raw["public_lots"] = json.loads(json.dumps(public_lots))  # copies: YAML aliases are refused
    (tmp_path / "dongcun.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
    settings = tmp_path / "villagewatch.yaml"
    settings.write_text("store: {kind: sqlite, path: r.db}\nvillages: [dongcun.yaml]\n", "utf-8")
    return settings


NAME = {"zh": "停车场", "en": "Car park"}


@pytest.mark.parametrize(
    ("lots", "message"),
    [
        (
            [{"id": "p", "camera": "cam-gone", "name": NAME}],
            "public_lots[0].camera: no device 'cam-gone' here",
        ),
        ([{"id": "p", "camera": "wl-bridge", "name": NAME}], "'wl-bridge' is a water_level"),
        (
            [{"id": "p", "camera": "cam-market", "name": NAME} for _ in range(2)],
            "public_lots[1].id: lot 'p' is also public_lots[0]",
        ),
        ([{"id": "p", "camera": "cam-market", "name": {"zh": "停车场"}}], "public_lots[0].name.en"),
        ([{"id": "P P", "camera": "cam-market", "name": NAME}], "public_lots[0].id"),
        (
            [{"id": "p", "camera": "cam-market", "name": NAME, "stale_after_s": 5}],
            "public_lots[0].stale_after_s: Input should be greater than or equal to 60",
        ),
    ],
    ids=["no-device", "not-a-camera", "twice", "no-english", "bad-id", "stale-too-short"],
)
def test_bad_public_lots_are_refused_with_where_and_why(
    tmp_path: Path, lots: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_deployment(_village(tmp_path, lots))
