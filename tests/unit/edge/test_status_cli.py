"""`villagewatch edge status`: what a maintainer reads on the box."""

from __future__ import annotations

from pathlib import Path

import orjson
from typer.testing import CliRunner

from villagewatch.cli import app
from villagewatch.edge.agent import EdgeAgent
from villagewatch.edge.lanes import Lane
from villagewatch.edge.measurement import Measurement
from villagewatch.edge.settings import load_edge

EDGE_YAML = """\
id: edge-1
village: v
outbox: {path: outbox}
clock: {require_sync: false}
devices:
  - {driver: simulated_water_level, device: wl-1}
"""


def test_status_shows_backlog_drops_link_and_config(tmp_path: Path) -> None:
    config = tmp_path / "edge.yaml"
    config.write_text(EDGE_YAML)
    runner = CliRunner()
    missing = runner.invoke(app, ["edge", "status", "--config", str(config)])
    assert missing.exit_code == 1
    assert "No status at" in missing.output
    agent = EdgeAgent(load_edge(config))
    agent.open()
    for _ in range(3):
        agent.accept(Measurement("wl-1", "telemetry", {"level_cm": 1.0}))
    agent.accept(Measurement("wl-1", "event", {"type": "sos"}))
    agent.outbox.sync()
    agent.outbox.dropped[Lane.TELEMETRY] = 7
    agent.sender.refused[Lane.ALARM]["not_authorized"] = 2
    agent.unwritable[Lane.TELEMETRY] = 4
    agent.sync_failures = 3
    agent.disk_error = "records: [Errno 28] No space left on device"
    agent._write_status()
    agent.outbox.close()

    shown = runner.invoke(app, ["edge", "status", "--config", str(config)])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0].startswith(f"agent edge-1  boot {agent.boot}")
    assert lines[1].startswith("link disconnected, clock trusted, last acknowledgement never")
    assert lines[1].endswith("edge.yaml alone")
    assert lines[2].split()[:3] == ["alarm", "1", "waiting"]
    assert lines[3].split()[:3] == ["telemetry", "3", "waiting"]
    assert lines[3].endswith("dropped 7")
    assert "  refused by the broker (alarm): not_authorized 2" in lines
    disk = next(line for line in lines if line.startswith("  disk: "))
    assert "MB free, 3 failed syncs, last error records: [Errno 28]" in disk
    assert "  lost, could not be queued on the disk: telemetry 4" in lines
    as_json = runner.invoke(app, ["edge", "status", "--config", str(config), "--json"])
    status = orjson.loads(as_json.output)
    assert status["lanes"]["telemetry"] == {
        "pending": 3, "held": 0, "bytes": status["lanes"]["telemetry"]["bytes"], "oldest_s":
        status["lanes"]["telemetry"]["oldest_s"], "dropped": 7,
    }  # fmt: skip
    assert status["refused"] == {"alarm": {"not_authorized": 2}}
    assert status["disk"]["free_bytes"] > 0
    assert status["config_version"] is None
