"""Config for maintainers: read what runs, check a changed village file, apply it, list its
versions, roll it back.

Applying (with a note saying why) writes the village file atomically (the old one kept as
``.bak``), keeps it as a new version (:mod:`villagewatch.versions`) and serves the new
devices and places at once; a rollback is an apply of an old version's text. Every running
service follows a changed file within 5 s (:mod:`villagewatch.runtime.follow`).
Secrets never leave: channel settings are listed by id and kind only. Personal
data is shown as everywhere else (:func:`~villagewatch.api.auth.shown_phone`,
:func:`~villagewatch.api.auth.shown_tenant_name`): a maintainer sees no
member's phone and no tenant's name.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi import Path as PathParam
from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from villagewatch.api.auth import (
    Maintainer,
    context,
    now_ms,
    sees_place,
    shown_phone,
    shown_tenant_name,
)
from villagewatch.api.configscope import out_of_scope
from villagewatch.api.context import ApiContext
from villagewatch.api.middleware import max_body
from villagewatch.api.schemas import Reply
from villagewatch.api.users import User
from villagewatch.config.places import grid_place, village_place
from villagewatch.config.village import Village
from villagewatch.contract import StrictModel
from villagewatch.errors import ConfigIssue
from villagewatch.versions import (
    NOTE_MAX,
    Refused,
    UnknownVersion,
    VersionRefused,
    VersionSummary,
    apply_village,
    check_village_text,
    checked_note,
    village_file,
)

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


def _note(note: str) -> str:
    try:
        return checked_note(note)
    except VersionRefused as exc:  # said as the user knows it, not pydantic's "Value error"
        raise PydanticCustomError("note", str(exc)) from None


Note = Annotated[
    str,
    AfterValidator(_note),
    Field(
        validate_default=True,  # a missing note is refused with the same words as an empty one
        description=f"Why the file changes (required, at most {NOTE_MAX} characters); kept "
        "with the version.",
    ),
]


_MAX_VERSION = 2**53  # beyond any count of applies, within SQLite's integers
VersionNumber = Annotated[
    int, PathParam(ge=1, le=_MAX_VERSION, description="The version's number (from 1).")
]


class NoteIn(StrictModel):
    """Why a change is made."""

    note: Note = ""


class VillageApplyIn(VillageTextIn):
    """A village file's YAML text, and why it changes."""

    note: Note = ""


class CheckOut(Reply):
    """Whether the text is a valid village file, and every problem if not; ``version``: the
    version it was kept as, when applied."""

    ok: bool
    issues: list[IssueOut]
    applied: bool = False
    version: int | None = None
    note: str = ""


class VersionOut(Reply):
    """One applied version of a file: who applied it, when (epoch ms) and why."""

    number: int
    who: str
    at_ms: int
    note: str
    rollback_of: int | None = Field(description="The version it restored, if a rollback.")

    @classmethod
    def of(cls, v: VersionSummary) -> VersionOut:
        """The answer for a stored version."""
        return cls(number=v.n, who=v.who, at_ms=v.at_ms, note=v.note, rollback_of=v.rollback_of)


class VersionsOut(Reply):
    """The versions of a file, newest first."""

    versions: list[VersionOut]


class VersionTextOut(VersionOut):
    """One version whole: its text and a unified diff."""

    text: str
    diff: str


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


def issues_out(found: list[ConfigIssue]) -> list[IssueOut]:
    """Config issues as the API answers them."""
    return [IssueOut(path=i.path, line=i.line, message=i.message) for i in found]


@router.post("/api/config/village/check", openapi_extra=max_body(_BODY_MAX))
async def check_village(request: Request, _user: Maintainer, body: VillageTextIn) -> CheckOut:
    """Check a village file without applying it."""
    ctx = context(request)
    where = ctx.deployment.settings.api.state_dir / "check.yaml"
    _, issues = await asyncio.to_thread(check_village_text, body.text, where)
    return CheckOut(ok=not issues, issues=issues_out(issues))


def editable_village_file(ctx: ApiContext, user: User, village: str) -> tuple[int, Path]:
    """The index and file of a village the user may change (all of it, or the devices of
    their grids: :func:`_in_scope`); 404 otherwise (a village out of scope is not told apart
    from one that does not exist)."""
    index = next((i for i, v in enumerate(ctx.deployment.villages) if v.id == village), None)
    if index is None or not may_change_some_of(ctx, user, village):
        raise HTTPException(404, f"no village {village!r} among yours")
    return index, ctx.deployment.settings.villages[index]


def may_change_some_of(ctx: ApiContext, user: User, village: str) -> bool:
    """Whether the user's places hold the village or one of its grids (a maintainer may then
    change its file, within :func:`_in_scope`)."""
    return any(sees_place(ctx, user, p) for p in ctx.places.below(village_place(village)))


async def _in_scope(ctx: ApiContext, user: User, index: int, target: Path, text: str) -> None:
    """403 naming every part of ``text`` that changes more than the user's grids hold
    (:func:`~villagewatch.api.configscope.out_of_scope`); a text that does not load is left
    to the apply, which says why."""
    running = ctx.deployment.villages[index]
    if sees_place(ctx, user, village_place(running.id)):
        return
    new, _issues = await asyncio.to_thread(check_village_text, text, target, village=running.id)
    if new is None:
        return
    problems = out_of_scope(
        running, new, lambda grid: sees_place(ctx, user, grid_place(running.id, grid))
    )
    if problems:
        raise HTTPException(
            403, "you may change the devices of your grids only; this file also changes: "
            + "; ".join(problems),
        )  # fmt: skip


