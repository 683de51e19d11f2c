"""The ingester signing in to a NATS cluster that requires a user and password, and over TLS:
the right credentials ingest, wrong ones are refused in words that name the servers and the
setting to check — never the password."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import paho.mqtt.client as paho
import pytest

from villagewatch.ingest.natsource import MQTT_STORE
from villagewatch_dev.natscluster import NatsCluster
from villagewatch_dev.servers import TlsFiles, make_test_tls

from .helpers import IngesterProcess, publish_through_outages, reading, wait_until
from .test_nats_ingest import _counts, _deployment

USER, PASSWORD = "vw-ingest", "right-horse-battery"
WRONG = "wrong-staple-9"


def _password_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "nats.password"
    path.write_text(text + "\n")
    path.chmod(mode)
    return path


def _run_to_refusal(settings: Path) -> subprocess.CompletedProcess[str]:
    """Run the ingester expecting it to give up at start."""
    return subprocess.run(
        [sys.executable, "-m", "villagewatch", "ingest", "--config", str(settings)],
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip


def _ingest_one(settings: Path, db: Path, cluster: NatsCluster) -> None:
    port = orjson.loads(settings.read_bytes())["ingest"]["metrics_port"]
    ingester = IngesterProcess(settings, port).start()
    try:
        publish_through_outages(
            next(n for n in cluster.nodes if n.running).mqtt_port, [reading("wl-000", 1)], pace=100,
            protocol=paho.MQTTv311, login=(USER, PASSWORD),
        )  # fmt: skip
        wait_until(lambda: _counts(db)[0] >= 1, timeout=20, what="the reading stored")
        assert _counts(db) == (1, 1)
        assert ingester.terminate() == 0
    finally:
        ingester.kill()


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[NatsCluster]:
    """Three nodes that require a user and password, NATS and MQTT alike."""
    nodes = NatsCluster(tmp_path / "nats", users={USER: PASSWORD})
    try:
        yield nodes.start()
    finally:
        nodes.close()


def test_the_right_password_ingests(tmp_path: Path, guarded: NatsCluster) -> None:
    settings, db = _deployment(
        tmp_path, guarded, username=USER, password_file=str(_password_file(tmp_path, PASSWORD))
    )
    _ingest_one(settings, db, guarded)


def test_a_wrong_password_is_refused_naming_the_servers_not_the_password(
    tmp_path: Path, guarded: NatsCluster
) -> None:
    settings, _ = _deployment(
        tmp_path, guarded, username=USER, password_file=str(_password_file(tmp_path, WRONG))
    )
    done = _run_to_refusal(settings)
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert "refused user 'vw-ingest': authorization violation" in out, out
    assert guarded.nodes[0].url in out, out
    assert WRONG not in out and PASSWORD not in out


def test_no_user_at_all_is_refused_in_words(tmp_path: Path, guarded: NatsCluster) -> None:
    settings, _ = _deployment(tmp_path, guarded)
    done = _run_to_refusal(settings)
    assert done.returncode != 0
    assert "refused a client without a user name" in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("content", "mode", "expected"),
    [
        pytest.param(None, 0o600, "cannot read the password file", id="missing"),
        pytest.param("", 0o600, "the password file is empty", id="empty"),
    ],
)
def test_a_password_file_that_cannot_be_used_is_refused_before_connecting(
    tmp_path: Path, guarded: NatsCluster, content: str | None, mode: int, expected: str
) -> None:
    path = tmp_path / "nats.password"
    if content is not None:
        _password_file(tmp_path, content, mode)
    settings, _ = _deployment(tmp_path, guarded, username=USER, password_file=str(path))
    done = _run_to_refusal(settings)
    out = done.stdout + done.stderr
    assert done.returncode != 0
    assert expected in out and "password_file" in out and str(path) in out, out


def test_a_world_readable_password_file_works_with_a_warning(
    tmp_path: Path, guarded: NatsCluster
) -> None:
    path = _password_file(tmp_path, PASSWORD, 0o644)
    settings, db = _deployment(tmp_path, guarded, username=USER, password_file=str(path))
    _ingest_one(settings, db, guarded)
    log = (settings.parent / "ingest.log").read_text()
    assert "can be read by every user of this machine (mode 644)" in log, log


def test_one_node_down_at_start_the_ingester_signs_in_to_another(
    tmp_path: Path, guarded: NatsCluster
) -> None:
    """The node killed leads NATS's MQTT store: the ingester waits out the election (before:
    it gave up at start with "cannot read NATS stream $MQTT_msgs: nats: timeout")."""
    leader = _mqtt_store_leader(guarded)
    guarded.node(leader).kill()
    guarded.wait_for_leader()
    settings, db = _deployment(
        tmp_path, guarded, username=USER, password_file=str(_password_file(tmp_path, PASSWORD))
    )
    _ingest_one(settings, db, guarded)


def _mqtt_store_leader(cluster: NatsCluster) -> str:
    """The node leading ``$MQTT_msgs``, from a node's monitoring (no sign-in needed)."""
    url = f"http://127.0.0.1:{cluster.nodes[0].monitor_port}/jsz?streams=1"
    report = httpx.get(url, timeout=5).json()
    streams = [s for a in report["account_details"] for s in a["stream_detail"]]
    leader: str = next(s for s in streams if s["name"] == MQTT_STORE)["cluster"]["leader"]
    return leader


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    return make_test_tls(tmp_path / "tls")


def test_over_tls_with_the_servers_ca_it_ingests(tmp_path: Path, tls_files: TlsFiles) -> None:
    cluster = NatsCluster(tmp_path / "nats", users={USER: PASSWORD}, tls=tls_files)
    try:
        cluster.start()
        assert cluster.urls[0].startswith("tls://")
        settings, db = _deployment(
            tmp_path, cluster, username=USER,
            password_file=str(_password_file(tmp_path, PASSWORD)),
            tls={"ca_file": str(tls_files.ca)},
        )  # fmt: skip
        _ingest_one(settings, db, cluster)
    finally:
        cluster.close()


def test_over_tls_a_ca_that_did_not_sign_the_servers_is_refused_in_words(
    tmp_path: Path, tls_files: TlsFiles
) -> None:
    other = make_test_tls(tmp_path / "other")
    cluster = NatsCluster(tmp_path / "nats", tls=tls_files)
    try:
        cluster.start()
        settings, _ = _deployment(tmp_path, cluster, tls={"ca_file": str(other.ca)})
        done = _run_to_refusal(settings)
    finally:
        cluster.close()
    out = done.stdout + done.stderr
    assert done.returncode != 0
    assert "TLS with NATS at tls://127.0.0.1:" in out and "ingest.bus.tls" in out, out


def test_a_ca_file_that_is_no_certificate_is_refused_before_connecting(
    tmp_path: Path, guarded: NatsCluster
) -> None:
    bogus = tmp_path / "ca.crt"
    bogus.write_text("not a certificate\n")
    settings, _ = _deployment(tmp_path, guarded, tls={"ca_file": str(bogus)})
    done = _run_to_refusal(settings)
    out = done.stdout + done.stderr
    assert done.returncode != 0
    assert "not a usable CA certificate" in out and "ingest.bus.tls.ca_file" in out, out
