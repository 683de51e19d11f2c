"""The login throttle shared by API nodes (on both engines): failures spread over two nodes
count together per name and per address, what it keeps is bounded, and a node killed
mid-attempt does not lock an address out."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from villagewatch.api import throttle_shared
from villagewatch.api.throttle import FREE_FAILURES, SOURCE_AT_ONCE, LoginRefused
from villagewatch.api.throttle_shared import SharedLoginThrottle
from villagewatch.db.database import Location


@pytest.fixture
def nodes(relational: Callable[[str], Location]) -> Iterator[list[SharedLoginThrottle]]:
    """Two API nodes' throttles on one users store."""
    made = [
        SharedLoginThrottle(
            relational("logins"),
            busy_timeout_s=5,
            failures_per_source=6,
            window_s=300,
            delay_max_s=30,
            tracked=4,
        )
        for _ in range(2)
    ]
    yield made
    for n in made:
        n.close()


def test_a_names_failures_on_two_nodes_lengthen_its_wait_together(
    nodes: list[SharedLoginThrottle],
) -> None:
    waits = []
    for n in range(FREE_FAILURES + 3):
        node = nodes[n % 2]
        attempt = node.admit(f"10.0.0.{n}", "op")  # a new address each time
        waits.append(attempt.wait_s)
        node.finish(attempt, succeeded=False)
    # the first free failures cost nothing; then each wait is at least the doubled delay
    assert waits[: FREE_FAILURES - 1] == [0.0] * (FREE_FAILURES - 1)
    assert waits[-1] >= 2, f"the fifth failure over both nodes waits: {waits}"
    right = nodes[1].admit("10.9.9.9", "op")
    assert right.wait_s <= 30, "the right password is checked within delay_max_s"
    nodes[1].finish(right, succeeded=True)
    assert nodes[0].admit("10.9.9.8", "op").wait_s == 0, "a success clears the name's count"


def test_an_addresses_failures_on_two_nodes_are_refused_together(
    nodes: list[SharedLoginThrottle],
) -> None:
    for n in range(6):
        node = nodes[n % 2]
        node.finish(node.admit("10.0.0.9", f"user-{n}"), succeeded=False)
    for node in nodes:
        with pytest.raises(LoginRefused, match="too many failed logins from your address") as e:
            node.admit("10.0.0.9", "someone")
        assert e.value.retry_after_s >= 1
    assert nodes[0].admit("10.0.0.10", "op").wait_s == 0, "another address may try"


def test_attempts_at_once_count_over_both_nodes(nodes: list[SharedLoginThrottle]) -> None:
    for n in range(SOURCE_AT_ONCE):
        nodes[n % 2].admit("10.0.0.9", f"user-{n}")
    with pytest.raises(LoginRefused, match="at once"):
        nodes[0].admit("10.0.0.9", "another")


def test_what_is_kept_is_bounded_by_evicting_the_oldest(
    nodes: list[SharedLoginThrottle],
) -> None:
    for n in range(10):
        nodes[n % 2].finish(nodes[n % 2].admit(f"10.0.0.{n}", f"u{n}"), succeeded=False)
    assert nodes[0].tracked() == (4, 4)


def test_a_node_killed_mid_attempt_does_not_lock_its_address_out(
    nodes: list[SharedLoginThrottle], monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(SOURCE_AT_ONCE):
        nodes[0].admit("10.0.0.9", f"user-{n}")  # never finished: the node died
    with pytest.raises(LoginRefused, match="at once"):
        nodes[1].admit("10.0.0.9", "op")
    monkeypatch.setattr(throttle_shared, "STALE_AFTER_S", -31.0)  # delay_max 30: stale at once
    assert nodes[1].admit("10.0.0.9", "op").wait_s == 0
