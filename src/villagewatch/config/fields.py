"""Field types the settings models share."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

__all__ = ["Port"]

Port = Annotated[int, Field(ge=1, le=65535)]
"""A TCP port number."""