async def _apply(
    ctx: ApiContext, user: User, village: str, text: str, note: str, rollback_of: int | None
) -> CheckOut:
    """Check, write, record and serve ``text`` as the village's file — the one path of apply
    and rollback (:func:`~villagewatch.versions.apply_village`)."""
    index, target = editable_village_file(ctx, user, village)
    await _in_scope(ctx, user, index, target, text)
    done = await asyncio.to_thread(
        apply_village, ctx.versions, target, text, village=village, who=user.name, note=note,
        at_ms=now_ms(), rollback_of=rollback_of,
    )  # fmt: skip
    if isinstance(done, Refused):
        return CheckOut(ok=False, issues=issues_out(done.issues))
    villages = list(ctx.deployment.villages)
    villages[index] = done.village
    ctx.use(dataclasses.replace(ctx.deployment, villages=tuple(villages)))
    details: dict[str, Any] = {"file": str(target), "bytes": len(text.encode()),
                               "version": done.version.n}  # fmt: skip
    if rollback_of is not None:
        details["rollback_of"] = rollback_of
    await asyncio.to_thread(
        ctx.users.audit, user.name, "rollback_config" if rollback_of else "apply_config",
        village_place(village), details, now_ms(),
    )  # fmt: skip
    return CheckOut(
        ok=True, issues=[], applied=True, version=done.version.n,
        note="applied; detect follows within 5 s, and so do the alert engine, the ingester "
        "and the API, without a restart",
    )  # fmt: skip


@router.put("/api/config/villages/{village}", openapi_extra=max_body(_BODY_MAX))
async def apply_village_file(
    request: Request, user: Maintainer, village: str, body: VillageApplyIn
) -> CheckOut:
    """Check and apply a changed village file with a note saying why: it is kept as a new
    version; devices and places change in the API at once, and every running service
    follows within 5 s."""
    return await _apply(context(request), user, village, body.text, body.note, None)


_YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/plain")


@router.put(
    "/api/config/villages/{village}/file",
    openapi_extra={
        **max_body(_BODY_MAX),
        "requestBody": {
            "required": True,
            "content": {t: {"schema": {"type": "string"}} for t in _YAML_TYPES},
        },
    },
)
async def apply_village_yaml(
    request: Request,
    user: Maintainer,
    village: str,
    note: Annotated[str, Query(max_length=NOTE_MAX, description="Why the file changes.")] = "",
) -> CheckOut:
    """The same as ``PUT /api/config/villages/{village}`` with the file itself as the body
    (``Content-Type: application/yaml``, UTF-8) and the note in the query:
    ``curl -X PUT --data-binary @dongcun.yaml -H 'Content-Type: application/yaml'
    '…/api/config/villages/dongcun/file?note=…'``."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind not in _YAML_TYPES:
        raise HTTPException(415, f"send the village file as {_YAML_TYPES[0]} (UTF-8 text)")
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(400, "the village file is not UTF-8 text") from None
    try:
        why = checked_note(note)
    except VersionRefused as exc:
        raise HTTPException(422, f"note: {exc}") from None
    return await _apply(context(request), user, village, text, why, None)


@router.get("/api/config/villages/{village}/versions")
async def village_versions(request: Request, user: Maintainer, village: str) -> VersionsOut:
    """The applied versions of a village file, newest first (who, when, why)."""
    ctx = context(request)
    editable_village_file(ctx, user, village)
    found = await asyncio.to_thread(ctx.versions.versions, village_file(village))
    return VersionsOut(versions=[VersionOut.of(v) for v in found])


@router.get("/api/config/villages/{village}/versions/{n}")
async def village_version(
    request: Request,
    user: Maintainer,
    village: str,
    n: VersionNumber,
    against: Annotated[
        int | None,
        Query(
            ge=1, le=_MAX_VERSION, description="Diff from this version instead of the one before."
        ),
    ] = None,
) -> VersionTextOut:
    """One version: its text and the diff to the version before (or, with ``against``, the
    diff from version ``against`` to this one)."""
    ctx = context(request)
    editable_village_file(ctx, user, village)
    try:
        found = await asyncio.to_thread(ctx.versions.version, village_file(village), n)
        diff = found.diff
        if against is not None:
            diff = await asyncio.to_thread(ctx.versions.diff, village_file(village), against, n)
    except UnknownVersion as exc:
        raise HTTPException(404, str(exc)) from None
    return VersionTextOut(**VersionOut.of(found.summary).model_dump(), text=found.text,
                          diff=diff)  # fmt: skip


@router.post("/api/config/villages/{village}/versions/{n}/rollback")
async def roll_back_village(
    request: Request, user: Maintainer, village: str, n: VersionNumber, body: NoteIn
) -> CheckOut:
    """Apply version ``n``'s text again, as a new version with the note: checked as an
    apply is; a version that is no longer valid is refused with its issues and nothing
    changes."""
    ctx = context(request)
    editable_village_file(ctx, user, village)
    try:
        old = await asyncio.to_thread(ctx.versions.version, village_file(village), n)
    except UnknownVersion as exc:
        raise HTTPException(404, str(exc)) from None
    return await _apply(ctx, user, village, old.text, body.note, n)
