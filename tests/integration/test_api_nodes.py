"""Two ``villagewatch api`` nodes and an ingester, each with a state directory of its own, on one
PostgreSQL and one Mosquitto — as on separate machines: a camera's picture sent over MQTT is
served by every node, hostile pictures are refused in words, a session made on one node is
valid on the other and a logout on one ends it on both, and the login throttle counts
failures spread over both nodes together (one node's clock six hours wrong changes none of
it)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest

from villagewatch.db.database import PostgresLocation
from villagewatch.store import RelationalStore
from villagewatch.store.evidence import EvidenceTable
from villagewatch_dev.servers import Mosquitto, Postgres, free_port
from villagewatch_dev.testing import TINY_JPEG

from .helpers import (
    FAKETIME_LIB,
    IngesterProcess,
    SteppedClock,
    publish_all,
    reading,
    wait_until,
    write_deployment,
)

VILLAGEWATCH = Path(sys.executable).parent / "villagewatch"
PICTURE = "/api/cameras/testvil/cam-1/picture"
PASSWORD = "maint-password-1"


def _add_camera(village: dict[str, Any]) -> None:
    village["devices"].append({"id": "cam-1", "kind": "camera", "grid": "g1"})


def _node_settings(
    directory: Path, mqtt_port: int, dsn: str, *, api: dict[str, Any] | None = None
) -> Path:
    """A deployment of its own under ``directory`` (its state, its evidence folder, its
    readings file) sharing only the broker and PostgreSQL."""
    settings = write_deployment(
        directory, mqtt_port=mqtt_port, store={"kind": "sqlite", "path": "readings.db"},
        ingest={"metrics_port": free_port(), "retry_initial_s": 0.05, "retry_max_s": 0.2},
        edit_village=_add_camera,
    )  # fmt: skip
    doc = orjson.loads(settings.read_bytes())
    doc["relational"] = {"kind": "postgres", "dsn": dsn}
    doc["api"] = {"host": "127.0.0.1", "port": free_port(), **(api or {})}
    settings.write_bytes(orjson.dumps(doc))
    return settings


class ApiNode:
    """``villagewatch api`` as a child process, answering on its own port."""

    def __init__(self, settings: Path, env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.base = f"http://127.0.0.1:{orjson.loads(settings.read_bytes())['api']['port']}"
        self.log = settings.parent / "api.log"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(VILLAGEWATCH), "api", "-c", str(settings), "--log-level", "warning"],
                cwd=settings.parent, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
            )  # fmt: skip
        wait_until(self._up, timeout=60, what=f"api at {self.base}")

    def _up(self) -> bool:
        assert self.proc.poll() is None, self.log.read_text(errors="replace")
        try:
            return httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def login(self, user: str, password: str, source: str = "127.0.0.1") -> httpx.Response:
        transport = httpx.HTTPTransport(local_address=source)
        with httpx.Client(transport=transport, timeout=120) as c:
            return c.post(f"{self.base}/api/auth/login", json={"user": user, "password": password})

    def get(self, path: str, token: str) -> httpx.Response:
        return httpx.get(f"{self.base}{path}", headers={"Authorization": f"Bearer {token}"})

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def cluster(
    tmp_path: Path, mosquitto: Mosquitto, pg_dsn: str
) -> Iterator[tuple[Path, ApiNode, ApiNode, SteppedClock]]:
    """An ingester and two API nodes (the second on a clock it can be made wrong), each in a
    directory of its own; the maintainer made through the first node's settings."""
    if not FAKETIME_LIB.exists():
        pytest.skip("libfaketime is not installed (run scripts/test)")
    api = {"login_failures_per_source": 6, "login_delay_max_s": 2}
    ingest_settings = _node_settings(tmp_path / "ingest", mosquitto.port, pg_dsn)
    a = _node_settings(tmp_path / "api-a", mosquitto.port, pg_dsn, api=api)
    b = _node_settings(tmp_path / "api-b", mosquitto.port, pg_dsn, api=api)
    subprocess.run(
        [str(VILLAGEWATCH), "users", "add", "-c", str(a), "maint", "--role", "maintainer",
         "--place", "*", "--password-stdin"],
        input=f"{PASSWORD}\n".encode(), check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    port = orjson.loads(ingest_settings.read_bytes())["ingest"]["metrics_port"]
    ingester = IngesterProcess(ingest_settings, port).start()
    clock = SteppedClock(tmp_path)
    nodes: list[ApiNode] = []
    try:
        nodes.append(ApiNode(a))
        nodes.append(ApiNode(b, env=clock.env))
        yield ingest_settings, nodes[0], nodes[1], clock
    finally:
        for n in nodes:
            n.stop()
        ingester.terminate()


def _publish(port: int, topic: str, payload: bytes, directory: Path) -> None:
    picture = directory / "payload.bin"
    picture.write_bytes(payload)
    subprocess.run(
        ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-V", "mqttv5", "-q", "1",
         "-t", topic, "-f", str(picture)],
        check=True, timeout=10,
    )  # fmt: skip


