"""Two ``villagewatch detect`` processes share four villages in two partitions through leases
in one SQLite detect file. SIGKILL of a partition's holder mid-flood: the other process takes
the partition over, goes on from the last commit and reads what was sent while nobody held
it; every transition is recorded exactly once. The killed process, restarted, steals
nothing."""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Self

import orjson
import pytest

from tests.faults import Campaign
from villagewatch.config import load_deployment
from villagewatch.contract import DeadLetter
from villagewatch.detect.engine import DetectEngine
from villagewatch.detect.sources import decoder_for
from villagewatch.transitions import transition_id
from villagewatch_dev.servers import Mosquitto, free_port

from .helpers import (
    NOW_MS,
    ServiceProcess,
    SteppedClock,
    publish_all,
    wait_until,
    write_deployment,
)
from .test_detect_service import GAUGE_LEVELS

pytestmark = pytest.mark.campaign

VILLAGES = ("va", "vb", "vc", "vd")
PARTITIONS = {"north": ["va", "vb"], "south": ["vc", "vd"]}
LEASE_S = 4
N = 1200
MINUTE = 60_000
START = NOW_MS - (N + 100) * MINUTE


class ClaimingDetect(ServiceProcess):
    """``villagewatch detect`` with ``detect.claim``: started once its metrics are served
    (it may hold no partition at all)."""

    command = "detect"

    def __init__(self, settings: Path, *, env: dict[str, str] | None = None) -> None:
        port = load_deployment(settings).settings.detect.metrics_port
        assert port is not None
        super().__init__(settings, port, env=env)

    def start(self) -> Self:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "villagewatch", "detect", "--config", str(self.settings)],
                stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
            )  # fmt: skip
        wait_until(
            lambda: self.held() is not None or not self.alive(), timeout=30, what="detect serving"
        )
        assert self.alive(), self.log_text()
        return self

    def held(self) -> float | None:
        """How many partitions it holds (None: not serving its metrics)."""
        return self.metric("villagewatch_detect_partitions_held")

    def connected(self) -> float | None:
        """How many of them have their session connected: a partition's session exists at
        the broker (and queues its messages) from its first connection on."""
        return self.metric("villagewatch_detect_partitions_connected")


def level_at(i: int, village: int) -> float:
    """Floods through every band, each village out of step with the others."""
    return round(150 + 130 * math.sin(2 * math.pi * (i + 70 * village) / 300), 1)


def reading(village: str, i: int, level: float) -> tuple[str, bytes]:
    body = {
        "v": 1, "device": "wl-000", "boot": "b1",
        "reading": {"seq": i, "ts": START + i * MINUTE, "clock": "synced", "level_cm": level},
    }  # fmt: skip
    return f"vw/v1/{village}/wl-000/telemetry", orjson.dumps(body)


def stream(villages: Sequence[str] = VILLAGES, n: int = N) -> list[tuple[str, bytes]]:
    """``n`` readings of each village's gauge, interleaved."""
    return [reading(v, i, level_at(i, k)) for i in range(n) for k, v in enumerate(villages)]


def as_villages(base: Path, villages: tuple[str, ...]) -> dict[str, Any]:
    """The one village write_deployment made beside ``base``, copied as each of ``villages``;
    ``base``'s settings, listing those copies."""
    village = orjson.loads((base.parent / "village.yaml").read_bytes())
    for vid in villages:
        (base.parent / f"{vid}.yaml").write_bytes(orjson.dumps({**village, "id": vid}))
    settings: dict[str, Any] = orjson.loads(base.read_bytes())
    settings["villages"] = [f"{vid}.yaml" for vid in villages]
    return settings


def write_settings(tmp_path: Path, mqtt_port: int) -> tuple[Path, Path]:
    """Two settings files (one per process: their metrics ports and how many partitions each
    may hold differ), the same villages, partitions, client id and detect file."""
    base = write_deployment(
        tmp_path, mqtt_port=mqtt_port, store={"kind": "sqlite", "path": "readings.db"},
        devices=1, village_detect={"devices": {"wl-000": {"level": GAUGE_LEVELS}}},
    )  # fmt: skip
    settings = as_villages(base, VILLAGES)
    out = []
    for name, most in (("a", 1), ("b", 2)):
        settings["detect"] = {
            "client_id": "vw-detect", "partitions": PARTITIONS, "flush_interval_s": 0.25,
            "batch_max_messages": 100_000, "metrics_port": free_port(),
            "claim": {"max_partitions": most, "lease_s": LEASE_S},
        }  # fmt: skip
        path = tmp_path / f"settings-{name}.yaml"
        path.write_bytes(orjson.dumps(settings))
        out.append(path)
    return out[0], out[1]


