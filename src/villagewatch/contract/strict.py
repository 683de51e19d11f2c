"""The one strict base of villagewatch's pydantic models (config files, API requests)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["StrictModel"]


class StrictModel(BaseModel):
    """Immutable once made, and a key it does not define is an error: a misspelt key in a
    config file or a request is reported where it is written, never silently ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
