"""Config for maintainers: read what runs, check a changed village file, apply it.

Applying writes the village file atomically (the old one kept as ``.bak``) and
serves the new devices and places at once; detect reads village files at
start, so its detectors follow on its next restart (the answer says so).
Secrets never leave: channel settings are listed by id and kind only. Personal
data is shown as everywhere else (:func:`~villagewatch.api.auth.shown_phone`,
:func:`~villagewatch.api.auth.shown_tenant_name`): a maintainer sees no
member's phone and no tenant's name.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import Field

from villagewatch.api.auth import (
    Maintainer,
    context,
    now_ms,
    sees_place,
    shown_phone,
    shown_tenant_name,
)
from villagewatch.api.context import ApiContext
from villagewatch.api.middleware import max_body
from villagewatch.api.schemas import Reply
from villagewatch.api.users import User
from villagewatch.config import Deployment, load_village
from villagewatch.config.places import village_place
from villagewatch.config.village import Village
from villagewatch.contract import StrictModel
from villagewatch.errors import ConfigError

__all__ = ["router"]

router = APIRouter(tags=["config"])

_TEXT_MAX = 2_000_000
_BODY_MAX = 8 * 1024 * 1024  # the text as JSON: up to 3 bytes a character, escapes, quoting


class ConfigOut(Reply):
    """The running configuration, secrets left out."""

    settings: dict[str, Any]
    villages: list[dict[str, Any]]


class IssueOut(Reply):
    """One problem in a config file."""

    path: str
    line: int | None
    message: str


class VillageTextIn(StrictModel):
    """A village file's YAML text."""

    text: str = Field(
        max_length=_TEXT_MAX, description="The whole village file (YAML), at most 2,000,000 "
        "characters.",
    )  # fmt: skip


class CheckOut(Reply):
    """Whether the text is a valid village file, and every problem if not."""

    ok: bool
    issues: list[IssueOut]
    applied: bool = False
    note: str = ""


def _settings_shown(ctx: ApiContext, user: User) -> dict[str, Any]:
    s = ctx.deployment.settings.model_dump(mode="json")
    s["alerts"]["channels"] = {
        cid: {"kind": c.kind} for cid, c in ctx.deployment.settings.alerts.channels.items()
    }
    for secret in ("password_file", "token_file", "password", "token"):
        s["store"].pop(secret, None)
    s["mqtt"].pop("password_file", None)
    for team in s["alerts"]["towns"].values():
        _team_shown(team, user)
    return s


def _village_shown(village: Village, user: User) -> dict[str, Any]:
    v = village.model_dump(mode="json")
    for team in (v["team"], *(g["team"] for g in v["grids"])):
        _team_shown(team, user)
    for house in v["houses"]:
        for tenant in house["tenants"]:
            tenant["name"] = shown_tenant_name(user, tenant["name"])
    return v


def _team_shown(team: dict[str, Any] | None, user: User) -> None:
    for member in team["members"] if team else ():
        member["phone"] = shown_phone(user, member["phone"])


@router.get("/api/config")
async def read_config(request: Request, user: Maintainer) -> ConfigOut:
    """The settings (no secrets) and the villages the user may see; members' phones and
    tenants' names only for roles that need them."""
    ctx = context(request)
    seen = ctx.places.villages_of(ctx.places.under(user.places))
    return ConfigOut(
        settings=_settings_shown(ctx, user),
        villages=[_village_shown(v, user) for v in ctx.deployment.villages if v.id in seen],
    )


def _check(text: str, where: Path) -> tuple[Village | None, list[IssueOut]]:
    """Validate village YAML by loading it from a temporary file next to ``where``."""
    where.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".check-", suffix=".yaml", dir=where)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        return load_village(Path(name)), []
    except ConfigError as exc:
        return None, [IssueOut(path=i.path, line=i.line, message=i.message) for i in exc.issues]
    finally:
        Path(name).unlink(missing_ok=True)


@router.post("/api/config/village/check", openapi_extra=max_body(_BODY_MAX))
async def check_village(request: Request, _user: Maintainer, body: VillageTextIn) -> CheckOut:
    """Check a village file without applying it."""
    ctx = context(request)
    _, issues = await asyncio.to_thread(_check, body.text, ctx.deployment.settings.api.state_dir)
    return CheckOut(ok=not issues, issues=issues)


@router.put("/api/config/villages/{village}", openapi_extra=max_body(_BODY_MAX))
async def apply_village(
    request: Request, user: Maintainer, village: str, body: VillageTextIn
) -> CheckOut:
    """Check and apply a changed village file: devices and places change in the API at once;
    detect picks them up when restarted."""
    ctx = context(request)
    index = next((i for i, v in enumerate(ctx.deployment.villages) if v.id == village), None)
    if index is None or not sees_place(ctx, user, village_place(village)):
        raise HTTPException(404, f"no village {village!r} among yours")
    target = ctx.deployment.settings.villages[index]
    checked, issues = await asyncio.to_thread(_check, body.text, target.parent)
    if checked is None:
        return CheckOut(ok=False, issues=issues)
    if checked.id != village:
        problem = IssueOut(path="id", line=None, message=f"the file is village {checked.id!r}")
        return CheckOut(ok=False, issues=[problem])
    await asyncio.to_thread(_replace, target, body.text)
    villages = list(ctx.deployment.villages)
    villages[index] = checked
    ctx.use(Deployment(ctx.deployment.settings, tuple(villages)))
    await asyncio.to_thread(
        ctx.users.audit, user.name, "apply_config", village_place(village),
        {"file": str(target), "bytes": len(body.text.encode())}, now_ms(),
    )  # fmt: skip
    return CheckOut(
        ok=True, issues=[], applied=True,
        note="applied; detect uses it after its next restart",
    )  # fmt: skip


def _replace(target: Path, text: str) -> None:
    tmp = target.with_name(f".{target.name}.new")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    if target.exists():
        backup = target.with_name(target.name + ".bak")
        backup.write_bytes(target.read_bytes())
    tmp.replace(target)
