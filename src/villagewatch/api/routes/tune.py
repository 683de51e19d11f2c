"""Replay for maintainers: what a candidate village file would have raised on the stored
history, alert by alert, beside what today's config raised (:mod:`villagewatch.tune`).

It reads only — detect's state, the alerts and the notifications are not touched — and
one replay runs at a time (a second is told to come back), over at most 92 days.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import AwareDatetime, Field

from villagewatch.api.auth import Maintainer, context
from villagewatch.api.middleware import max_body
from villagewatch.api.routes.config import IssueOut, editable_village_file, issues_out
from villagewatch.api.schemas import Reply
from villagewatch.contract import Identifier, StrictModel
from villagewatch.tune import ReplayError, try_candidate
from villagewatch.versions import check_village_text

__all__ = ["router"]

router = APIRouter(tags=["config"])

_TEXT_MAX = 2_000_000
_RANGE_MAX_MS = 92 * 86_400_000
_RUNNING = asyncio.Lock()  # only tested with locked(), never waited on: no loop is bound


class ReplayIn(StrictModel):
    """A candidate village file and the stored range to replay it on."""

    since: AwareDatetime = Field(description="Start of the range (with its offset).")
    until: AwareDatetime = Field(description="End of the range, not included; ≤ 92 days on.")
    village: Identifier = Field(description="The village the candidate file is for.")
    device: Identifier | None = Field(None, description="Only this device.")
    candidate: str = Field(
        max_length=_TEXT_MAX, description="The candidate village file (YAML), whole."
    )


class ReplayOut(Reply):
    """The report of the replay (as ``villagewatch tune replay --json`` writes it; see
    docs/detectors.md), or the candidate's problems."""

    ok: bool
    issues: list[IssueOut]
    report: dict[str, Any] | None = None


@router.post("/api/tune/replay", openapi_extra=max_body(_TEXT_MAX + 4096))
async def replay_candidate(request: Request, user: Maintainer, body: ReplayIn) -> ReplayOut:
    """Replay the stored readings and events of the range through today's config and through
    the candidate village file: each alert timeline and what the candidate changes (added,
    removed, earlier, later, severity), counted per kind and place. Changes nothing."""
    ctx = context(request)
    _, target = editable_village_file(ctx, user, body.village)
    since_ms = int(body.since.timestamp() * 1000)
    until_ms = int(body.until.timestamp() * 1000)
    if not 0 < until_ms - since_ms <= _RANGE_MAX_MS:
        raise HTTPException(422, "until must be after since, by at most 92 days")
    candidate, issues = await asyncio.to_thread(
        partial(check_village_text, body.candidate, target, village=body.village)
    )
    if candidate is None:
        return ReplayOut(ok=False, issues=issues_out(issues))
    if _RUNNING.locked():
        raise HTTPException(429, "another replay is running; try again when it has ended")
    async with _RUNNING:
        try:
            trial = await try_candidate(
                ctx.store, ctx.deployment.villages, candidate, since_ms=since_ms,
                until_ms=until_ms, tick_s=ctx.deployment.settings.detect.tick_s,
                village=body.village, device=body.device,
            )  # fmt: skip
        except ReplayError as exc:
            raise HTTPException(422, str(exc)) from None
    return ReplayOut(ok=True, issues=[], report=trial.report)
