"""replay_each runs several configs in one pass over the items; each timeline must be the one
the plain replay (one engine, items merged with heapq, renumbered with ``_replace``, as the
replay first did) gives for that config alone — through floods, silences that go offline,
wrong-code bursts that clear on time alone, and readings and events at the same instant."""

from __future__ import annotations

import heapq
import random
from collections.abc import Sequence
from pathlib import Path

from villagewatch.config import load_deployment, load_village
from villagewatch.config.village import Village
from villagewatch.contract import Clock, Decoded, Event, Reading, point_time_ns
from villagewatch.detect.engine import DetectEngine
from villagewatch.store.base import History
from villagewatch.transitions import Transition
from villagewatch.tune import Timeline, replay_each

from .history import MIN, T0

VILLAGE = """\
id: v
name: V
town: t
grids: [{{id: g, name: G}}]
devices:
  - {{id: wl-1, kind: water_level, grid: g, interval_s: 60, agent: edge-1}}
  - {{id: wl-2, kind: water_level, grid: g, interval_s: 60, agent: edge-1}}
  - {{id: lk-1, kind: smart_lock, grid: g, interval_s: 600, agent: edge-1}}
  - {{id: lk-2, kind: smart_lock, grid: g, interval_s: 600, agent: edge-1}}
detect:
  kinds:
    water_level:
      level: {{warning_cm: {warning}, hold_s: 60}}
      health: {{spike: {spike}}}
    smart_lock:
      lock: {{wrong_codes: {codes}, wrong_window_s: 90}}
"""
HOURS = 8


def village(path: Path, *, warning: float, spike: float, codes: int) -> Path:
    path.write_text(VILLAGE.format(warning=warning, spike=spike, codes=codes), encoding="utf-8")
    return path


def history() -> History:
    """Two gauges a minute (wl-1 floods, wl-2 spikes now and then and falls silent for 40
    minutes), two locks with bursts of wrong codes, some at the very instant of a reading."""
    rng = random.Random(17)
    readings: list[Reading] = []
    events: list[Event] = []
    for minute in range(HOURS * 60):
        ms = T0 + minute * MIN
        flood = 100 + max(0, 150 - abs(minute - 200)) + rng.gauss(0, 0.2)
        steady = 50 + (12 if minute % 37 == 0 else 0) + (9 if minute % 23 == 0 else 0)
        for device, level in (("wl-1", flood), ("wl-2", steady)):
            if device == "wl-2" and 300 <= minute < 340:
                continue
            readings.append(
                Reading("v", "g", device, "water_level", point_time_ns(ms, "b", minute), minute,
                        "b", {"level_cm": round(level, 2)}, Clock.SYNCED, False, False, ms)
            )  # fmt: skip
    seq = 0
    for lock in ("lk-1", "lk-2"):
        for burst in range(0, HOURS * 60, 47):
            for k in range(rng.randrange(2, 7)):
                ms = T0 + burst * MIN + k * 10_000  # k == 0: the same instant as a reading
                events.append(
                    Event("v", "g", lock, "smart_lock", point_time_ns(ms, "b", seq), seq, "b",
                          "wrong_code", {}, Clock.SYNCED, False, False, ms)
                )  # fmt: skip
                seq += 1
            ms = T0 + burst * MIN + 200_000
            events.append(
                Event("v", "g", lock, "smart_lock", point_time_ns(ms, "b", seq), seq, "b",
                      "unlock", {"credential": "c"}, Clock.SYNCED, False, False, ms)
            )  # fmt: skip
            seq += 1
    return History(sorted(readings, key=_order), sorted(events, key=_order))


def _order(item: Reading | Event) -> tuple[int, str, str, int]:
    return (item.time_ns, item.village, item.device, item.seq)


def one_by_one(
    h: History, villages: Sequence[Village], *, since_ms: int, until_ms: int, tick_ms: int
) -> Timeline:
    """The replay as it was before replay_each: one config, heapq.merge, ``_replace``."""
    engine = DetectEngine(villages, now_ms=since_ms)
    next_tick, out, numbers, count = since_ms + tick_ms, list[Transition](), dict[str, int](), 0
    items: list[Reading | Event] = list(h.readings)
    for item in heapq.merge(items, h.events, key=_order):
        at = item.at_ms
        while next_tick <= at:
            out += engine.tick(next_tick)
            next_tick += tick_ms
        seq = numbers[item.device] = numbers.get(item.device, -1) + 1
        renumbered = item._replace(boot="replay", seq=seq)
        if isinstance(renumbered, Reading):
            out += engine.handle(Decoded([renumbered], [], 0), at)
        else:
            out += engine.handle(Decoded([], [renumbered], 0), at)
        count += 1
    while next_tick < until_ms:
        out += engine.tick(next_tick)
        next_tick += tick_ms
    failures = tuple(f"{owner}: {exc}" for owner, exc in engine.failures)
    return Timeline(tuple(out), count, since_ms, until_ms, failures)


def test_one_pass_gives_each_config_what_it_gives_alone(tmp_path: Path) -> None:
    village(tmp_path / "today.yaml", warning=200, spike=12, codes=5)
    (tmp_path / "settings.yaml").write_text("villages: [today.yaml]\n")
    today = list(load_deployment(tmp_path / "settings.yaml", read_files=False).villages)
    candidate = [load_village(village(tmp_path / "c.yaml", warning=180, spike=8, codes=3))]
    h = history()
    until = T0 + HOURS * 60 * MIN
    together = replay_each(h, [today, candidate, today], since_ms=T0, until_ms=until, tick_s=5)
    alone = [
        one_by_one(h, villages, since_ms=T0, until_ms=until, tick_ms=5000)
        for villages in (today, candidate, today)
    ]
    assert together == alone
    kinds = {t.key.kind for t in together[1].transitions}
    assert {"level", "spike:level_cm", "device_offline", "link_down", "wrong_codes"} <= kinds
    assert together[0].transitions != together[1].transitions
