"""Sensor health on the Logan River stage record: the technician-flagged spikes (qualifier 1)
are caught from the raw series with recall >= 0.9 and at most one false alert a week."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from villagewatch.cli import app
from villagewatch.detect.evaluate import evaluate


def test_sensor_health_catches_the_flagged_spikes_of_the_raw_series(
    shared_data: Path, tmp_path: Path
) -> None:
    with (shared_data / "river-stage/logan_river_mainstreet_2019.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    series = tmp_path / "stage_raw.csv"
    with series.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["timestamp", "value"])
        out.writerows((r["datetime"], r["stage_raw"]) for r in rows)
    scored = tmp_path / "scored.csv"
    result = CliRunner().invoke(
        app, ["detect-file", "--detector", "sensor_health", str(series), str(scored)]
    )
    assert result.exit_code == 0, result.output

    with scored.open(newline="") as f:
        scores = [float(r["anomaly_score"]) for r in csv.DictReader(f)]
    assert len(scores) == len(rows) and all(0.0 <= s <= 1.0 for s in scores)
    labels = [r["qualifier"] == "1" for r in rows]
    times = [
        int(datetime.fromisoformat(r["datetime"]).replace(tzinfo=UTC).timestamp() * 1000)
        for r in rows
    ]
    figures = evaluate(scores, labels, times)
    assert figures.events >= 4
    assert figures.recall >= 0.9, figures
    assert figures.false_per_week <= 1.0, figures
