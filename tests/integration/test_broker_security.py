"""The shipped broker config with generated credentials, against a real Mosquitto: a device
publishes only its own topics, cannot take another identity's client id, reads nothing of
others, and cannot make the broker keep its evidence pictures.

The broker runs ``config/mosquitto/mosquitto.conf`` as shipped (ports, certificate and file
paths aside: :meth:`Mosquitto.production`) with the password and ACL files that
``villagewatch broker credentials`` writes for the shipped production settings — plus a second
village with an agent of its own, to have another identity's data to steal.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions
from typer.testing import CliRunner

from tests.faults import Campaign
from villagewatch.cli import app
from villagewatch_dev.servers import Mosquitto, TlsFiles, free_port, make_test_tls
from villagewatch_dev.testing import TINY_JPEG

from .helpers import IngesterProcess, close_threaded, wait_until

pytestmark = pytest.mark.campaign

REPO = Path(__file__).resolve().parents[2]
PRODUCTION = REPO / "config/production/villagewatch.yaml"
DEMO_VILLAGE = REPO / "config/demo/dongcun.yaml"
NOT_AUTHORISED = 0x87

XICUN = {
    "id": "xicun",
    "name": "西村",
    "town": "qiaotou",
    "grids": [{"id": "g1", "name": "one"}],
    "devices": [
        {"id": "wl-x1", "kind": "water_level", "grid": "g1", "agent": "edge-xicun"},
        {"id": "cam-x1", "kind": "camera", "grid": "g1", "agent": "edge-xicun"},
    ],
}


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TlsFiles]:
    """Credentials generated from the shipped production settings and a second settings file
    (village xicun; ingester vw-ingest-2, our observer); a test CA and broker certificate."""
    root = tmp_path_factory.mktemp("shipped")
    (root / "xicun.yaml").write_bytes(orjson.dumps(XICUN))
    second = root / "second.yaml"
    second.write_bytes(
        orjson.dumps({"villages": ["xicun.yaml"], "ingest": {"client_id": "vw-ingest-2"}})
    )
    creds = root / "creds"
    args = ["broker", "credentials", "-c", str(PRODUCTION), "-c", str(second), "--out", str(creds)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return creds, make_test_tls(root / "tls")


@pytest.fixture
def broker(tmp_path: Path, shipped: tuple[Path, TlsFiles]) -> Iterator[Mosquitto]:
    creds, tls = shipped
    server = Mosquitto.production(
        tmp_path / "mosquitto",
        passwd=creds / "villagewatch.passwd",
        acl=creds / "villagewatch.acl",
        tls=tls,
    ).start()
    yield server
    server.kill()


class Peer:
    """A paho MQTT 5 client signed in as one identity, over the broker's TLS listener (or its
    plain loopback one); it keeps what it receives, each PUBACK's reason code, its
    disconnects."""

    def __init__(
        self,
        broker: Mosquitto,
        shipped: tuple[Path, TlsFiles],
        identity: str | None,
        *,
        client_id: str | None = None,
        session_expiry_s: int = 0,
        plain: bool = False,
    ) -> None:
        creds, tls = shipped
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or identity or "anonymous",
            protocol=paho.MQTTv5,
        )
        if identity is not None:
            password = (creds / f"{identity}.password").read_text().strip()
            self.client.username_pw_set(identity, password)
        if not plain:
            self.client.tls_set(ca_certs=str(tls.ca))
        self.received: list[tuple[str, bytes, bool]] = []
        self.acks: dict[int, int] = {}
        self.disconnects: list[str] = []
        self.refused: int | None = None
        self._connected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda _c, _u, m: self.received.append(
            (m.topic, bytes(m.payload), bool(m.retain))
        )
        self.client.on_publish = lambda _c, _u, mid, rc, _p: self.acks.__setitem__(mid, rc.value)
        self.client.on_disconnect = lambda _c, _u, _f, rc, _p: self.disconnects.append(str(rc))
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = session_expiry_s
        port = broker.port if plain else broker.tls_port
        assert port is not None
        self.client.connect("127.0.0.1", port, clean_start=session_expiry_s == 0, properties=props)
        self.client.loop_start()
        wait_until(self._connected.is_set, timeout=20, what=f"{identity} connected")

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.refused = reason.value
        self._connected.set()

    def subscribe(self, *filters: str, retain_as_published: bool = False) -> None:
        """Subscribe (QoS 1) and wait for the SUBACK."""
        done = threading.Event()
        self.client.on_subscribe = lambda *_a: done.set()
        options = SubscribeOptions(qos=1, retainAsPublished=retain_as_published)
        self.client.subscribe([(f, options) for f in filters])
        assert done.wait(20), "no SUBACK"

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> int:
        """Publish at QoS 1 and return the PUBACK's reason code."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        wait_until(lambda: info.mid in self.acks, timeout=20, what=f"PUBACK for {topic}")
        return self.acks[info.mid]

    def topics(self) -> list[str]:
        return [t for t, _, _ in self.received]

    def close(self) -> None:
        close_threaded(self.client)  # with loop_start's wake-up sockets, not left to the GC


