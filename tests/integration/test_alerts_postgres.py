"""The alert store on PostgreSQL with real processes: two alert engines (store + sender, in
processes of their own) apply, escalate and send each once to a real webhook, one of them
SIGKILLed mid-stream; PostgreSQL restarted under a store; two ``villagewatch api`` nodes
share the live feed."""

from __future__ import annotations

import asyncio
import http.server
import json
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api_deployment import ApiDeployment
from villagewatch.alerts import AlertDatabase, AlertPolicy
from villagewatch.alerts.channels import build_channel
from villagewatch.alerts.notify import Notifier
from villagewatch.alerts.outbox import CLAIM_MS
from villagewatch.alerts.routing import Router
from villagewatch.alerts.sender import NotificationSender
from villagewatch.config import AlertsSettings
from villagewatch.config.village import Village
from villagewatch.db.database import PostgresLocation
from villagewatch.errors import StoreUnavailable
from villagewatch.transitions import AlertKey, Severity, Transition
from villagewatch_dev.servers import Postgres

log = logging.getLogger(__name__)

NOW = 1_795_000_000_000
ESCALATE_MS = 600_000
DEVICES = 60


class _Webhook:
    """A webhook's receiving end on a free port: every alert of every message it got."""

    def __init__(self) -> None:
        self.received: list[tuple[int, str]] = []
        lock = threading.Lock()
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    hook.received += [(int(a["alert"]), a["text"]) for a in body["alerts"]]
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _notifier(url: str) -> Notifier:
    team = {"members": [{"id": "a", "name": "A"}], "channels": ["hook"]}
    village = Village.model_validate(
        {"id": "v", "name": "V", "town": "t", "team": team,
         "grids": [{"id": "g", "name": "G", "team": team}],
         "devices": [{"id": f"wl-{i}", "kind": "water_level", "grid": "g"}
                     for i in range(DEVICES)]}
    )  # fmt: skip
    settings = AlertsSettings(
        group_wait_s=0, escalate_after_s=ESCALATE_MS / 1000,
        channels={"hook": {"kind": "webhook", "url": url}},  # type: ignore[dict-item]
    )  # fmt: skip
    return Notifier(Router([village], {}), settings)


def _engine(dsn: str, url: str, start: Any, slow_s: float, outlive: bool) -> None:
    """One alert engine's work, as ``alerts run`` does it: apply the transitions it reads
    (both engines read the same ones), tick the timers, send what is due; ``outlive``: then
    as long again as a claim lasts (the other engine is dead by then)."""
    notifier = _notifier(url)
    store = AlertDatabase(PostgresLocation(dsn, "alerts"), notifier=notifier)
    start.wait()

    async def run() -> None:
        async with httpx.AsyncClient() as client:
            channel = build_channel("hook", notifier.settings.channels["hook"], client)
            clock = {"now": NOW}
            sender = NotificationSender(
                store=store, channels={"hook": channel}, now_ms=lambda: clock["now"]
            )
            for i in range(DEVICES):
                t = Transition(AlertKey("water_level", "v", f"wl-{i}", "level"), "fire",
                               Severity.RED, NOW + i, f"high {i}", {})  # fmt: skip
                store.apply(t, f"wl-{i}#fire@{NOW + i}", AlertPolicy(), NOW)
                await sender.send_due()
                await asyncio.sleep(slow_s)
            clock["now"] = NOW + ESCALATE_MS
            store.tick(clock["now"])
            for _ in range(5):
                await sender.send_due()
            if outlive:
                clock["now"] += CLAIM_MS  # what the killed engine had claimed is free again
                for _ in range(5):
                    await sender.send_due()

    asyncio.run(run())
    store.close()


@pytest.fixture
def webhook() -> Iterator[_Webhook]:
    hook = _Webhook()
    yield hook
    hook.close()


def _check(dsn: str, webhook: _Webhook, *, in_flight: int) -> None:
    store = AlertDatabase(PostgresLocation(dsn, "alerts"))
    try:
        alerts = store.open_alerts()
        assert sorted(a.subject for a in alerts) == sorted(f"wl-{i}" for i in range(DEVICES))
        for alert in alerts:
            assert [e.action for e in store.audit(alert.id)] == ["fired", "escalated"]
        rows = store.notifications()
        assert {r["state"] for r in rows} == {"sent"}, "nothing lost"
        twice = len(webhook.received) - len(set(webhook.received))
        assert len(set(webhook.received)) == len(rows)
        assert twice <= in_flight, f"{twice} sent twice"
        log.info("notifications %d, the webhook got %d, twice %d", len(rows),
                 len(webhook.received), twice)  # fmt: skip
    finally:
        store.close()


