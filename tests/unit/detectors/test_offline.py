"""Silent devices one by one, a whole village at once, an edge agent's last will."""

from __future__ import annotations

from villagewatch.detectors import OfflineConfig, OfflineWatch, WatchedDevice

from .helpers import summary

MIN = 60_000
CONFIG = OfflineConfig(factor=3, link_down_share=0.5, link_down_min_devices=3, group_s=60)


def watch(n: int = 10) -> OfflineWatch:
    devices = [WatchedDevice(f"d{i}", f"device {i}", 60, CONFIG) for i in range(n)]
    w = OfflineWatch("v", devices, config=CONFIG)
    w.start(0)
    return w


def keep_alive(w: OfflineWatch, devices: list[str], until_min: int) -> list[tuple[str, str, str]]:
    out = []
    for minute in range(until_min + 1):
        for d in devices:
            out += w.seen(d, minute * MIN)
        out += w.tick(minute * MIN)
    return summary(out)


def test_one_silent_device_alerts_after_three_intervals_and_the_grouping_wait() -> None:
    w = watch()
    out = keep_alive(w, [f"d{i}" for i in range(1, 10)], 5)
    assert out == [("device_offline", "fire", "yellow")]
    assert w.is_offline("d0") and not w.is_offline("d1")
    assert summary(w.seen("d0", 6 * MIN)) == [("device_offline", "clear", "yellow")]


def test_a_whole_village_going_silent_is_one_link_down_not_ten() -> None:
    w = watch()
    out = keep_alive(w, [], 10)
    assert out == [("link_down", "fire", "orange")]
    assert all(w.is_offline(f"d{i}") for i in range(10))
    back = []
    for i in range(10):
        back += w.seen(f"d{i}", 11 * MIN)
    assert summary(back) == [("link_down", "clear", "orange")]


def test_edge_agent_last_will_is_one_link_down_for_its_devices() -> None:
    w = watch()
    out = summary(w.edge_status("edge-1", "offline", ["d0", "d1", "d2", "unknown"], 0))
    assert out == [("link_down", "fire", "orange")]
    assert keep_alive(w, [f"d{i}" for i in range(3, 10)], 10) == []  # no per-device alerts
    assert summary(w.edge_status("edge-1", "online", ["d0", "d1", "d2"], 11 * MIN)) == [
        ("link_down", "clear", "orange")
    ]


def test_offline_state_survives_snapshot_restore() -> None:
    first = watch()
    keep_alive(first, [f"d{i}" for i in range(1, 10)], 5)
    second = watch()
    second.restore(first.snapshot())
    assert second.is_offline("d0")
    assert summary(second.tick(6 * MIN)) == []  # no second alert
    assert summary(second.seen("d0", 7 * MIN)) == [("device_offline", "clear", "yellow")]
