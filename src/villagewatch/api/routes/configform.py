"""What the console's config page needs beyond the config routes: the village file's form
(its JSON schema, with units), the file as it is now with its detector settings, and a
preview of a changed text — its problems and the diff — before it is applied.

The form is generated in the browser from the typed models' schema (descriptions, bounds,
defaults and choices come from the ``Field`` definitions); applying goes through
``PUT /api/config/villages/{village}`` (:mod:`villagewatch.api.routes.config`), the one
path a village file changes by.
"""

from __future__ import annotations

import asyncio
import functools
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request

from villagewatch.api.auth import Maintainer, context
from villagewatch.api.middleware import max_body
from villagewatch.api.routes.config import (
    IssueOut,
    VillageTextIn,
    editable_village_file,
    issues_out,
    may_change_some_of,
)
from villagewatch.api.schemas import Reply
from villagewatch.config.village import Village
from villagewatch.versions import check_village_text
from villagewatch.versions.store import unified_diff

__all__ = ["router", "village_schema"]

router = APIRouter(tags=["config"])

_BODY_MAX = 8 * 1024 * 1024  # as for an apply: the text as JSON

# A setting's unit is the end of its name (warning_cm, hold_s): the house naming rule, so
# the form shows what the file's reader already sees. Longest ending first.
_UNITS = (("_per_s", "/s"), ("_cm", "cm"), ("_pct", "%"), ("_mm", "mm"), ("_s", "s"),
          ("_h", "h"))  # fmt: skip
_BARE_UNITS = {"mm": "mm"}


def _unit(name: str) -> str | None:
    if name in _BARE_UNITS:
        return _BARE_UNITS[name]
    return next((unit for end, unit in _UNITS if name.endswith(end)), None)


@functools.cache
def _schema() -> dict[str, Any]:
    schema = Village.model_json_schema()
    for model in (schema, *schema.get("$defs", {}).values()):
        for name, prop in model.get("properties", {}).items():
            if (unit := _unit(name)) is not None:
                prop["unit"] = unit
    return schema


def village_schema() -> dict[str, Any]:
    """The JSON schema of a village file, each setting whose name ends in a unit
    (``_cm``, ``_s``, ``_h``, ``_pct``, ``_per_s``, ``mm``) marked with ``"unit"``."""
    return _schema()


class EditableVillage(Reply):
    """A village whose file the user may change."""

    id: str
    name: str


class VillageFormOut(Reply):
    """The village file's schema and the villages the user may change."""

    village_schema: dict[str, Any]
    villages: list[EditableVillage]


class VillageFileOut(Reply):
    """A village file as it is now: its text, and its detector settings as written (``None``
    with the issues when the file on disk does not load)."""

    text: str
    detect: dict[str, Any] | None
    issues: list[IssueOut]


class PreviewOut(Reply):
    """Whether a changed text would be applied, every problem if not, the diff from the file
    as it is now, and (when valid) its detector settings as written, for the form."""

    ok: bool
    issues: list[IssueOut]
    diff: str
    detect: dict[str, Any] | None = None


@router.get("/api/config/village/schema")
async def village_form(request: Request, user: Maintainer) -> VillageFormOut:
    """The village file's JSON schema (descriptions, bounds, defaults, choices and units of
    every setting) and the villages the user may change, for the console's config form."""
    ctx = context(request)
    mine = [
        EditableVillage(id=v.id, name=v.name)
        for v in ctx.deployment.villages
        if may_change_some_of(ctx, user, v.id)
    ]
    return VillageFormOut(village_schema=village_schema(), villages=mine)


def _read(target: Path) -> str:
    try:
        return target.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""


def _written(village: Village | None) -> dict[str, Any] | None:
    """The ``detect`` section with only what the file sets (the form shows the rest as the
    schema's defaults, and writes back only what is set)."""
    if village is None:
        return None
    return village.detect.model_dump(mode="json", exclude_unset=True)


@router.get("/api/config/villages/{village}/file")
async def village_file_now(request: Request, user: Maintainer, village: str) -> VillageFileOut:
    """The village file's text as it is now and its ``detect`` section with only what the
    file sets (the rest is the defaults of the schema)."""
    ctx = context(request)
    _, target = editable_village_file(ctx, user, village)
    text = await asyncio.to_thread(_read, target)
    loaded, issues = await asyncio.to_thread(
        partial(check_village_text, text, target, village=village)
    )
    return VillageFileOut(text=text, detect=_written(loaded), issues=issues_out(issues))


@router.post("/api/config/villages/{village}/preview", openapi_extra=max_body(_BODY_MAX))
async def preview_village_file(
    request: Request, user: Maintainer, village: str, body: VillageTextIn
) -> PreviewOut:
    """Check a changed village file as an apply would (a file of another village is refused
    too) and diff it against the file as it is now; nothing changes."""
    ctx = context(request)
    _, target = editable_village_file(ctx, user, village)
    now = await asyncio.to_thread(_read, target)
    checked, issues = await asyncio.to_thread(
        partial(check_village_text, body.text, target, village=village)
    )
    diff = unified_diff(now, body.text, old_name=f"{village} (now)", new_name=f"{village} (new)")
    return PreviewOut(ok=not issues, issues=issues_out(issues), diff=diff, detect=_written(checked))