def _start(dsn: str, url: str, slow_s: float, outlive: bool) -> tuple[list[Any], Any]:
    AlertDatabase(PostgresLocation(dsn, "alerts")).close()  # migrated once, before the race
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_engine, args=(dsn, url, start, slow_s, outlive)) for _ in range(2)]
    for p in procs:
        p.start()
    return procs, start


def test_two_engine_processes_apply_escalate_and_send_each_once(
    pg_dsn: str, webhook: _Webhook
) -> None:
    procs, start = _start(pg_dsn, webhook.url, 0, outlive=False)
    start.set()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    _check(pg_dsn, webhook, in_flight=0)


def test_an_engine_killed_mid_stream_loses_nothing(pg_dsn: str, webhook: _Webhook) -> None:
    """SIGKILL of one of two engines while it applies and sends: the other finishes the
    work — its claims run out — and the webhook gets every notification; only a message the
    killed one had sent but not yet marked can come twice (at-least-once at the channel)."""
    procs, start = _start(pg_dsn, webhook.url, 0.02, outlive=True)
    start.set()
    deadline = time.monotonic() + 60
    while len(webhook.received) < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert procs[0].pid is not None
    os.kill(procs[0].pid, signal.SIGKILL)
    procs[0].join(10)
    procs[1].join(120)
    assert procs[1].exitcode == 0
    _check(pg_dsn, webhook, in_flight=2)


def test_a_postgres_restart_is_unavailable_then_recovered(tmp_path: Path) -> None:
    server = Postgres(tmp_path / "pg").start()
    try:
        dsn = server.create_database("alerts_restart")
        store = AlertDatabase(PostgresLocation(dsn, "alerts"))
        t = Transition(AlertKey("water_level", "v", "wl-1", "level"), "fire", Severity.RED, NOW,
                       "high", {})  # fmt: skip
        first = store.apply(t, "one", AlertPolicy(), NOW)
        assert first is not None
        server.stop()
        with pytest.raises(StoreUnavailable, match="alerts"):
            store.acknowledge(first.id, "op", NOW + 1)
        with pytest.raises(StoreUnavailable, match="alerts"):
            store.get(first.id)
        server.start()
        acked = store.acknowledge(first.id, "op", NOW + 2)  # the same store object, reconnected
        assert acked.acknowledged_by == "op"
        assert [e.action for e in store.audit(first.id)] == ["fired", "acknowledged"]
        store.close()
    finally:
        server.close()


def _events(api: ApiDeployment, token: str, got: list[tuple[float, str, dict[str, Any]]]) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    fields: dict[str, str] = {}
    try:
        with httpx.stream("GET", f"{api.base}/api/alerts/stream", headers=headers,
                          timeout=30) as reply:  # fmt: skip
            for line in reply.iter_lines():
                if line == "":
                    if "event" in fields:
                        data = json.loads(fields["data"])
                        got.append((time.monotonic(), fields["event"], data))
                    fields = {}
                elif not line.startswith(":"):
                    key, _, value = line.partition(": ")
                    fields[key] = value
    except httpx.HTTPError:
        return


def test_an_acknowledge_on_one_api_node_shows_in_the_others_live_feed(
    pg_dsn: str, tmp_path: Path
) -> None:
    engine = f"relational: {{kind: postgres, dsn: '{pg_dsn}'}}"
    one = ApiDeployment(tmp_path / "one", relational=engine)
    two = ApiDeployment(tmp_path / "two", relational=engine, users=False)
    try:
        one.start()
        two.start()
        alert = one.raise_alert(subject="wl-bridge", kind="level", severity="red")
        got: list[tuple[float, str, dict[str, Any]]] = []
        threading.Thread(target=_events, args=(two, two.token("op"), got), daemon=True).start()
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            time.sleep(0.01)
        assert got, "node two's feed did not start"
        acked_at = time.monotonic()
        reply = httpx.post(f"{one.base}/api/alerts/{alert.id}/acknowledge", json={},
                           headers={"Authorization": f"Bearer {one.token('op')}"})  # fmt: skip
        assert reply.status_code == 200, reply.text
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            seen = [
                (at, a) for at, kind, a in got if kind == "alert" and a["state"] == "acknowledged"
            ]
            if seen:
                break
            time.sleep(0.01)
        assert seen, "the acknowledge did not reach the other node's feed"
        at, data = seen[0]
        assert data["id"] == alert.id and data["acknowledged_by"] == "op"
        log.info("acknowledged on node one, in node two's feed after %.3f s", at - acked_at)
    finally:
        two.close()
        one.close()