def _dead_letters(settings: Path) -> dict[str, tuple[str, str]]:
    async def read() -> dict[str, tuple[str, str]]:
        store = RelationalStore(settings.parent / "readings.db")
        try:
            return {d.topic: (d.reason.value, d.detail) for d in await store.dead_letters()}
        finally:
            await store.close()

    return asyncio.run(read())


def test_a_picture_sent_over_mqtt_is_served_by_both_api_nodes_and_hostile_ones_are_refused(
    cluster: tuple[Path, ApiNode, ApiNode, SteppedClock], mosquitto: Mosquitto, tmp_path: Path
) -> None:
    ingest_settings, a, b, _ = cluster
    token = a.login("maint", PASSWORD).json()["token"]
    nothing = b.get(PICTURE, token)
    assert nothing.status_code == 404 and "no picture yet" in nothing.text, "nothing sent yet"
    _publish(mosquitto.port, "vw/v1/testvil/cam-1/evidence/ev-1", TINY_JPEG, tmp_path)
    wait_until(
        lambda: b.get(PICTURE, token).status_code == 200,
        timeout=20, what=f"the picture on node b: {b.get(PICTURE, token).text}",
    )  # fmt: skip
    for node in (a, b):
        reply = node.get(PICTURE, token)
        assert reply.content == TINY_JPEG and reply.headers["content-type"] == "image/jpeg"
    assert not (ingest_settings.parent / "var" / "evidence").exists(), "no file on any disk"

    hostile = {
        "vw/v1/testvil/cam-1/evidence/big": (
            TINY_JPEG[:-2] + b"\0" * 210_000 + b"\xff\xd9", "too_large", "limit"),
        "vw/v1/testvil/cam-1/evidence/png": (b"\x89PNG\r\n\x1a\n" + b"\0" * 64,
                                             "invalid_payload", "not a JPEG"),
        "vw/v1/testvil/cam-1/evidence/..": (TINY_JPEG, "bad_topic", ""),
    }  # fmt: skip
    for topic, (payload, _, _) in hostile.items():
        _publish(mosquitto.port, topic, payload, tmp_path)
    wait_until(
        lambda: hostile.keys() <= _dead_letters(ingest_settings).keys(),
        timeout=20, what="the hostile pictures dead-lettered",
    )  # fmt: skip
    letters = _dead_letters(ingest_settings)
    for topic, (_, reason, words) in hostile.items():
        assert letters[topic][0] == reason and words in letters[topic][1], letters[topic]
    assert b.get(PICTURE, token).content == TINY_JPEG, "the first picture is still the newest"


