"""Contexts: an unseen run of levels is novel once, a seen one is not, what a series stopped
doing is forgotten after two generations, and a state that does not fit is refused."""

from __future__ import annotations

import json

import pytest

from villagewatch.detectors.anomaly_contexts import GENERATION, Contexts


def novel(c: Contexts, levels: list[int]) -> list[float]:
    return [c.novel(level) for level in levels]


def test_a_context_is_novel_the_first_time_only() -> None:
    c = Contexts(4, 2)
    assert novel(c, [1, 2, 1, 2, 1, 2]) == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]  # 01 12 21, then seen
    assert novel(c, [3]) == [1.0]  # 23: a move the series never made


def test_a_context_not_made_for_two_generations_is_forgotten() -> None:
    c = Contexts(4, 2)
    novel(c, [1, 2])
    for _ in range(2 * GENERATION):
        c.novel(0)
    assert novel(c, [1, 2]) == [1.0, 1.0]  # 01 and 12 again new
    assert novel(c, [1, 2]) == [1.0, 0.0]  # 21 new, 12 now seen


def test_the_state_goes_on_exactly_and_stays_small() -> None:
    a = Contexts(32, 2)
    novel(a, [i * 7 % 32 for i in range(5000)])
    raw = json.loads(json.dumps(a.to_json()))
    assert len(json.dumps(raw)) <= 2 * 1024 // 4 + 40  # two 1024-bit sets in hexadecimal
    b = Contexts.from_json(32, 2, raw)
    levels = [i * 5 % 32 for i in range(100)]
    assert novel(a, levels) == novel(b, levels)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ([0, "0", "0"], "another shape"),
        ([1024, "0", "0", 0], "context out of range"),
        ([0, "0", "0", GENERATION], "context out of range"),
        ([0, "1" + "0" * 256, "0", 0], "set of contexts out of range"),
        ([0, "zz", "0", 0], "invalid literal"),
    ],
)
def test_a_state_that_does_not_fit_is_refused(raw: list[object], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Contexts.from_json(32, 2, raw)
