"""One replay as the CLI (and an API route) runs it: read the range from the store it is
given, replay it through today's villages and the candidate, compare, report."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from villagewatch.config.village import Village
from villagewatch.store.base import Store
from villagewatch.tune.compare import Comparison, compare
from villagewatch.tune.replay import ReplayError, Timeline, replay, scoped, with_candidate
from villagewatch.tune.report import report

__all__ = ["Trial", "try_candidate"]


@dataclass(frozen=True, slots=True)
class Trial:
    """Both timelines, their comparison, and the JSON report of them."""

    today: Timeline
    candidate: Timeline
    comparison: Comparison
    report: dict[str, Any]


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
    if until_ms <= since_ms:
        raise ReplayError("the range is empty: --to must be after --from")
    today_villages = scoped(villages, village=village, device=device)
    candidate_villages = scoped(with_candidate(villages, candidate), village=village, device=device)
    history = await store.history(
        since_ns=since_ms * 1_000_000, until_ns=until_ms * 1_000_000, village=village, device=device
    )
    grids = {(v.id, d.id): d.grid for v in villages for d in v.devices}
    scope = {"village": village, "device": device, "candidate": candidate.id}

    def run() -> Trial:  # CPU-bound: in a thread, so an API that runs it keeps answering
        today = replay(history, today_villages, since_ms=since_ms, until_ms=until_ms, tick_s=tick_s)
        theirs = replay(
            history, candidate_villages, since_ms=since_ms, until_ms=until_ms, tick_s=tick_s
        )
        comparison = compare(today, theirs, grids=grids)
        return Trial(
            today, theirs, comparison, report(today, theirs, comparison, grids=grids, scope=scope)
        )

    return await asyncio.to_thread(run)
