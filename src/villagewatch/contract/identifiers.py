"""Identifier rules shared by topics, payloads and config.

Villages, devices, grids, boot ids, credentials and evidence ids are all
identifiers: ``[a-z0-9][a-z0-9_-]{0,63}``. Anything else — in particular the
MQTT wildcards ``+`` and ``#``, the level separator ``/`` and a leading ``$``
(broker-internal topics) — is refused everywhere, because an identity that
contains a wildcard is a known way around broker ACLs.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints

__all__ = ["Identifier", "is_identifier"]

# fullmatch, not ``re.match(...$)``: Python's ``$`` would accept a trailing newline.
_IDENTIFIER = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")

# pydantic compiles this with Rust's regex engine, whose ``$`` is the end of the text.
Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
"""A pydantic-validated identifier."""


def is_identifier(value: str) -> bool:
    """Return True when ``value`` follows the identifier rules."""
    return _IDENTIFIER.fullmatch(value) is not None
