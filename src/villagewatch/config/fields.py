"""Field types the settings models share."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field

__all__ = ["Port", "TimeZoneName", "known_zone"]

Port = Annotated[int, Field(ge=1, le=65535)]
"""A TCP port number."""


def known_zone(name: str) -> str:
    """``name`` if it is a time zone this machine knows (an IANA name such as Asia/Shanghai);
    a ValueError saying so otherwise."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # ValueError: not a zone name at all (an absolute path, "..", an empty text)
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name such as Asia/Shanghai or "
            "Europe/Berlin (the machine's zone database must have it)"
        ) from None
    return name


TimeZoneName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(known_zone)]
"""An IANA time zone name the machine knows (Asia/Shanghai, Europe/Berlin)."""
