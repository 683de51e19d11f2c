"""The tipping-bucket driver: counting tips from a counter file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.unit.edge.drivers.helpers import assert_contract, until
from villagewatch.contract import DeviceKind
from villagewatch.edge.drivers import TippingBucketConfig
from villagewatch.edge.drivers.tipping import TipCounter, TippingBucket
from villagewatch.edge.measurement import Measurement


@pytest.mark.parametrize(
    ("counts", "tips"),
    [
        pytest.param([10, 10, 13, 20], [None, 0, 3, 7], id="steady-counting"),
        pytest.param([0, 0, 1], [None, 0, 1], id="from-zero"),
        pytest.param([100, 105, 2, 4], [None, 5, 2, 2], id="reset-counts-the-new-value"),
        pytest.param([4294967290, 4294967295, 3], [None, 5, 3], id="32-bit-wrap"),
        pytest.param([7, 0, 0], [None, 0, 0], id="reset-to-zero"),
    ],
)
def test_tip_counter(counts: list[int], tips: list[int | None]) -> None:
    counter = TipCounter()
    assert [counter.tips(c) for c in counts] == tips


def test_tip_counter_refuses_a_negative_count() -> None:
    with pytest.raises(ValueError, match="negative"):
        TipCounter().tips(-1)


def _write_count(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)  # atomically: the driver never reads half a number


def test_tipping_bucket_reads_the_counter_file_each_interval(tmp_path: Path) -> None:
    """Zero rain is a reading; a reset counts from zero; an unreadable file is skipped."""
    path = tmp_path / "count"
    _write_count(path, "100\n")
    cfg = TippingBucketConfig(
        driver="tipping_bucket", device="rain-1", counter_file=path, interval_s=0.05
    )
    drv = TippingBucket(cfg)
    got: list[Measurement] = []

    def mm() -> list[float]:
        return [m.data["mm"] for m in got]

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(drv.run(got.append, stop))
        await until(lambda: 0.0 in mm(), what="a dry reading")
        _write_count(path, "103\n")
        await until(lambda: 0.6 in mm(), what="three tips")
        _write_count(path, "garbage")
        await asyncio.sleep(0.2)
        _write_count(path, "1\n")
        await until(lambda: 0.2 in mm(), what="a tip after the reset")
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    assert [v for v in mm() if v] == [0.6, 0.2]
    assert {m.device for m in got} == {"rain-1"}
    for m in got:
        assert_contract(DeviceKind.RAIN_GAUGE, m)
