"""The NAB bench runs end to end: detect-file's logic over every NAB file, scored by NAB's rules."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "nab.py"


@pytest.fixture(scope="module")
def nab() -> object:
    spec = importlib.util.spec_from_file_location("bench_nab", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_nab"] = module
    spec.loader.exec_module(module)
    return module


def test_the_anomaly_detector_scores_on_nab(shared_data: Path, nab: object, tmp_path: Path) -> None:
    labels = json.loads((shared_data / "nab" / "labels" / "combined_windows.json").read_text())
    keys = sorted(labels)
    rows, _ = nab.run_all("anomaly", keys, tmp_path)  # type: ignore[attr-defined]
    assert rows > 100_000
    scores = nab.score(tmp_path, labels, keys)  # type: ignore[attr-defined]
    assert set(scores) == {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}
    # a floor far below the figures in the README: it guards against a regression to nothing
    assert all(s >= 30 for s in scores.values()), scores
