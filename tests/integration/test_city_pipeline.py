"""The whole scale-out pipeline on real servers: a three-node NATS JetStream cluster (devices
speak MQTT 3.1.1 to it), VictoriaMetrics, PostgreSQL, and two of every villagewatch role on
two "hosts" (directories that share no file): ingesters, detect processes sharing partitions,
alert engines, API nodes. A reading is stored once, a flood raises one alert that reaches the
webhook once — and SIGKILL of a NATS node, an ingester, a detect, an alert engine and an API
node during a run loses and duplicates nothing, while the surviving API node's live feed goes
on."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from paho.mqtt.enums import MQTTProtocolVersion

from tests.faults import Campaign
from villagewatch.alerts.outbox import CLAIM_MS
from villagewatch_dev.natscluster import NatsCluster
from villagewatch_dev.servers import VictoriaMetrics, free_port

from .helpers import (
    AlertsProcess,
    IngesterProcess,
    publish_through_outages,
    wait_until,
)
from .test_detect_partitions import (
    PARTITIONS,
    VILLAGES,
    ClaimingDetect,
    expected_ids,
    highest_seqs,
    stream,
)
from .test_detect_service import GAUGE_LEVELS
from .webhook import Recorder

pytestmark = pytest.mark.campaign

N = 300
"""Readings per village (one gauge each): 1,200 in all, each village's gauge flooding."""
PASSWORD = "op-password-1"