@pytest.fixture
def peers(broker: Mosquitto, shipped: tuple[Path, TlsFiles]) -> Iterator[Any]:
    """Makes :class:`Peer` clients on the broker; closes them after the test."""
    made: list[Peer] = []

    def make(identity: str | None, **kwargs: Any) -> Peer:
        made.append(Peer(broker, shipped, identity, **kwargs))
        return made[-1]

    yield make
    for peer in made:
        peer.close()


@pytest.fixture
def ingesters() -> Iterator[list[IngesterProcess]]:
    """Ingester processes a test starts; killed after it, whatever happened."""
    started: list[IngesterProcess] = []
    yield started
    for ingester in started:
        ingester.kill()


def reading(device: str, seq: int, village: str = "dongcun") -> tuple[str, bytes]:
    body = {
        "v": 1,
        "device": device,
        "boot": "b1",
        "reading": {"seq": seq, "ts": int(time.time() * 1000), "clock": "synced", "level_cm": 90},
    }
    return f"vw/v1/{village}/{device}/telemetry", orjson.dumps(body)


def status(agent: str, village: str = "dongcun") -> tuple[str, bytes]:
    body = {"v": 1, "agent": agent, "boot": "b1", "state": "online", "devices": []}
    return f"vw/v1/{village}/{agent}/status", orjson.dumps(body)


def test_every_client_signs_in(peers: Any) -> None:
    """allow_anonymous false, on the TLS listener as shipped."""
    assert peers(None).refused == NOT_AUTHORISED  # paho's "Not authorized" (0x87)


