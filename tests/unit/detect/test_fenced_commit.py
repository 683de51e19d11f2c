"""A partition's commits are fenced by its lease: once another process took the partition
over, the old holder's commit is refused whole — no state, no transition, no dead letter."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from villagewatch.cluster.leases import LeaseLost, read_leases, take
from villagewatch.contract import DeadLetter, RejectReason
from villagewatch.detect.store import DetectStore
from villagewatch.transitions import AlertKey, Severity, Transition


def fire(at_ms: int) -> Transition:
    key = AlertKey("level", "va", "wl-000", "level")
    return Transition(key, "fire", Severity.ORANGE, at_ms, "high", {})


def test_a_commit_under_a_lost_lease_writes_nothing(tmp_path: Path) -> None:
    async def main() -> None:
        store = DetectStore(tmp_path / "detect.db", reserve_bytes=0)
        try:
            old = await store.leases(lambda c: take(c, "north", "a", None))
            assert old is not None
            assert await store.commit({"va/wl-000": "{}"}, [fire(1)], fence=old) == 1
            seen = await store.leases(lambda c: read_leases(c, ["north"]))
            new = await store.leases(lambda c: take(c, "north", "b", seen["north"]))
            assert new is not None
            dead = DeadLetter(1, "t", RejectReason.INTERNAL_ERROR, "x", b"")
            with pytest.raises(LeaseLost):
                await store.commit({"va/wl-000": '{"stale": 1}'}, [fire(2)], [dead], fence=old)
            assert store.load_states() == [("va/wl-000", {})]
            assert [a["since_ms"] for a in await store.firing()] == [1]
            assert await store.dead_letters() == []
            assert await store.commit({"va/wl-000": '{"b": 1}'}, [fire(2)], fence=new) == 1
            assert store.load_states() == [("va/wl-000", {"b": 1})]
        finally:
            await store.close()

    asyncio.run(main())
