"""tune replay on the Logan River stage record, loaded into the SQLite store: with two spike
thresholds, each side's sensor-health alerts are the ones detect-file raises on the same
series with that threshold, and the added and removed alerts are their difference."""

from __future__ import annotations

import asyncio
import csv
import json
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from villagewatch.cli import app
from villagewatch.contract import Clock, Reading, point_time_ns
from villagewatch.store import Batch, RelationalStore

VILLAGE = """\
id: logan
name: Logan
town: cache
grids: [{{id: main, name: Main Street}}]
devices:
  - {{id: stage, kind: water_level, grid: main, interval_s: 900, agent: edge-1}}
detect:
  devices:
    stage:
      health: {{spike: {spike}}}
"""
TODAY, CANDIDATE = 12, 6


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def _onsets(scored: Path) -> list[str]:
    """Times where detect-file's score reaches 1: the alerts it raised."""
    with scored.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return [
        r["timestamp"]
        for i, r in enumerate(rows)
        if float(r["anomaly_score"]) >= 1 and (i == 0 or float(rows[i - 1]["anomaly_score"]) < 1)
    ]


def test_replay_of_two_spike_thresholds_matches_detect_file(
    shared_data: Path, tmp_path: Path
) -> None:
    with (shared_data / "river-stage/logan_river_mainstreet_2019.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    readings = [
        Reading("logan", "main", "stage", "water_level", point_time_ns(_ms(r["datetime"]), "b", i),
                i, "b", {"level_cm": float(r["stage_raw"])}, Clock.SYNCED, False, False,
                _ms(r["datetime"]))
        for i, r in enumerate(rows)
    ]  # fmt: skip

    async def load() -> None:
        store = RelationalStore(tmp_path / "readings.db")
        for i in range(0, len(readings), 1000):
            await store.write(Batch(readings=readings[i : i + 1000]))
        await store.close()

    asyncio.run(load())
    series = tmp_path / "stage_raw.csv"
    series.write_text(
        "timestamp,value\n" + "".join(f"{r['datetime']},{r['stage_raw']}\n" for r in rows)
    )
    expected: dict[int, set[int]] = {}
    for spike in (TODAY, CANDIDATE):
        (tmp_path / f"health-{spike}.yaml").write_text(f"spike: {spike}\n")
        scored = tmp_path / f"scored-{spike}.csv"
        result = CliRunner().invoke(
            app,
            ["detect-file", "--detector", "sensor_health", "--config",
             str(tmp_path / f"health-{spike}.yaml"), str(series), str(scored)],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        expected[spike] = {_ms(t) for t in _onsets(scored)}
        (tmp_path / f"village-{spike}.yaml").write_text(VILLAGE.format(spike=spike))
    (tmp_path / "settings.yaml").write_text(
        "villages: [village-12.yaml]\nstore: {kind: sqlite, path: readings.db}\n"
    )
    result = CliRunner().invoke(
        app,
        ["tune", "replay", "-c", str(tmp_path / "settings.yaml"),
         "--from", rows[0]["datetime"], "--to", "2019-05-01", "--candidate",
         str(tmp_path / f"village-{CANDIDATE}.yaml"), "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)

    def fired(side: str) -> set[int]:
        return {
            _ms(t["at"].removesuffix("Z"))
            for a in report[side]["alerts"]
            if a["detector"] == "health"
            for t in a["transitions"]
            if t["action"] == "fire"
        }

    assert fired("today") == expected[TODAY]
    assert fired("candidate") == expected[CANDIDATE]
    health = [c for c in report["changes"] if c["detector"] == "health"]
    added = {
        _ms(c["candidate"]["fired_at"].removesuffix("Z")) for c in health if c["change"] == "added"
    }
    removed = {
        _ms(c["today"]["fired_at"].removesuffix("Z")) for c in health if c["change"] == "removed"
    }
    assert added == expected[CANDIDATE] - expected[TODAY]
    assert removed == expected[TODAY] - expected[CANDIDATE]
    # on this record: 4 alerts at 12 cm, 8 at 6 cm (4 more jumps between 6 and 12 cm)
    assert len(expected[TODAY]) >= 4 and expected[TODAY] < expected[CANDIDATE]