def test_a_device_publishes_only_its_own_topics(peers: Any, campaign: Campaign) -> None:
    observer = peers("vw-ingest-2")  # reads telemetry, event and evidence of every village
    observer.subscribe("vw/v1/+/+/telemetry", "vw/v1/+/+/event", "vw/v1/+/+/evidence/+")
    watcher = peers("vw-detect-1")  # reads status
    watcher.subscribe("vw/v1/+/+/status")
    writer = peers("vw-config")  # reads configs and what the agents report
    writer.subscribe("vw/v1/+/+/config", "vw/v1/+/+/config/reported")
    agent = peers("edge-bridge")
    foreign = [
        reading("wl-sluice", 1),  # a device of no agent
        reading("wl-x1", 1, "xicun"),  # another agent's device
        status("edge-xicun", "xicun"),  # another agent's status
        status("wl-bridge"),  # its own device speaks for no agent
        ("vw/v1/dongcun/edge-bridge/config", b'{"v": 1, "version": 9, "config": {}}'),
        ("vw/v1/dongcun/lock-a01/evidence/e1", TINY_JPEG),  # not a camera
        ("vw/v1/dongcun/cam-market/evidence/e2", TINY_JPEG),  # another camera
        ("vw/v1/xicun/edge-xicun/config/reported", b"{}"),
    ]
    refused = sum(agent.publish(topic, payload) == NOT_AUTHORISED for topic, payload in foreign)
    own = [
        reading("wl-bridge", 1),
        reading("rain-north", 1),
        ("vw/v1/dongcun/sos-square/event", b"{}"),
        ("vw/v1/dongcun/cam-bridge/evidence/e3", TINY_JPEG),
        status("edge-bridge"),
        ("vw/v1/dongcun/edge-bridge/config/reported", b"{}"),
    ]
    for topic, payload in own:
        assert agent.publish(topic, payload) < 0x80, topic
    wait_until(lambda: len(observer.received) == 4, timeout=20, what="the agent's own data")
    wait_until(lambda: watcher.received and writer.received, timeout=20, what="status, report")
    delivered = observer.topics() + watcher.topics() + writer.topics()
    mine = {t for t, _ in own}
    campaign.row(
        f"an edge credential publishes {len(own)} messages of its own and {len(foreign)} on "
        "others' topics (refused; a leak would count as duplicated)",
        offered=len(own), stored=sum(t in mine for t in delivered),
        lost=len(own) - len(set(delivered) & mine),
        duplicated=len(foreign) - refused + sum(t not in mine for t in delivered),
    )  # fmt: skip
    assert refused == len(foreign)
    assert observer.topics() == [t for t, _ in own[:4]]
    assert watcher.topics() == ["vw/v1/dongcun/edge-bridge/status"]
    assert writer.topics() == ["vw/v1/dongcun/edge-bridge/config/reported"]


def test_a_device_cannot_take_over_a_session_with_another_identitys_client_id(
    tmp_path: Path,
    broker: Mosquitto,
    shipped: tuple[Path, TlsFiles],
    peers: Any,
    ingesters: list[IngesterProcess],
    campaign: Campaign,
) -> None:
    """An edge credential connecting with client id ``vw-ingest-1`` neither disconnects the
    ingester nor wipes its session: the 100 readings queued while it was away all arrive."""
    ingest = peers("vw-ingest-1", session_expiry_s=3600)
    ingest.subscribe("vw/v1/+/+/telemetry")
    for plain in (False, True):  # each listener binds ids to names
        # a clean start with the ingester's id: would take its session over and drop it
        thief = peers("edge-bridge", client_id="vw-ingest-1", plain=plain)
        assert thief.refused is None
        assert thief.publish(*reading("wl-bridge", len(ingest.received))) < 0x80
        thief.close()
    wait_until(lambda: len(ingest.received) == 2, timeout=20, what="both readings arriving")
    assert ingest.disconnects == []  # never taken over
    ingest.close()  # the real ingester now: the same identity, the same persistent session

    ingester = IngesterProcess(*ingester_settings(tmp_path, broker, shipped))
    ingesters.append(ingester.start())
    assert ingester.terminate() == 0  # away; the broker keeps its session and queues for it
    device = peers("edge-bridge")
    for seq in range(2, 102):
        assert device.publish(*reading("wl-bridge", seq)) < 0x80
    device.close()
    peers("edge-bridge", client_id="vw-ingest-1").close()  # the takeover attempt, clean start
    ingester.start()
    wait_until(
        lambda: ingester.metric("villagewatch_ingest_readings_stored_total") == 100,
        timeout=60,
        what="the 100 queued readings stored",
    )
    stored = int(ingester.metric("villagewatch_ingest_readings_stored_total") or 0)
    campaign.row(
        "an edge credential connects as vw-ingest-1 while 100 readings wait for the ingester",
        offered=100, stored=stored, lost=100 - stored,
    )  # fmt: skip