def expected_ids(
    settings: Path, messages: list[tuple[str, bytes]], villages: Sequence[str] = VILLAGES
) -> dict[str, list[str]]:
    """Per village, what one uninterrupted pass decides (the offline watch aside)."""
    deployment = load_deployment(settings)
    decoder = decoder_for(deployment, list(villages))
    engine = DetectEngine(deployment.villages, now_ms=NOW_MS)
    out: dict[str, list[str]] = {v: [] for v in villages}
    for topic, payload in messages:
        decoded = decoder.decode(topic, payload, time.time_ns())
        assert not isinstance(decoded, DeadLetter), decoded
        for t in engine.handle(decoded, NOW_MS):
            if t.key.detector != "offline":
                out[t.key.village].append(transition_id(t))
    return out


def query(db: Path, sql: str, *args: Any) -> list[Any]:
    if not db.exists():
        return []
    with sqlite3.connect(db, timeout=10) as conn:
        return conn.execute(sql, args).fetchall()


def recorded_ids(db: Path, villages: Sequence[str] = VILLAGES) -> dict[str, list[str]]:
    """Per village, the transitions in detect's file, in the order they were recorded."""
    rows = query(
        db, "SELECT village, id FROM transitions WHERE detector != 'offline' ORDER BY rowid"
    )
    out: dict[str, list[str]] = {v: [] for v in villages}
    for village, tid in rows:
        out[village].append(tid)
    return out


def holders(db: Path) -> dict[str, tuple[str, int]]:
    """Partition → (holder, generation)."""
    try:
        rows = query(db, "SELECT name, holder, generation FROM leases")
    except sqlite3.OperationalError:  # not made yet
        return {}
    return {name: (holder, generation) for name, holder, generation in rows}


def committed(db: Path) -> dict[str, int]:
    """Village → the highest committed sequence number of its gauge."""
    return highest_seqs(query(db, "SELECT owner, state FROM state WHERE owner LIKE '%/wl-000'"))


def highest_seqs(rows: Iterable[tuple[str, str]]) -> dict[str, int]:
    """Village → the highest sequence number its gauge's saved state remembers, from
    (owner, state JSON) rows of detect's state table."""
    out = {}
    for owner, state in rows:
        seqs = orjson.loads(state)["seen"]["readings"].values()
        out[owner.split("/")[0]] = max((s for ss in seqs for s in ss), default=-1)
    return out


def test_sigkill_of_a_partitions_holder_hands_it_over_without_loss_or_duplicates(
    mosquitto: Mosquitto, tmp_path: Path, campaign: Campaign
) -> None:
    settings_a, settings_b = write_settings(tmp_path, mosquitto.port)
    db = tmp_path / "var" / "detect.db"
    messages = stream()
    want = expected_ids(settings_a, messages)
    assert all(len(ids) >= 8 for ids in want.values()), "each gauge should cross the bands"

    a = ClaimingDetect(settings_a).start()
    wait_until(lambda: a.held() == 1, timeout=30, what="a holds one partition")
    (a_name,) = [p for p, (h, _) in holders(db).items() if h]
    b = ClaimingDetect(settings_b).start()
    wait_until(
        lambda: a.connected() == 1 and b.connected() == 1, timeout=30,
        what="both partitions' sessions connected (before that, nothing is queued for them)",
    )  # fmt: skip
    a_holder, a_generation = holders(db)[a_name]
    publisher = threading.Thread(
        target=publish_all, args=(mosquitto.port, messages), kwargs={"pace": 400}
    )
    publisher.start()
    restarted: ClaimingDetect | None = None
    try:
        a_villages = PARTITIONS[a_name]
        wait_until(
            lambda: min(committed(db).get(v, -1) for v in a_villages) > N // 4,
            timeout=60, what="a's villages mid-stream",
        )  # fmt: skip
        a.kill()
        killed = time.monotonic()
        wait_until(
            lambda: holders(db)[a_name][0] not in ("", a_holder), timeout=60,
            what="b takes a's partition over",
        )  # fmt: skip
        took_over_s = time.monotonic() - killed
        assert holders(db)[a_name][1] == a_generation + 1
        restarted = ClaimingDetect(settings_a).start()
        publisher.join()
        wait_until(
            lambda: all(committed(db).get(v) == N - 1 for v in VILLAGES), timeout=90,
            what="the whole stream committed",
        )  # fmt: skip
        for partition in PARTITIONS:  # its partitions' services' metrics, labelled
            assert b.metric("villagewatch_detect_broker_connected", f'partition="{partition}"') == 1
        time.sleep(2 * LEASE_S)  # the restarted process has had time to steal, if it would
        assert restarted.held() == 0
        assert holders(db)[a_name][1] == a_generation + 1, "nothing changed hands again"
    finally:
        if restarted is not None:
            restarted.terminate()
        b.terminate()
        a.kill()
    got = recorded_ids(db)
    fires = sum(1 for ids in want.values() for i in ids if "#fire@" in i)
    flat_want = {i for ids in want.values() for i in ids}
    flat_got = [i for ids in got.values() for i in ids]
    campaign.row(
        f"detect holding a partition SIGKILLed, {len(messages):,} readings over 4 villages "
        f"(taken over in {took_over_s:.1f} s, lease_s {LEASE_S})",
        offered=len(messages), stored=sum(committed(db).values()) + len(VILLAGES),
        alerts_expected=fires, alerts_raised=sum(1 for i in flat_got if "#fire@" in i),
        lost=len(flat_want - set(flat_got)), duplicated=len(flat_got) - len(set(flat_got)),
    )  # fmt: skip
    assert got == want, "each village's transitions exactly once, in order, none missing"
    assert [h for h, _ in holders(db).values()] == ["", ""], "a clean stop frees the leases"