def test_a_session_made_on_one_node_is_valid_on_the_other_and_a_logout_ends_it_on_both(
    cluster: tuple[Path, ApiNode, ApiNode, SteppedClock],
) -> None:
    _, a, b, _ = cluster
    token = a.login("maint", PASSWORD).json()["token"]
    assert b.get("/api/me", token).json()["user"] == "maint"
    reply = httpx.post(f"{b.base}/api/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 204
    assert a.get("/api/me", token).status_code == 401
    assert b.get("/api/me", token).status_code == 401


def test_failures_spread_over_both_nodes_are_counted_together(
    cluster: tuple[Path, ApiNode, ApiNode, SteppedClock], pg_dsn: str
) -> None:
    """Before: each node counted in its memory — 3 failures each, never refused, no delay
    seen by the other node. Node b's clock is six hours ahead throughout."""
    _, a, b, clock = cluster
    token = a.login("maint", PASSWORD, source="127.0.0.2").json()["token"]
    clock.step("+6h")
    assert b.get("/api/me", token).status_code == 200, "6 h ahead: within the 12 h sessions"
    # the name: five wrong passwords from five addresses, alternating nodes
    for n in range(5):
        node = (a, b)[n % 2]
        assert node.login("maint", f"wrong-{n}", source=f"127.0.0.{10 + n}").status_code == 401
    with psycopg.connect(pg_dsn) as c:
        failures, waiting = c.execute(
            "SELECT failures, in_flight FROM logins.login_throttle"
            " WHERE kind = 'name' AND key = 'maint'"
        ).fetchone()  # type: ignore[misc]
        skew = c.execute(
            "SELECT max(used_ms) - (extract(epoch FROM now()) * 1000)::bigint"
            " FROM logins.login_throttle"
        ).fetchone()
    assert len(orjson.loads(failures)) == 5 and waiting == 0, "both nodes' failures, in one row"
    assert skew is not None and abs(skew[0]) < 600_000, "times are the database's, not node b's"
    # the right password still gets in (after at most login_delay_max_s)
    assert b.login("maint", PASSWORD, source="127.0.0.20").status_code == 200
    # the address: six failures over both nodes, then refused on either
    for n in range(6):
        node = (a, b)[n % 2]
        assert node.login(f"nobody-{n}", "wrong-pass", source="127.0.0.30").status_code == 401
    for node in (a, b):
        refused = node.login("maint", PASSWORD, source="127.0.0.30")
        assert refused.status_code == 429, refused.text
        assert "too many failed logins from your address" in refused.json()["detail"]
    assert a.login("maint", PASSWORD, source="127.0.0.31").status_code == 200, "others may"


def test_postgresql_down_while_a_picture_arrives_loses_neither_the_picture_nor_the_reading(
    tmp_path: Path, mosquitto: Mosquitto, postgres: Postgres
) -> None:
    """The picture's batch waits, unacknowledged, retried until PostgreSQL is back; before,
    the outage fell into the writer's catch-all and the picture became a dead letter."""
    dsn = postgres.create_database("vw")
    settings = _node_settings(tmp_path / "ingest", mosquitto.port, dsn)
    ingester = IngesterProcess(
        settings, orjson.loads(settings.read_bytes())["ingest"]["metrics_port"]
    ).start()
    try:
        postgres.stop()
        publish_all(
            mosquitto.port,
            [reading("wl-001", 1), ("vw/v1/testvil/cam-1/evidence/ev-9", TINY_JPEG)],
        )
        wait_until(
            lambda: (ingester.metric("villagewatch_ingest_store_retries_total") or 0) >= 2,
            timeout=30, what="the batch retried while PostgreSQL is down",
        )  # fmt: skip
        postgres.start()
        table = EvidenceTable(PostgresLocation(dsn, "evidence"), busy_timeout_s=5)
        try:
            wait_until(
                lambda: table.picture("testvil", "cam-1", "ev-9") == TINY_JPEG,
                timeout=60, what="the picture saved once PostgreSQL is back",
            )  # fmt: skip
        finally:
            table.close()
        with sqlite3.connect(settings.parent / "readings.db") as db:
            wait_until(
                lambda: db.execute("SELECT count(*) FROM readings").fetchone()[0] == 1,
                timeout=30, what="the reading stored",
            )  # fmt: skip
        assert _dead_letters(settings) == {}
    finally:
        ingester.terminate()
