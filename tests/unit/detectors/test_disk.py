"""disk_low: one alert per filesystem, orange then red, cleared with a margin."""

from __future__ import annotations

from villagewatch.detectors.disk import DiskWatch

GB = 10**9


def test_a_disk_filling_up_raises_one_alert_that_turns_red_and_clears_with_a_margin() -> None:
    d = DiskWatch(village="v", low_share=0.10, critical_share=0.02)
    seen = []
    for free in [50, 12, 9, 8, 11, 1, 9, 11, 13]:  # GB of 100
        seen += [
            (t.action, t.severity.value)
            for t in d.measured("/data", ["/data/x"], free * GB, 100 * GB, 0)
        ]
    assert seen == [
        ("fire", "orange"), ("update", "red"), ("update", "orange"), ("clear", "orange"),
    ]  # fmt: skip


def test_the_alert_state_survives_a_restart() -> None:
    d = DiskWatch(village="v", low_share=0.10, critical_share=0.02)
    d.measured("/data", [], 5 * GB, 100 * GB, 0)
    again = DiskWatch(village="v", low_share=0.10, critical_share=0.02)
    again.restore(d.snapshot())
    assert again.measured("/data", [], 5 * GB, 100 * GB, 1) == []
    assert [t.action for t in again.measured("/data", [], 50 * GB, 100 * GB, 2)] == ["clear"]