def test_a_paused_holder_whose_partition_was_taken_writes_nothing_more_and_steals_nothing(
    mosquitto: Mosquitto, tmp_path: Path, campaign: Campaign
) -> None:
    """Also with a wrong clock: the paused process's an hour ahead, stepped to two hours
    behind while it is paused (leases read no wall clock)."""
    settings_a, settings_b = write_settings(tmp_path, mosquitto.port)
    db = tmp_path / "var" / "detect.db"
    messages = stream()
    want = expected_ids(settings_a, messages)
    (tmp_path / "a").mkdir()
    clock_a = SteppedClock(tmp_path / "a")
    clock_a.step("+1h")
    a = ClaimingDetect(settings_a, env=clock_a.env).start()
    wait_until(lambda: a.held() == 1, timeout=30, what="a holds one partition")
    (a_name,) = [p for p, (h, _) in holders(db).items() if h]
    b = ClaimingDetect(settings_b).start()
    wait_until(
        lambda: a.connected() == 1 and b.connected() == 1, timeout=30,
        what="both partitions' sessions connected (before that, nothing is queued for them)",
    )  # fmt: skip
    a_holder, a_generation = holders(db)[a_name]
    publisher = threading.Thread(
        target=publish_all, args=(mosquitto.port, messages), kwargs={"pace": 400}
    )
    publisher.start()
    try:
        wait_until(
            lambda: min(committed(db).get(v, -1) for v in PARTITIONS[a_name]) > N // 4,
            timeout=60, what="a's villages mid-stream",
        )  # fmt: skip
        assert a.proc is not None
        a.proc.send_signal(signal.SIGSTOP)  # a stalled VM, a long GC pause
        clock_a.step("-2h")
        try:
            wait_until(
                lambda: holders(db)[a_name][0] not in ("", a_holder), timeout=60,
                what="b takes the paused process's partition",
            )  # fmt: skip
            time.sleep(1)  # b connected with the partition's session: a's is gone
        finally:
            a.proc.send_signal(signal.SIGCONT)
        wait_until(lambda: a.held() == 0, timeout=30, what="a drops the partition")
        publisher.join()
        wait_until(
            lambda: all(committed(db).get(v) == N - 1 for v in VILLAGES), timeout=90,
            what="the whole stream committed",
        )  # fmt: skip
        assert a.alive() and a.held() == 0
        assert holders(db)[a_name][1] == a_generation + 1, "no ping-pong of the partition"
    finally:
        a.terminate()  # first: it holds nothing, so b's clean stop frees both partitions
        b.terminate()
    got = recorded_ids(db)
    flat_want = {i for ids in want.values() for i in ids}
    flat_got = [i for ids in got.values() for i in ids]
    campaign.row(
        "detect holding a partition paused (SIGSTOP) past its lease, then resumed",
        offered=len(messages), stored=sum(committed(db).values()) + len(VILLAGES),
        alerts_expected=sum(1 for i in flat_want if "#fire@" in i),
        alerts_raised=sum(1 for i in flat_got if "#fire@" in i),
        lost=len(flat_want - set(flat_got)), duplicated=len(flat_got) - len(set(flat_got)),
    )  # fmt: skip
    assert got == want, "each village's transitions exactly once, in order, none missing"
    assert f"Partition {a_name} dropped" in a.log_text()


def test_a_process_whose_partitions_disagree_with_a_live_holders_takes_none_of_them(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    settings_a, settings_b = write_settings(tmp_path, mosquitto.port)
    careless = orjson.loads(settings_b.read_bytes())
    careless["detect"]["partitions"] = {"north": ["va"], "east": ["vb", "vc", "vd"]}
    settings_b.write_bytes(orjson.dumps(careless))
    edited = orjson.loads(settings_a.read_bytes())
    edited["detect"]["claim"]["max_partitions"] = 2
    settings_a.write_bytes(orjson.dumps(edited))
    db = tmp_path / "var" / "detect.db"
    a = ClaimingDetect(settings_a).start()
    wait_until(lambda: a.held() == 2, timeout=30, what="a holds both partitions")
    b = ClaimingDetect(settings_b).start()
    try:
        wait_until(
            lambda: "NOT TAKING partition east" in b.log_text(), timeout=30, what="b refuses"
        )
        log = b.log_text()
        assert "NOT TAKING partition north (va)" in log and "it holds 'north' as 'va,vb'" in log
        assert "it holds 'vc,vd' in partition 'south'" in log
        assert "Every detect process must have the same detect.partitions" in log
        assert b.held() == 0
        assert set(holders(db)) == {"north", "south"}
    finally:
        b.terminate()
        a.terminate()
