"""The arithmetic of bench/city.py (bench/citystats.py): load plan, latency from count
timelines, percentiles, lost and duplicated readings."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "citystats.py"


@pytest.fixture(scope="module")
def stats() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_citystats", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_citystats"] = module
    spec.loader.exec_module(module)
    return module


def test_the_city_load_is_singles_plus_batches_of_fifty(stats: ModuleType) -> None:
    plan = stats.LoadPlan(41_000, 2_000)
    assert plan.batches == 780
    assert plan.singles + plan.batches * stats.BATCH == 41_000


def test_a_rate_that_batches_cannot_make_is_refused_in_the_options_words(
    stats: ModuleType,
) -> None:
    with pytest.raises(ValueError, match="--rate 41010 minus --singles 2000"):
        stats.LoadPlan(41_010, 2_000)
    with pytest.raises(ValueError, match="non-negative"):
        stats.LoadPlan(100, 200)


def test_latency_is_when_the_store_reached_a_count_minus_when_the_publisher_did(
    stats: ModuleType,
) -> None:
    published = [(0.0, 0), (1.0, 100), (2.0, 200)]
    stored = [(0.5, 0), (1.5, 50), (2.5, 200), (3.0, 200)]
    # 50 reached by the publisher at 0.5 s (interpolated); 200 at 2.0 s
    assert stats.latencies(published, stored) == [(1.0, 50), (0.5, 150)]


def test_a_store_count_no_publisher_reached_gives_no_latency(stats: ModuleType) -> None:
    # VictoriaMetrics counting a row more than was sent (a copy) must not make a negative
    assert stats.latencies([(0.0, 0), (1.0, 10)], [(1.0, 10), (2.0, 11)]) == [(0.0, 10)]


def test_percentiles_weigh_each_value_by_its_readings(stats: ModuleType) -> None:
    weighted = [(5.0, 1), (1.0, 98), (9.0, 1)]
    assert stats.percentile(weighted, 0.5) == 1.0
    assert stats.percentile(weighted, 0.99) == 5.0
    assert stats.percentile(weighted, 1.0) == 9.0
    assert math.isnan(stats.percentile([], 0.5))


def test_lost_and_duplicated_count_by_unique_device_and_seq(stats: ModuleType) -> None:
    expected = {"a": 3, "b": 2, "c": 1}
    stored = [("a", [0, 1]), ("a", [1, 2]), ("b", [0, 1, 1, 7])]
    # a: a second 1; b: a second 1 and a 7 never sent; c: its 0 lost
    assert stats.lost_and_duplicated(expected, stored) == (1, 3, [("c", 0)])


def test_a_histogram_over_several_processes_is_summed_before_its_quantile(
    stats: ModuleType,
) -> None:
    one = 'lag_bucket{le="0.1"} 90\nlag_bucket{le="1.0"} 100\nlag_bucket{le="+Inf"} 100\n'
    two = 'lag_bucket{le="0.1"} 0\nlag_bucket{le="1.0"} 80\nlag_bucket{le="+Inf"} 100\n'
    assert stats.histogram_quantile([one, two], "lag", 0.5) == 1.0
    assert stats.histogram_quantile([one], "lag", 0.5) == 0.1
    assert math.isnan(stats.histogram_quantile([], "lag", 0.5))
