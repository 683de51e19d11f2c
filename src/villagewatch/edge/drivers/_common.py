"""What the drivers share: the config strictness and a sleep that ends early on stop."""

from __future__ import annotations

import asyncio
import contextlib

from pydantic import ConfigDict

__all__ = ["STRICT", "sleep_or_stop"]

STRICT = ConfigDict(frozen=True, extra="forbid")
"""Every driver config: immutable, and an unknown key is an error rather than ignored."""


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds`` or until ``stop`` is set, whichever is first; True when stopped."""
    if seconds > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()
