"""What the drivers share: the config strictness, and (from
``villagewatch.runtime.waiting``) a sleep that ends early on stop."""

from __future__ import annotations

from pydantic import ConfigDict

from villagewatch.runtime.waiting import sleep_or_stop

__all__ = ["STRICT", "sleep_or_stop"]

STRICT = ConfigDict(frozen=True, extra="forbid")
"""Every driver config: immutable, and an unknown key is an error rather than ignored."""
