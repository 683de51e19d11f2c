"""What the broker refuses stays the agent's: a publish the ACL forbids is held and tried again
(not acknowledged, not lost) while other devices' records flow; one too large for the broker
goes to the outbox's dead-letter file; neither makes the connection flap."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import orjson
import pytest

from tests.faults import Campaign
from villagewatch.edge.agent import EdgeAgent
from villagewatch.edge.lanes import Lane
from villagewatch.edge.measurement import Emit, Measurement
from villagewatch.runtime.ports import free_port
from villagewatch_dev.servers import Mosquitto

from .edge_world import Collector, Ticker, edge_settings, scrape_metrics

ACL_WITHOUT_SOS = """\
topic read vw/v1/v/#
topic readwrite vw/v1/v/wl-1/#
topic readwrite vw/v1/v/edge-1/#
"""


def connects(broker: Mosquitto, client_id: str = "edge-1") -> int:
    """How many times ``client_id`` connected, from the broker's own log."""
    return broker.log_text().count(f" as {client_id} (")


async def until(check: object, within_s: float = 60) -> None:
    for _ in range(int(within_s * 20)):
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


def wl_readings(collector: Collector) -> int:
    return sum(len(g.items) for g in collector.messages() if g.topic.endswith("wl-1/telemetry"))


@pytest.mark.campaign
def test_an_sos_the_acl_refuses_stays_pending_and_arrives_once_the_acl_allows_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, campaign: Campaign
) -> None:
    acl = tmp_path / "acl"
    acl.write_text(ACL_WITHOUT_SOS)
    broker = Mosquitto(tmp_path / "mosquitto", extra=f"acl_file {acl}").start()
    collector = Collector(broker.port, "v")
    assert collector.subscribed.wait(10)
    ticker = Ticker(["wl-1"], rate=20)
    port = free_port()
    agent = EdgeAgent(edge_settings(tmp_path, broker.port, metrics_port=port), [ticker])
    seen: dict[str, object] = {}

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(agent.run(stop))
        await asyncio.wait_for(agent.link.connected.wait(), 20)
        before = wl_readings(collector)
        ticker.sos("sos-1")
        # the gauge's readings keep flowing past the refused SOS (sent first: alarms go first)
        await until(lambda: wl_readings(collector) >= before + 40)
        seen["pending"] = agent.outbox.stats()[Lane.ALARM].pending
        seen["sos_early"] = [g for g in collector.messages() if "sos-1" in g.topic]
        assert seen["pending"] == 1, "refused, so not acknowledged: still in the outbox"
        seen["metrics"] = await asyncio.to_thread(scrape_metrics, port)
        # the maintainer fixes the ACL; mosquitto reloads it on SIGHUP
        acl.write_text(ACL_WITHOUT_SOS + "topic readwrite vw/v1/v/sos-1/#\n")
        assert broker.proc is not None
        broker.proc.send_signal(signal.SIGHUP)
        await until(lambda: any("sos-1" in g.topic for g in collector.messages()))
        await until(lambda: agent.outbox.stats()[Lane.ALARM].pending == 0)
        seen["refusals"] = agent.status()["refused"]["alarm"]["not_authorized"]
        stop.set()
        await task

    try:
        with caplog.at_level(logging.INFO):
            asyncio.run(scenario())
        assert seen["sos_early"] == [], "the broker dropped it: it did not arrive"
        metrics = str(seen["metrics"])
        assert 'villagewatch_edge_refused_total{lane="alarm",reason="not_authorized"}' in metrics
        told = [
            r.getMessage()
            for r in caplog.records
            if r.levelno >= logging.WARNING and "refused sos-1" in r.getMessage()
        ]
        assert len(told) == 1, told  # once, however often it was tried
        assert "not authorised" in told[0] and "ACL" in told[0], told
        sos = [i for g in collector.messages() if "sos-1" in g.topic for i in g.items]
        campaign.row(
            "the broker's ACL refuses an SOS until the maintainer fixes it (readings flow on)",
            offered=1, stored=len(sos), lost=1 - len(sos), duplicated=max(0, len(sos) - 1),
        )  # fmt: skip
        assert [i["type"] for i in sos] == ["sos"]
        assert connects(broker) == 1, "the connection never flapped"
    finally:
        collector.close()
        broker.kill()


class BigEvidence:
    """A camera whose one evidence picture is larger than the broker takes."""

    def __init__(self) -> None:
        self.devices = ["cam-1"]

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        jpeg = b"\xff\xd8" + bytes(range(256)) * 40 + b"\xff\xd9"  # 10 kB
        emit(Measurement("cam-1", "evidence", {"id": "ev-1"}, jpeg))
        await stop.wait()


@pytest.mark.parametrize(
    "limit",
    [
        pytest.param("message_size_limit 4096", id="refused-in-puback"),
        pytest.param("max_packet_size 4096", id="announced-in-connack"),
    ],
)
@pytest.mark.campaign
def test_a_record_too_large_for_the_broker_goes_to_dead_letters_and_the_rest_flows(
    tmp_path: Path, limit: str, campaign: Campaign
) -> None:
    broker = Mosquitto(tmp_path / "mosquitto", shipped_queues=False, extra=limit).start()
    collector = Collector(broker.port, "v")
    assert collector.subscribed.wait(10)
    ticker = Ticker(["wl-1"], rate=20)
    port = free_port()
    agent = EdgeAgent(
        edge_settings(tmp_path, broker.port, metrics_port=port), [ticker, BigEvidence()]
    )
    seen: dict[str, object] = {}
    letters = tmp_path / "outbox" / "dead-letters.jsonl"

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(agent.run(stop))
        await asyncio.wait_for(agent.link.connected.wait(), 20)
        await until(lambda: letters.exists() or connects(broker) > 1)
        seen["connects"] = connects(broker)
        before = wl_readings(collector)
        await until(lambda: wl_readings(collector) >= before + 40)
        seen["status"] = agent.status()
        seen["metrics"] = await asyncio.to_thread(scrape_metrics, port)
        stop.set()
        await task

    try:
        asyncio.run(scenario())
        assert seen["connects"] == 1, "the connection flapped"
        assert connects(broker) == 1, "the connection never flapped"
        status = seen["status"]
        assert isinstance(status, dict)
        assert status["lanes"]["evidence"]["pending"] == 0
        assert status["refused"]["evidence"]["too_large"] == 1
        assert status["dead_letters"]["records"] == 1
        lines = letters.read_bytes().splitlines()
        campaign.row(
            f"a picture too large for the broker ({limit}): kept in the box's dead-letter file",
            offered=1, stored=len(lines), lost=1 - len(lines),
            duplicated=max(0, len(lines) - 1) + int(str(seen["connects"])) - 1,
        )  # fmt: skip
        (letter,) = [orjson.loads(line) for line in lines]
        assert (letter["lane"], letter["reason"]) == ("evidence", "too_large")
        assert letter["topic"] == "vw/v1/v/cam-1/evidence/ev-1"
        metrics = str(seen["metrics"])
        assert 'villagewatch_edge_refused_total{lane="evidence",reason="too_large"} 1.0' in metrics
    finally:
        collector.close()
        broker.kill()
