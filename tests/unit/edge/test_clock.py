"""When the agent trusts its wall clock, and the times it gives measurements made before."""

from __future__ import annotations

from pathlib import Path

import pytest

from villagewatch.edge.clock import EdgeClock

REAL_MS = 1_795_267_705_000  # 2026-11-21


class Box:
    """A box's two clocks, moved by hand."""

    def __init__(self, wall_ms: int) -> None:
        self.wall, self.mono = wall_ms, 5_000

    def clock(self, sync_file: Path | None, *, require_sync: bool = True) -> EdgeClock:
        return EdgeClock(
            sync_file=sync_file, require_sync=require_sync,
            wall_ms=lambda: self.wall, mono_ms=lambda: self.mono,
        )  # fmt: skip

    def tick(self, ms: int) -> None:
        self.wall += ms
        self.mono += ms


def test_a_box_back_from_a_power_cut_stamps_monotonic_and_corrects_after_sync(
    tmp_path: Path,
) -> None:
    box = Box(wall_ms=0)  # 1970: no battery-backed clock
    synced = tmp_path / "synchronized"
    clock = box.clock(synced)
    assert clock.stamp() == (None, 5_000)
    box.tick(60_000)
    made = clock.stamp()
    assert made == (None, 65_000)
    assert not clock.trusted()  # nothing better yet
    # the time source steps the clock to the real time and says so
    box.tick(30_000)
    box.wall = REAL_MS
    synced.touch()
    box.tick(1_000)  # the sync file is looked at once a second
    assert clock.trusted()
    # made 31 s before now
    assert clock.wall_at(made[1]) == REAL_MS + 1_000 - 31_000
    assert clock.stamp() == (REAL_MS + 1_000, 96_000)


@pytest.mark.parametrize(
    ("wall_ms", "trusted"),
    [(0, False), (1_577_836_799_999, False), (1_577_836_800_000, True), (REAL_MS, True),
     (4_102_444_799_999, True), (4_102_444_800_000, False)],
)  # fmt: skip
def test_implausible_times_are_not_trusted_even_when_synced(
    tmp_path: Path, wall_ms: int, trusted: bool
) -> None:
    synced = tmp_path / "synchronized"
    synced.touch()
    assert Box(wall_ms).clock(synced).trusted() is trusted


def test_without_a_sync_file_only_a_box_told_not_to_wait_trusts_its_clock(tmp_path: Path) -> None:
    assert not Box(REAL_MS).clock(tmp_path / "absent").trusted()
    assert not Box(REAL_MS).clock(None).trusted()
    assert Box(REAL_MS).clock(None, require_sync=False).trusted()


def test_losing_sync_stops_trust_within_a_second(tmp_path: Path) -> None:
    box = Box(REAL_MS)
    synced = tmp_path / "synchronized"
    synced.touch()
    clock = box.clock(synced)
    assert clock.trusted()
    synced.unlink()
    assert clock.trusted()  # cached for up to a second
    box.tick(1_000)
    assert not clock.trusted()


def test_why_the_clock_is_not_trusted_is_said_in_a_sentence(tmp_path: Path) -> None:
    synced = tmp_path / "synchronized"
    box = Box(wall_ms=REAL_MS)
    clock = box.clock(synced)
    problem = clock.problem()
    assert problem is not None
    assert str(synced) in problem and "does not exist" in problem
    assert "Alarms leave" in problem
    synced.touch()
    box.tick(1_000)
    assert clock.problem() is None
    box.wall = 0
    box.tick(1_000)
    problem = clock.problem()
    assert problem is not None and "1970-01-01" in problem


def test_a_measurement_made_earlier_keeps_its_own_time_and_its_age(tmp_path: Path) -> None:
    box = Box(wall_ms=REAL_MS)
    clock = box.clock(None, require_sync=False)
    yesterday = (REAL_MS - 86_400_000) / 1000
    assert clock.stamp(yesterday) == (REAL_MS - 86_400_000, 5_000 - 86_400_000)
    assert clock.stamp((REAL_MS - 1500) / 1000) == (REAL_MS - 1500, 3_500)
    # a little ahead (a camera clock a few seconds fast): its time, made "now"
    assert clock.stamp((REAL_MS + 2_000) / 1000) == (REAL_MS + 2_000, 5_000)


@pytest.mark.parametrize(
    "at",
    [0.0, 1_500_000_000.0, (REAL_MS + 301_000) / 1000, 4_102_444_800.0, float("nan"),
     float("inf")],
    ids=["1970", "2017", "5min-ahead", "2100", "nan", "inf"],
)  # fmt: skip
def test_a_time_a_driver_gives_that_cannot_be_believed_is_stamped_now_and_told(
    at: float, caplog: pytest.LogCaptureFixture
) -> None:
    box = Box(wall_ms=REAL_MS)
    clock = box.clock(None, require_sync=False)
    with caplog.at_level("WARNING", "villagewatch.edge.clock"):
        assert clock.stamp(at) == (REAL_MS, 5_000)
        assert clock.stamp(at) == (REAL_MS, 5_000)
    assert len(caplog.records) == 1  # told once a minute at most
    assert "stamped with this box's time" in caplog.records[0].getMessage()


def test_without_a_trusted_clock_only_the_age_of_a_drivers_time_counts(tmp_path: Path) -> None:
    box = Box(wall_ms=REAL_MS)
    clock = box.clock(tmp_path / "synchronized")  # never synced
    assert clock.stamp((REAL_MS - 60_000) / 1000) == (None, 5_000 - 60_000)
    assert clock.stamp(0.0) == (None, 5_000)  # an age this clock cannot tell: now
