"""Which link detect reads through: JetStream consumers on a NATS bus that captures what the
MQTT listener takes, its MQTT session otherwise."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from villagewatch.config import load_deployment
from villagewatch.detect.link import MqttLink, NatsLink, _detect_channel, detect_link
from villagewatch.detect.service import DetectService
from villagewatch.detect.store import DetectStore
from villagewatch.runtime.ports import free_port

from .test_engine_faults import VILLAGE


def _deployment(tmp_path: Path, bus: dict[str, Any]) -> Any:
    (tmp_path / "village.yaml").write_text(VILLAGE.model_dump_json(), encoding="utf-8")
    settings = {"villages": ["village.yaml"], "ingest": {"bus": bus}}
    if bus["kind"] == "nats":
        settings["mqtt"] = {"protocol": "3.1.1"}
    (tmp_path / "settings.yaml").write_bytes(orjson.dumps(settings))
    return load_deployment(tmp_path / "settings.yaml")


@pytest.mark.parametrize(
    ("bus", "link"),
    [
        ({"kind": "mqtt"}, MqttLink),
        ({"kind": "nats"}, NatsLink),
        ({"kind": "nats", "capture": "stream"}, MqttLink),  # that stream holds no statuses
    ],
)
def test_the_bus_picks_the_link(tmp_path: Path, bus: dict[str, Any], link: type) -> None:
    deployment = _deployment(tmp_path, bus)
    assert isinstance(detect_link(deployment, ["v"], lambda *_: None, lambda _: None), link)


def test_detect_takes_its_three_channels_and_acks_the_rest_unread() -> None:
    assert _detect_channel("vw.v1.v.wl-1.telemetry")
    assert _detect_channel("vw.v1.v.wl-1.event")
    assert _detect_channel("vw.v1.v.agent-1.status")
    assert not _detect_channel("vw.v1.v.cam-1.evidence.e1")
    assert not _detect_channel("vw.v1.v.agent-1.config")
    assert not _detect_channel("vw.v1.v.agent-1.config.reported")


def test_on_nats_every_ack_goes_to_the_consumers(tmp_path: Path) -> None:
    """No generations on NATS: a reconnect keeps the consumers, so every ack counts."""
    service = DetectService(
        deployment=_deployment(tmp_path, {"kind": "nats"}), store=DetectStore(tmp_path / "d.db")
    )
    acked: list[list[tuple[int, int]]] = []
    service._link.acknowledge = acked.append  # type: ignore[method-assign,assignment]
    service._acks = [(1, 0), (2, 0)]
    asyncio.run(service._commit())
    assert acked == [[(1, 0), (2, 0)]]


def test_a_nats_bus_that_cannot_be_used_ends_detect_in_words_not_a_traceback(
    tmp_path: Path,
) -> None:
    """The link's refusal (here: nothing answers at the servers; likewise an old server or a
    wrong password) leaves detect's task group as itself, so the command prints it."""
    dead = f"nats://127.0.0.1:{free_port()}"
    settings = _deployment(tmp_path, {"kind": "nats", "servers": [dead], "connect_timeout_s": 1})
    ran = subprocess.run(
        [sys.executable, "-m", "villagewatch", "detect", "--config", str(settings.source)],
        capture_output=True, text=True, check=False, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert ran.returncode == 1, ran.stderr
    assert "Traceback" not in ran.stderr, ran.stderr[-2000:]
    assert f"no NATS server answers at {dead} (ingest.bus.servers)" in ran.stderr
