"""Free spaces for residents: the one page and JSON anyone may read, without a login.

Both are rate-limited per client address (:mod:`~villagewatch.api.ratelimit`, 429 with
Retry-After) and answered from a cache (:mod:`~villagewatch.api.publicspaces`); they show
the lots of ``public_lots:`` and nothing else. A lot that is not public answers 404 exactly
as one that does not exist.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse

from villagewatch.api.auth import context
from villagewatch.api.publicspaces import FRESH_S, PublicSpacesOut
from villagewatch.api.ratelimit import RateLimited

__all__ = ["PAGE", "router"]

router = APIRouter(tags=["public"])

PAGE = Path(__file__).parent.parent / "console" / "publicspaces.html"
"""The page; its module and style are console files (/console/publicspaces.js)."""

_NOT_PUBLIC = "no such public lot"


def _admit(request: Request) -> None:
    source = request.client.host if request.client else ""
    try:
        context(request).public_rate.admit(source, time.monotonic())
    except RateLimited as exc:
        raise HTTPException(
            429, str(exc), headers={"Retry-After": str(exc.retry_after_s)}
        ) from None


@router.get("/public/spaces.json")
async def public_spaces(
    request: Request,
    response: Response,
    village: Annotated[str | None, Query(max_length=64, description="Only this village.")] = None,
    lot: Annotated[
        str | None, Query(max_length=64, description="Only this lot (with `village`).")
    ] = None,
) -> PublicSpacesOut:
    """Free spaces of the parking lots villages mark public (`public_lots:`); no login.
    A count older than the lot's `stale_after_s` is `stale`, without numbers."""
    _admit(request)
    ctx = context(request)
    answer = await ctx.public_spaces.answer(ctx.deployment, ctx.store)
    if village is not None or lot is not None:
        lots = [
            one for one in answer.lots if village in (None, one.village) and lot in (None, one.id)
        ]
        if not lots:  # private, unknown or nonsense alike: nothing to tell apart
            raise HTTPException(404, _NOT_PUBLIC)
        answer = answer.model_copy(update={"lots": lots})
    response.headers["Cache-Control"] = f"public, max-age={int(FRESH_S)}"
    return answer


@router.get("/public/spaces", include_in_schema=False)
async def public_spaces_page(request: Request) -> FileResponse:
    """The page residents open on a phone (zh or en by the browser's language)."""
    _admit(request)
    return FileResponse(PAGE, media_type="text/html", headers={"Cache-Control": "no-cache"})
