"""The contract's control messages: an agent's retained status (birth and last will), the
config the centre wants an agent to run, and what the agent applied.

Strict like every payload (:mod:`villagewatch.contract.payloads`): no coercion, no unknown
fields.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, JsonValue

from villagewatch.contract.identifiers import Identifier
from villagewatch.contract.payloads import _WIRE, MAX_ITEMS, Timestamp

__all__ = ["DesiredConfig", "ReportedConfig", "StatusMessage"]


class StatusMessage(BaseModel):
    """``…/status`` (retained): birth on connect, death as the last will."""

    model_config = _WIRE

    v: Literal[1]
    device: Identifier
    state: Literal["online", "offline"]
    boot: Identifier | None = None
    ts: Timestamp | None = None
    devices: list[Identifier] = Field(
        default_factory=list, max_length=MAX_ITEMS, description="Devices behind this agent."
    )


class DesiredConfig(BaseModel):
    """``…/config`` (retained): what the centre wants the edge to run."""

    model_config = _WIRE

    v: Literal[1]
    version: int = Field(ge=0)
    config: dict[str, JsonValue]


class ReportedConfig(BaseModel):
    """``…/config/reported``: what the edge applied, or why it refused."""

    model_config = _WIRE

    v: Literal[1]
    version: int = Field(ge=0)
    applied: bool
    error: str | None = Field(None, max_length=500)
