"""The sending side without a broker: what leaves while the clock is not trusted, and what a
refusal in a PUBACK does to the records of the message."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from villagewatch.config import MqttSettings
from villagewatch.edge.agent import EdgeAgent
from villagewatch.edge.clock import EdgeClock
from villagewatch.edge.lanes import Lane
from villagewatch.edge.measurement import Measurement
from villagewatch.edge.settings import EdgeSettings, OutboxSettings

REAL_MS = 1_795_267_705_000


class Link:
    """Stands in for the agent's link: connected, and keeps what was published."""

    def __init__(self) -> None:
        self.published: list[tuple[int, str, dict[str, Any]]] = []

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> int:
        mid = len(self.published) + 1
        self.published.append((mid, topic, orjson.loads(payload)))
        return mid

    def items(self, device: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for _, topic, body in self.published:
            if f"/{device}/" in topic:
                one = body.get("event") or body.get("reading")
                out += [one] if one else body.get("events") or body.get("readings") or []
        return out


@dataclass
class World:
    agent: EdgeAgent
    link: Link
    box: dict[str, int]
    """The box's wall and monotonic clocks, moved by hand."""
    sync_file: Path


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    settings = EdgeSettings(
        id="edge-1", village="v", mqtt=MqttSettings(port=1),
        outbox=OutboxSettings(path=tmp_path / "outbox"),
    )  # fmt: skip
    box = {"wall": 0, "mono": 5_000}
    clock = EdgeClock(
        sync_file=tmp_path / "synchronized",
        wall_ms=lambda: box["wall"],
        mono_ms=lambda: box["mono"],
    )
    agent = EdgeAgent(settings, clock=clock)
    agent.open()
    link = Link()
    monkeypatch.setattr(agent.link, "publish", link.publish)
    agent.link.connected.set()
    yield World(agent, link, box, tmp_path / "synchronized")
    agent.outbox.close()


def trusted(world: World) -> None:
    world.sync_file.touch()
    world.box["wall"] = REAL_MS


def send_all(agent: EdgeAgent) -> None:
    agent.outbox.sync()
    while agent.sender._send_some():
        pass


def test_an_alarm_leaves_untrusted_with_its_age_and_keeps_that_form_when_resent(
    world: World,
) -> None:
    agent, link, box = world.agent, world.link, world.box
    agent.accept(Measurement("sos-1", "event", {"type": "sos"}))
    agent.accept(Measurement("wl-1", "telemetry", {"level_cm": 1.0}))
    box["mono"] += 1_500
    send_all(agent)
    (sos,) = link.items("sos-1")
    assert sos == {"seq": 0, "age_ms": 1_500, "clock": "unsynced", "type": "sos"}
    assert link.items("wl-1") == [], "telemetry waits for a trusted clock"
    # the link drops before the PUBACK; the clock is trusted when it comes back
    agent.sender.link_down()
    trusted(world)
    box["mono"] += 2_000
    agent.sender.link_up()
    send_all(agent)
    again = link.items("sos-1")[1]
    assert again == {"seq": 0, "age_ms": 3_500, "clock": "unsynced", "type": "sos"}, (
        "never a ts for an alarm that first left without one"
    )
    (reading,) = link.items("wl-1")
    assert reading["ts"] == REAL_MS - 3_500 and reading["clock"] == "unsynced"


def test_a_batch_refused_as_too_large_is_held_and_its_records_go_again_each_alone(
    world: World,
) -> None:
    agent, link = world.agent, world.link
    trusted(world)
    for _ in range(3):
        agent.accept(Measurement("sos-1", "event", {"type": "sos"}))
    send_all(agent)
    ((mid, _, body),) = link.published
    assert len(body["events"]) == 3  # one message of three
    agent.sender.acked(mid, 0x95)  # too large, as a batch: each may pass alone
    assert agent.outbox.stats()[Lane.ALARM].held == 3
    assert agent.outbox.stats()[Lane.ALARM].pending == 3
    assert agent.outbox.dead_letters.records == 0
    retried = agent.outbox.read(Lane.ALARM, 10, now=float("inf"))
    assert [e.retried for e in retried] == [True] * 3
    agent.sender._publish(Lane.ALARM, retried)
    assert [len(body.get("events", [1])) for _, _, body in link.published[1:]] == [1, 1, 1]


def test_refusals_by_reason_code(world: World, tmp_path: Path) -> None:
    agent, link = world.agent, world.link
    trusted(world)
    agent.accept(Measurement("sos-1", "event", {"type": "sos"}))
    send_all(agent)
    agent.sender.acked(link.published[-1][0], 0x87)  # not authorised: for now
    assert agent.outbox.stats()[Lane.ALARM].held == 1
    agent.accept(Measurement("lock-1", "event", {"type": "unlock"}))
    send_all(agent)
    agent.sender.acked(link.published[-1][0], 0x99)  # payload format invalid: for good
    assert agent.outbox.dead_letters.records == 1
    agent.accept(Measurement("wl-1", "telemetry", {"level_cm": 2.0}))
    send_all(agent)
    agent.sender.acked(link.published[-1][0], 0x10)  # no subscribers: taken
    assert agent.outbox.stats()[Lane.TELEMETRY].pending == 0
    assert agent.sender.refused == {
        Lane.ALARM: {"not_authorized": 1, "payload_format_invalid": 1},
        Lane.TELEMETRY: {},
        Lane.EVIDENCE: {},
    }
    letter = orjson.loads((tmp_path / "outbox" / "dead-letters.jsonl").read_bytes())
    assert letter["topic"] == "vw/v1/v/lock-1/event"
    assert orjson.loads(letter["payload"])["d"] == "lock-1"