@pytest.mark.parametrize("share_group", [None, "ingest"], ids=["plain", "shared"])
def test_a_device_cannot_make_the_broker_keep_its_evidence(
    tmp_path: Path,
    broker: Mosquitto,
    shipped: tuple[Path, TlsFiles],
    peers: Any,
    ingesters: list[IngesterProcess],
    share_group: str | None,
    campaign: Campaign,
) -> None:
    """Pictures published retained are stored, and the broker keeps none of them: a new
    subscriber gets no retained copy. The ingester's own clears (which a shared subscription
    hands back to it) are no dead letters."""
    settings = ingester_settings(tmp_path, broker, shipped, share_group=share_group)
    ingester = IngesterProcess(*settings)
    ingesters.append(ingester.start())
    camera = peers("edge-bridge")
    pictures = 20
    for i in range(pictures):
        topic = f"vw/v1/dongcun/cam-bridge/evidence/ev-{i}"
        assert camera.publish(topic, TINY_JPEG, retain=True) < 0x80
    wait_until(
        lambda: (
            ingester.metric("villagewatch_ingest_retained_cleared_total") == pictures
            and ingester.metric("villagewatch_ingest_evidence_stored_total") == pictures
        ),
        timeout=60,
        what="every picture stored and its retained copy cleared",
    )
    late = peers("vw-ingest-2")
    late.subscribe("vw/v1/+/+/evidence/+", retain_as_published=True)
    marker = "vw/v1/dongcun/cam-bridge/evidence/marker"
    assert camera.publish(marker, TINY_JPEG) < 0x80  # comes after any retained copy
    wait_until(lambda: marker in late.topics(), timeout=20, what="the marker picture")
    kept = len(late.received) - 1  # retained copies the broker still held
    stored = int(ingester.metric("villagewatch_ingest_evidence_stored_total") or 0)
    campaign.row(
        f"a camera publishes {pictures} pictures retained ({share_group or 'plain'} "
        "subscription): the broker keeps none",
        offered=pictures, stored=stored, lost=pictures - stored, duplicated=kept,
    )  # fmt: skip
    assert late.received == [(marker, TINY_JPEG, False)]
    wait_until(
        lambda: ingester.metric("villagewatch_ingest_evidence_stored_total") == pictures + 1,
        timeout=30,
        what="the marker stored",
    )
    assert ingester.metric("villagewatch_ingest_rejected_total", 'reason="invalid_payload"') == 0
    assert len(list((tmp_path / "evidence" / "dongcun" / "cam-bridge").glob("*.jpg"))) == 21


def test_a_device_cannot_read_others_data(peers: Any, campaign: Campaign) -> None:
    thief = peers("edge-bridge")
    thief.subscribe("#", "vw/v1/#", "vw/v1/xicun/+/telemetry", "vw/v1/+/+/config")
    other = peers("edge-xicun")
    writer = peers("vw-config")
    watcher = peers("vw-detect-1")
    watcher.subscribe("vw/v1/+/+/telemetry", "vw/v1/+/+/status")
    assert other.publish(*reading("wl-x1", 1, "xicun")) < 0x80
    assert other.publish(*status("edge-xicun", "xicun"), retain=True) < 0x80
    assert thief.publish(*reading("wl-bridge", 1)) < 0x80  # it may write its own, not read it
    config = b'{"v": 1, "version": 1, "config": {}}'
    assert writer.publish("vw/v1/xicun/edge-xicun/config", config, retain=True) < 0x80
    assert writer.publish("vw/v1/dongcun/edge-bridge/config", config, retain=True) < 0x80
    wait_until(lambda: len(watcher.received) == 3, timeout=20, what="the others' data published")
    wait_until(lambda: thief.received, timeout=20, what="its own config")
    leaked = [t for t in thief.topics() if t != "vw/v1/dongcun/edge-bridge/config"]
    campaign.row(
        "an edge credential subscribes to # and to others' topics while others publish 3 "
        "messages (a copy it gets counts as duplicated)",
        offered=3, stored=len(watcher.received), lost=3 - len(watcher.received),
        duplicated=len(leaked),
    )  # fmt: skip
    # once per matching subscription (three of them match it), and nothing else
    assert set(thief.topics()) == {"vw/v1/dongcun/edge-bridge/config"}
    thief.close()
    again = peers("edge-bridge")  # subscribing afresh, when others' data is retained
    again.subscribe("#")
    wait_until(lambda: again.received, timeout=20, what="its own retained config")
    assert again.topics() == ["vw/v1/dongcun/edge-bridge/config"]


