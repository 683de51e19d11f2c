"""A desired config that fails in a way no check foresaw refuses that config, never stops the
agent; however many arrive, one waits."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from villagewatch.config import MqttSettings
from villagewatch.edge import agent as agent_module
from villagewatch.edge import reconfigure as reconfigure_module
from villagewatch.edge.agent import EdgeAgent
from villagewatch.edge.drivers import build_driver
from villagewatch.edge.lanes import Lane
from villagewatch.edge.settings import ClockSettings, EdgeSettings, OutboxSettings


def agent_with_a_gauge(tmp_path: Path) -> tuple[EdgeAgent, list[dict[str, Any]]]:
    """An agent (its broker never there) whose config reports are kept."""
    settings = EdgeSettings.model_validate(
        {
            "id": "edge-1", "village": "v", "mqtt": MqttSettings(port=1),
            "outbox": OutboxSettings(path=tmp_path / "outbox"),
            "clock": ClockSettings(require_sync=False),
            "devices": [{"driver": "simulated_water_level", "device": "wl-1", "interval_s": 0.05}],
        }
    )  # fmt: skip
    agent = EdgeAgent(settings)
    reports: list[dict[str, Any]] = []

    def publish_own(_topic: str, payload: bytes, *, retain: bool = False) -> None:
        reports.append(orjson.loads(payload))

    agent.link.publish_own = publish_own  # type: ignore[method-assign,assignment]
    return agent, reports


def desired(version: int, **config: Any) -> bytes:
    return orjson.dumps({"v": 1, "version": version, "config": config})


def run_with(agent: EdgeAgent, payloads: list[bytes], until: Any) -> dict[str, int]:
    seen: dict[str, int] = {}

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(agent.run(stop))
        await asyncio.sleep(0.3)
        for p in payloads:
            agent._config_message(p)
        seen["tasks"] = len(asyncio.all_tasks())
        for _ in range(200):
            if until():
                break
            await asyncio.sleep(0.02)
        made = agent._seq
        await asyncio.sleep(0.5)
        seen["made_after"] = agent._seq - made
        stop.set()
        await task

    asyncio.run(scenario())
    return seen


def test_a_bug_while_applying_refuses_that_config_and_the_agent_keeps_measuring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent, reports = agent_with_a_gauge(tmp_path)

    def broken(*_a: Any) -> None:
        raise TypeError("a bug")

    monkeypatch.setattr(reconfigure_module, "apply_remote", broken)
    seen = run_with(agent, [desired(4, drain_rate=5)], lambda: reports)
    assert reports == [
        {"v": 1, "version": 4, "applied": False,
         "error": "the agent failed applying it: TypeError('a bug')"},
    ]  # fmt: skip
    assert seen["made_after"] >= 3, "still measuring"
    assert agent.applied is None
    assert agent.metrics.config_refused.labels("internal_error")._value.get() == 1


def test_a_driver_failing_at_length_is_refused_with_its_reason_cut_to_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent, reports = agent_with_a_gauge(tmp_path)
    real = build_driver

    def build(cfg: Any, state_dir: Path | None = None) -> Any:
        if getattr(cfg, "interval_s", None) == 7:
            raise RuntimeError("x" * 2000)
        return real(cfg, state_dir)

    monkeypatch.setattr(agent_module, "build_driver", build)
    seen = run_with(agent, [desired(5, devices={"wl-1": {"interval_s": 7}})], lambda: reports)
    (report,) = reports
    assert report["applied"] is False and report["version"] == 5
    assert report["error"].startswith("devices[0]: cannot start the driver: xxx")
    assert len(report["error"]) == 500
    assert seen["made_after"] >= 3
    assert agent.metrics.config_refused.labels("invalid")._value.get() == 1


def test_a_flood_of_desired_configs_waits_as_one_the_latest(tmp_path: Path) -> None:
    agent, reports = agent_with_a_gauge(tmp_path)
    flood = [desired(n, drain_rate=n) for n in range(1, 2001)]
    seen = run_with(agent, flood, lambda: agent.applied and agent.applied.version == 2000)
    assert agent.applied is not None and agent.applied.version == 2000
    assert agent.settings.drain_rate == 2000
    assert seen["tasks"] < 20, "not a task per message"
    assert len(reports) <= 2


@pytest.mark.parametrize("damage", ["unreadable", "driver-fails"])
def test_a_saved_remote_config_that_cannot_run_never_stops_the_box_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    saved = tmp_path / "outbox" / "remote-config.json"
    saved.parent.mkdir(parents=True)
    if damage == "unreadable":
        saved.mkdir()  # reading it fails, for root too
    else:
        saved.write_bytes(desired(9, devices={"wl-1": {"interval_s": 7}}))
        real = build_driver

        def build(cfg: Any, state_dir: Path | None = None) -> Any:
            if getattr(cfg, "interval_s", None) == 7:
                raise RuntimeError("this build of the driver cannot do that any more")
            return real(cfg, state_dir)

        monkeypatch.setattr(reconfigure_module, "build_driver", build)
    agent, _ = agent_with_a_gauge(tmp_path)
    assert agent.applied is None, "edge.yaml as it is"
    seen = run_with(agent, [], lambda: True)
    assert seen["made_after"] >= 3


def test_constructing_the_agent_touches_no_file(tmp_path: Path) -> None:
    saved, _ = agent_with_a_gauge(tmp_path / "saved")
    saved.open()
    saved.outbox.close()
    agent_with_a_gauge(tmp_path / "new")
    assert not (tmp_path / "new").exists(), "the constructor made the outbox"
    again, _ = agent_with_a_gauge(tmp_path / "saved")
    assert again._built == [] and again.outbox.stats() == {}, "built or read at construction"
    again.open()
    assert [d for drv in again._built for d in drv.devices] == ["wl-1"]
    assert again.outbox.stats()[Lane.ALARM].pending == 0
    again.outbox.close()