class Host:
    """One machine's villagewatch: its own directory, settings and ports; every role."""

    def __init__(
        self,
        root: Path,
        *,
        nats_cluster: NatsCluster,
        vm: VictoriaMetrics,
        dsn: str,
        hook: str,
        partitions: int,
    ) -> None:
        """``partitions``: how many this host's detect may hold."""
        root.mkdir(parents=True)
        self.root = root
        village = {
            "name": "Village", "town": "t",
            "grids": [{"id": "g1", "name": "one"}],
            "devices": [{"id": "wl-000", "kind": "water_level", "grid": "g1"}],
            "team": {"channels": ["hook"]},
            "detect": {"devices": {"wl-000": {"level": GAUGE_LEVELS}}},
        }  # fmt: skip
        for vid in VILLAGES:
            (root / f"{vid}.yaml").write_bytes(orjson.dumps({**village, "id": vid}))
        self.ports = {r: free_port() for r in ("ingest", "detect", "alerts", "api")}
        self.api = f"http://127.0.0.1:{self.ports['api']}"
        settings = {
            # NATS's MQTT listener on the first node: detect's sessions (MQTT 3.1.1)
            "mqtt": {"host": "127.0.0.1", "port": nats_cluster.nodes[0].mqtt_port},
            "store": {"kind": "victoria", "url": vm.url, "search_latency_s": 0,
                      "last_values_window_s": 10 * 365 * 86_400},
            "relational": {"kind": "postgres", "dsn": dsn},
            "ingest": {"bus": {"kind": "nats", "servers": nats_cluster.urls, "ack_wait_s": 5},
                       "metrics_port": self.ports["ingest"], "flush_interval_s": 0.05,
                       "evidence_min_free_percent": 0},
            "detect": {"client_id": "vw-detect", "partitions": PARTITIONS,
                       "claim": {"max_partitions": partitions, "lease_s": 4}, "flush_interval_s": 0.25,
                       "batch_max_messages": 100_000, "metrics_port": self.ports["detect"]},
            "alerts": {"metrics_port": self.ports["alerts"], "group_wait_s": 0,
                       "channels": {"hook": {"kind": "webhook", "url": hook}}},
            "api": {"host": "127.0.0.1", "port": self.ports["api"], "live_poll_s": 0.1},
            "villages": [f"{vid}.yaml" for vid in VILLAGES],
        }  # fmt: skip
        self.settings = root / "settings.yaml"
        self.settings.write_bytes(orjson.dumps(settings))  # JSON is YAML
        self.ingest = IngesterProcess(self.settings, self.ports["ingest"])
        self.detect = ClaimingDetect(self.settings)
        self.alerts = AlertsProcess(self.settings, self.ports["alerts"])
        self.api_proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Host:
        self.alerts.start()
        self.ingest.start()
        self.detect.start()
        with (self.root / "api.log").open("ab") as log:
            api = self.api_proc = subprocess.Popen(
                [sys.executable, "-m", "villagewatch", "api", "-c", str(self.settings),
                 "--log-level", "warning"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_until(lambda: self.healthy() or api.poll() is not None, timeout=30,
                   what="the API answering")  # fmt: skip
        assert api.poll() is None, (self.root / "api.log").read_text()
        return self

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.api}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def kill_api(self) -> None:
        if self.api_proc is not None and self.api_proc.poll() is None:
            self.api_proc.kill()
            self.api_proc.wait()

    def stop(self) -> None:
        for proc in (self.detect, self.ingest, self.alerts):
            if proc.alive():
                proc.terminate()
        if self.api_proc is not None and self.api_proc.poll() is None:
            self.api_proc.terminate()
            self.api_proc.wait(timeout=30)

    def token(self) -> str:
        reply = httpx.post(f"{self.api}/api/auth/login",
                           json={"user": "op", "password": PASSWORD}, timeout=30)  # fmt: skip
        reply.raise_for_status()
        token = reply.json()["token"]
        assert isinstance(token, str)
        return token


def add_operator(host: Host) -> None:
    subprocess.run(
        [sys.executable, "-m", "villagewatch", "users", "add", "-c", str(host.settings), "op",
         "--role", "operator", "--place", "*", "--password-stdin"],
        input=f"{PASSWORD}\n".encode(), check=True, capture_output=True, timeout=60,
    )  # fmt: skip


class Feed:
    """An open console's live feed (Server-Sent Events) on one API node, in a thread."""

    def __init__(self, host: Host) -> None:
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.ended: str | None = None
        self._url = f"{host.api}/api/alerts/stream"
        self._token = host.token()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            with httpx.stream("GET", self._url, headers={"Authorization": f"Bearer {self._token}"},
                              timeout=httpx.Timeout(30, read=None)) as reply:  # fmt: skip
                for line in reply.iter_lines():
                    if line == "":
                        if fields.get("event") == "alert":
                            self.events.append((time.monotonic(), json.loads(fields["data"])))
                        fields = {}
                    elif not line.startswith(":"):
                        key, _, value = line.partition(": ")
                        fields[key] = value
            self.ended = "the server closed the stream"
        except httpx.HTTPError as exc:
            self.ended = repr(exc)


def query(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(sql).fetchall()


def recorded_ids(dsn: str) -> dict[str, list[str]]:
    rows = query(dsn, "SELECT village, id FROM detect.transitions WHERE detector != 'offline'"
                      " ORDER BY position")  # fmt: skip
    out: dict[str, list[str]] = {v: [] for v in VILLAGES}
    for village, tid in rows:
        out[village].append(tid)
    return out


def committed(dsn: str) -> dict[str, int]:
    """Village → the highest committed sequence number of its gauge."""
    try:
        rows = query(dsn, "SELECT owner, state FROM detect.state WHERE owner LIKE '%/wl-000'")
    except psycopg.Error:  # not made yet
        return {}
    return highest_seqs(rows)


def least_committed(dsn: str) -> int:
    got = committed(dsn)
    return min((got.get(v, -1) for v in VILLAGES), default=-1)


def stored(vm: VictoriaMetrics) -> tuple[set[tuple[str, int]], int]:
    """(the distinct (village, seq) VictoriaMetrics holds, how many samples in all)."""
    seen: set[tuple[str, int]] = set()
    samples = 0
    for series in vm.export('readings_seq{device="wl-000"}'):
        village = series["metric"]["village"]
        samples += len(series["values"])
        seen |= {(village, int(v)) for v in series["values"]}
    return seen, samples


def delivered(recorder: Recorder) -> list[int]:
    """The notification number of each alert of each message the webhook took."""
    return [int(a["notification"]) for r in recorder.accepted() for a in r.body["alerts"]]


def test_the_whole_pipeline_loses_and_duplicates_nothing_when_one_of_each_is_killed(
    nats_cluster: NatsCluster, victoria: VictoriaMetrics, pg_dsn: str, recorder: Recorder,
    tmp_path: Path, campaign: Campaign,
) -> None:  # fmt: skip
    # h1's detect may hold one partition (it starts first, and there is no rebalancing), h2's
    # both: the one it starts with and the one it takes over when h1's detect dies.
    hosts = [
        Host(tmp_path / name, nats_cluster=nats_cluster, vm=victoria, dsn=pg_dsn, hook=recorder.url,
             partitions=most)
        for name, most in (("h1", 1), ("h2", 2))
    ]  # fmt: skip
    one, two = hosts
    messages = stream(VILLAGES, N)
    want = expected_ids(one.settings, messages)
    fires = sum(1 for ids in want.values() for i in ids if "#fire@" in i)
    assert fires >= len(VILLAGES), "each gauge should flood"
    add_operator(one)
    try:
        for host in hosts:
            host.start()
        wait_until(
            lambda: one.detect.held() == 1 and two.detect.held() == 1
            and one.detect.connected() == 1 and two.detect.connected() == 1,
            timeout=60, what="each detect holding one partition, its session connected",
        )  # fmt: skip
        feed = Feed(two)  # the console that stays open on the surviving API node
        publisher = threading.Thread(
            target=publish_through_outages,
            args=(nats_cluster.nodes[0].mqtt_port, messages),
            kwargs={"pace": 40, "timeout": 240, "protocol": MQTTProtocolVersion.MQTTv311},
        )
        publisher.start()
        killed: list[str] = []
        # One of each, in turn, while the readings flow (each a seventh of the way further).
        for step, (what, kill) in enumerate([
            ("NATS node n3", nats_cluster.nodes[2].kill),
            ("ingester on h1", one.ingest.kill),
            ("detect on h1", one.detect.kill),
            ("alert engine on h1", one.alerts.kill),
            ("API node on h1", one.kill_api),
        ]):  # fmt: skip
            mark = (step + 1) * N // 7
            wait_until(lambda m=mark: least_committed(pg_dsn) >= m, timeout=120,  # type: ignore[misc]
                       what=f"detect past seq {mark} before killing the {what}")  # fmt: skip
            kill()
            killed.append(what)
        api_killed_at = time.monotonic()
        publisher.join()
        wait_until(lambda: least_committed(pg_dsn) == N - 1, timeout=120,
                   what="every village's stream committed by detect")  # fmt: skip
        wait_until(lambda: two.detect.held() == 2, timeout=30, what="h2's detect holds both")
        expected_readings = {(v, i) for v in VILLAGES for i in range(N)}
        wait_until(lambda: stored(victoria)[0] >= expected_readings, timeout=60,
                   what="every reading in VictoriaMetrics")  # fmt: skip
        wait_until(
            lambda: query(pg_dsn, "SELECT count(*) FROM alerts.notifications"
                                  " WHERE state != 'sent'") == [(0,)]
            and len(recorder.accepted()) > 0,
            # what the killed alert engine had claimed waits until its claim runs out
            timeout=CLAIM_MS / 1000 + 60, what="every notification sent",
        )  # fmt: skip
        wait_until(lambda: any(at > api_killed_at for at, _ in feed.events), timeout=30,
                   what="the surviving node's feed going on after the other API node died")  # fmt: skip
        feed_ended = feed.ended  # before the hosts stop (which ends it)
    finally:
        for host in hosts:
            host.stop()
    got = recorded_ids(pg_dsn)
    flat_want = {i for ids in want.values() for i in ids}
    flat_got = [i for ids in got.values() for i in ids]
    seqs, samples = stored(victoria)
    alerts = query(pg_dsn, "SELECT village, subject, kind FROM alerts.alerts")
    notifications = query(pg_dsn, "SELECT count(*) FROM alerts.notifications")[0][0]
    sent = delivered(recorder)
    campaign.row(
        "scale-out pipeline (3 NATS nodes, VictoriaMetrics, PostgreSQL, two of each role): "
        + ", ".join(killed) + " SIGKILLed mid-run",
        offered=len(messages), stored=len(seqs & expected_readings),
        alerts_expected=fires, alerts_raised=len(alerts),
        lost=len(expected_readings - seqs) + len(flat_want - set(flat_got)),
        duplicated=samples - len(seqs) + len(flat_got) - len(set(flat_got)),
    )  # fmt: skip
    assert seqs == expected_readings and samples == len(seqs), "each reading stored once"
    assert got == want, "each village's transitions exactly once, in order"
    assert len(alerts) == fires, "one alert per fire, none twice"
    assert len(sent) == len(set(sent)) == notifications, "each notification delivered once"
    assert feed_ended is None, f"the surviving node's live feed ended: {feed_ended}"
    assert {a["village"] for _, a in feed.events} == set(VILLAGES)
