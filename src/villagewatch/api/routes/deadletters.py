"""Dead letters: the messages the ingester refused (bad topic, bad JSON, unknown device, a
store's refusal …), kept in the readings store with their reason. Operators and maintainers
see counts by reason and the newest examples per device, and page through them; each
payload (at most 512 bytes, as kept) is given as text, never interpreted. A user sees the
letters of the places they see (by the device's grid, else its village); letters whose topic
names no place are for users of every place."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import Field

from villagewatch.api.auth import Operator, context
from villagewatch.api.context import ApiContext
from villagewatch.api.schemas import Reply
from villagewatch.api.users import User
from villagewatch.config.places import grid_place, village_place
from villagewatch.contract import DeadLetter, RejectReason

__all__ = ["router"]

router = APIRouter(tags=["ingest"])

SCAN_MAX = 5000
"""The most dead letters one summary reads (the newest)."""


class DeadLetterOut(Reply):
    """One refused message."""

    received: datetime
    received_ns: int = Field(
        description="Nanoseconds since 1970 (a JSON number past JavaScript's exact range: page "
        "with `next_before`, which is a string)."
    )
    topic: str
    village: str | None = Field(description="From the topic, if it has the contract's shape.")
    device: str | None
    reason: RejectReason
    detail: str
    payload: str = Field(description="The kept bytes as UTF-8 text, undecodable ones as U+FFFD.")
    payload_bytes: int
    binary: bool = Field(description="Not valid UTF-8 text (shown with replacement marks).")


class DeadLetterPage(Reply):
    """Dead letters newest first, and where the next page starts."""

    letters: list[DeadLetterOut]
    next_before: str | None = Field(
        pattern=r"^[0-9]+$",
        description="`before` for the next page, as digits in a string (a JSON number this large "
        "loses its last digits in JavaScript, and the next page would repeat or skip letters); "
        "null: no more.",
    )


class DeviceLetters(Reply):
    """The dead letters of one device (or one topic that names no device)."""

    village: str | None
    device: str | None
    count: int
    reasons: dict[str, int]
    latest: list[DeadLetterOut] = Field(description="Its newest ones, newest first.")


class DeadLetterSummary(Reply):
    """Counts over the newest ``scanned`` dead letters."""

    scanned: int
    complete: bool = Field(description="Every stored dead letter was read (fewer than scan).")
    oldest: datetime | None = Field(description="The oldest one read.")
    reasons: dict[str, int] = Field(description="Count per reason, most frequent first.")
    devices: list[DeviceLetters] = Field(description="Most dead letters first.")


def _where(topic: str) -> tuple[str | None, str | None]:
    """Village and device of a topic shaped like the contract's, leniently (the letter may be
    here because the topic was wrong)."""
    parts = topic.split("/")
    if len(parts) >= 4 and parts[:2] == ["vw", "v1"] and parts[2] and parts[3]:
        return parts[2][:64], parts[3][:64]
    return None, None


def _seen(ctx: ApiContext, user: User, village: str | None, device: str | None) -> bool:
    scope = ctx.places.under(user.places)
    if scope is None:
        return True
    if village is None:
        return False
    spec = ctx.devices.get((village, device or ""))
    return (grid_place(village, spec.grid) if spec else village_place(village)) in scope


def _out(d: DeadLetter) -> DeadLetterOut:
    village, device = _where(d.topic)
    try:
        text, binary = d.payload.decode("utf-8"), False
    except UnicodeDecodeError:
        text, binary = d.payload.decode("utf-8", errors="replace"), True
    return DeadLetterOut(
        received=datetime.fromtimestamp(d.received_ns / 1e9, tz=UTC),
        received_ns=d.received_ns, topic=d.topic, village=village, device=device,
        reason=d.reason, detail=d.detail, payload=text, payload_bytes=len(d.payload),
        binary=binary,
    )  # fmt: skip


async def _visible(
    ctx: ApiContext, user: User, limit: int, before_ns: int | None
) -> tuple[list[DeadLetter], bool]:
    """Up to ``limit`` of the newest letters the user sees, and whether the store has no
    more; reads at most SCAN_MAX stored ones, in pages."""
    shown: list[DeadLetter] = []
    read = 0
    while len(shown) < limit and read < SCAN_MAX:
        want = min(500, SCAN_MAX - read)
        page = await ctx.store.dead_letters(limit=want, before_ns=before_ns)
        read += len(page)
        shown += [d for d in page if _seen(ctx, user, *_where(d.topic))]
        if len(page) < want:
            return shown[:limit], True
        before_ns = page[-1].received_ns
    return shown[:limit], False


@router.get("/api/dead-letters")
async def dead_letters(
    request: Request,
    user: Operator,
    limit: Annotated[int, Query(ge=1, le=200, description="At most this many.")] = 50,
    before: Annotated[
        int | None, Query(ge=0, le=2**63 - 1, description="Only older than this received_ns.")
    ] = None,
) -> DeadLetterPage:
    """The newest dead letters of the user's places, a page at a time."""
    ctx = context(request)
    letters, complete = await _visible(ctx, user, limit, before)
    more = not complete or len(letters) == limit
    return DeadLetterPage(
        letters=[_out(d) for d in letters],
        next_before=str(letters[-1].received_ns) if letters and more else None,
    )


@router.get("/api/dead-letters/summary")
async def summary(
    request: Request,
    user: Operator,
    scan: Annotated[
        int, Query(ge=1, le=SCAN_MAX, description="Count over the newest this many.")
    ] = 2000,
    examples: Annotated[int, Query(ge=1, le=10, description="Newest ones per device.")] = 3,
) -> DeadLetterSummary:
    """Counts by reason and per device, with each device's newest examples."""
    ctx = context(request)
    letters, complete = await _visible(ctx, user, scan, None)
    reasons = Counter(d.reason.value for d in letters)
    per_device: dict[tuple[str | None, str | None], list[DeadLetter]] = {}
    for d in letters:
        per_device.setdefault(_where(d.topic), []).append(d)
    devices = [
        DeviceLetters(
            village=village, device=device, count=len(items),
            reasons=dict(Counter(d.reason.value for d in items).most_common()),
            latest=[_out(d) for d in items[:examples]],
        )
        for (village, device), items in sorted(per_device.items(), key=lambda kv: -len(kv[1]))
    ]  # fmt: skip
    return DeadLetterSummary(
        scanned=len(letters),
        complete=complete and len(letters) < scan,
        oldest=datetime.fromtimestamp(letters[-1].received_ns / 1e9, tz=UTC) if letters else None,
        reasons=dict(reasons.most_common()),
        devices=devices,
    )
