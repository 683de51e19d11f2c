"""One replay as the CLI (and an API route) runs it: read the range from the store it is
given, replay it through today's villages and the candidate, compare, report.

The stages are separate (:class:`Plan` checks the question, :meth:`Plan.read` reads,
:meth:`Plan.judge` replays and compares) so ``bench/replay.py`` times each of them;
:func:`try_candidate` runs them all."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from villagewatch.config.village import Village
from villagewatch.store.base import History, Store
from villagewatch.tune.compare import Comparison, compare
from villagewatch.tune.replay import ReplayError, Timeline, replay_each, scoped, with_candidate
from villagewatch.tune.report import report

__all__ = ["Plan", "Trial", "try_candidate"]


@dataclass(frozen=True, slots=True)
class Trial:
    """Both timelines, their comparison, and the JSON report of them."""

    today: Timeline
    candidate: Timeline
    comparison: Comparison
    report: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Plan:
    """A replay's question, checked: the range, the villages (and devices) of each side,
    where each device is, and the scope as the report states it."""

    since_ms: int
    until_ms: int
    tick_s: float
    village: str | None
    device: str | None
    today: list[Village]
    candidate: list[Village]
    grids: Mapping[tuple[str, str], str]
    scope: Mapping[str, str | None]

    @classmethod
    def of(
        cls,
        villages: Sequence[Village],
        candidate: Village,
        *,
        since_ms: int,
        until_ms: int,
        tick_s: float,
        village: str | None = None,
        device: str | None = None,
    ) -> Plan:
        """Replay [since, until) (one village or device, or all) through ``villages`` and
        through them with ``candidate`` in place of its village. Raises :class:`ReplayError`
        for an empty range, or a scope or candidate the config does not fit."""
        if until_ms <= since_ms:
            raise ReplayError("the range is empty: --to must be after --from")
        return cls(
            since_ms, until_ms, tick_s, village, device,
            scoped(villages, village=village, device=device),
            scoped(with_candidate(villages, candidate), village=village, device=device),
            {(v.id, d.id): d.grid for v in villages for d in v.devices},
            {"village": village, "device": device, "candidate": candidate.id},
        )  # fmt: skip

    async def read(self, store: Store) -> History:
        """The stored readings and events of the range and scope."""
        return await store.history(
            since_ns=self.since_ms * 1_000_000,
            until_ns=self.until_ms * 1_000_000,
            village=self.village,
            device=self.device,
        )

    def replay(self, history: History) -> tuple[Timeline, Timeline]:
        """Today's timeline and the candidate's, in one pass over ``history``."""
        today, theirs = replay_each(
            history, [self.today, self.candidate],
            since_ms=self.since_ms, until_ms=self.until_ms, tick_s=self.tick_s,
        )  # fmt: skip
        return today, theirs

    def conclude(self, today: Timeline, theirs: Timeline) -> Trial:
        """The comparison of the two timelines, and the report of it all."""
        comparison = compare(today, theirs, grids=self.grids)
        return Trial(
            today,
            theirs,
            comparison,
            report(today, theirs, comparison, grids=self.grids, scope=self.scope),
        )


async def try_candidate(
    store: Store,
    villages: Sequence[Village],
    candidate: Village,
    *,
    since_ms: int,
    until_ms: int,
    tick_s: float,
    village: str | None = None,
    device: str | None = None,
) -> Trial:
    """Replay [since, until) of ``store`` (one village or device, or all) through ``villages``
    and through them with ``candidate`` in place of its village. Reads only; raises
    :class:`ReplayError` for a scope or candidate the config does not fit."""
    plan = Plan.of(
        villages, candidate,
        since_ms=since_ms, until_ms=until_ms, tick_s=tick_s, village=village, device=device,
    )  # fmt: skip
    history = await plan.read(store)

    def run() -> Trial:  # CPU-bound: in a thread, so an API that runs it keeps answering
        return plan.conclude(*plan.replay(history))

    return await asyncio.to_thread(run)
