"""The clock the central services' timers go by: the wall clock's steps don't move it."""

from __future__ import annotations

from villagewatch.runtime.steadyclock import SteadyClock

HOUR_NS = 3600 * 10**9


def test_a_step_of_the_wall_clock_does_not_move_it_but_shows_as_skew() -> None:
    wall, mono = [1_795_000_000 * 10**9], [5 * 10**9]
    clock = SteadyClock(wall_ns=lambda: wall[0], mono_ns=lambda: mono[0])
    start = clock.now_ms()
    mono[0] += 10**9
    wall[0] += 10**9 + 6 * HOUR_NS  # one real second, and a step of +6 h
    assert clock.now_ms() == start + 1000
    assert clock.check() == 6 * 3600 * 1000
    wall[0] -= 6 * HOUR_NS  # and back
    assert clock.check() == 0