def ingester_settings(
    directory: Path,
    broker: Mosquitto,
    shipped: tuple[Path, TlsFiles],
    *,
    share_group: str | None = None,
) -> tuple[Path, int]:
    """The shipped production settings pointed at this broker's TLS listener, with the
    generated credentials and a SQLite store of the test's own (the alert channels left out:
    their secrets are not here, and a service refuses to start without them); and the port
    of the ingester's metrics."""
    creds, tls = shipped
    s = yaml.safe_load(PRODUCTION.read_text(encoding="utf-8"))
    s["mqtt"].update(
        host="127.0.0.1",
        port=broker.tls_port,
        credentials_dir=str(creds),
        tls={"ca_file": str(tls.ca)},
    )
    s["store"] = {"kind": "sqlite", "path": str(directory / "store.db")}
    metrics_port = free_port()
    s["ingest"].update(metrics_port=metrics_port, evidence_dir=str(directory / "evidence"))
    if share_group is not None:
        s["ingest"]["share_group"] = share_group
    s["villages"] = [str(DEMO_VILLAGE)]
    s["detect"]["state_path"] = str(directory / "detect.db")
    del s["alerts"]
    path = directory / "settings.yaml"
    path.write_text(yaml.safe_dump(s, allow_unicode=True), encoding="utf-8")
    return path, metrics_port


def test_absolute_secret_paths_are_used_and_an_unreadable_one_stops_the_start(
    tmp_path: Path,
    broker: Mosquitto,
    shipped: tuple[Path, TlsFiles],
    peers: Any,
    ingesters: list[IngesterProcess],
    campaign: Campaign,
) -> None:
    """The shipped edge.yaml names its password and CA by absolute paths, which used to vanish:
    the client connected with no password and no TLS. Here an ingester signs in over TLS with
    an absolute password file and CA; with a password file it cannot read it does not start."""
    creds, _ = shipped
    settings, metrics_port = ingester_settings(tmp_path, broker, shipped)
    s = yaml.safe_load(settings.read_text(encoding="utf-8"))
    del s["mqtt"]["credentials_dir"]
    s["mqtt"].update(username="vw-ingest-1", password_file=str(creds / "vw-ingest-1.password"))
    settings.write_text(yaml.safe_dump(s, allow_unicode=True), encoding="utf-8")
    ingester = IngesterProcess(settings, metrics_port)
    ingesters.append(ingester.start())
    device = peers("edge-bridge")
    for seq in range(50):
        assert device.publish(*reading("wl-bridge", seq)) < 0x80
    wait_until(
        lambda: ingester.metric("villagewatch_ingest_readings_stored_total") == 50,
        timeout=30, what="50 readings over TLS with the absolute paths' password",
    )  # fmt: skip
    stored = int(ingester.metric("villagewatch_ingest_readings_stored_total") or 0)
    assert ingester.terminate() == 0
    s["mqtt"]["password_file"] = str(tmp_path / "nowhere" / "vw-ingest-1.password")
    settings.write_text(yaml.safe_dump(s, allow_unicode=True), encoding="utf-8")
    refused = subprocess.run(
        [sys.executable, "-m", "villagewatch", "ingest", "--config", str(settings)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    campaign.row(
        "an ingester with absolute password and CA paths over TLS (and one it cannot read)",
        offered=50, stored=stored, lost=50 - stored,
    )  # fmt: skip
    assert refused.returncode == 1
    assert "mqtt.password_file: cannot read the password file" in refused.stderr
