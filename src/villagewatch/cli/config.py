"""``villagewatch config``: check config files, print the reference, list a village file's
versions, diff them, roll back."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from villagewatch.cli.app import config_app
from villagewatch.cli.common import ConfigOption, exit_on, fail, loaded
from villagewatch.cli.configcheck import ConfigKind, check_files, kinds_of
from villagewatch.config import Settings, load_settings
from villagewatch.config.yamlfile import read_yaml
from villagewatch.db import configured
from villagewatch.errors import ConfigError
from villagewatch.versions import (
    Refused,
    UnknownVersion,
    VersionRefused,
    VersionStore,
    apply_village,
    checked_note,
    village_file,
)
from villagewatch.versions.cameras import camera_file


@config_app.command("check")
def config_check(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Settings (villagewatch.yaml, settings.yaml), village, edge.yaml or camera "
            "(in a cameras/ folder) files; any other name is a village file unless --kind "
            "says otherwise. An edge.yaml given with the settings or village file of its "
            "village is checked against it too."
        ),
    ],
    kind: Annotated[
        ConfigKind | None,
        typer.Option(
            "--kind",
            help="Check every file given as this kind, whatever its name.",
            case_sensitive=False,
        ),
    ] = None,
    read_files: Annotated[
        bool,
        typer.Option(
            "--files",
            help="Also check that every secret and certificate named can be read (run it "
            "where the service runs, as its user).",
        ),
    ] = False,
) -> None:
    """Validate config files; print every issue with file, line, path and reason."""
    kinds = dict.fromkeys(files, kind) if kind is not None else kinds_of(files)
    failed = False
    for path, issues in check_files(files, kinds=kinds, read_files=read_files).items():
        # first, when the file's own top level is wrong (unknown or missing keys): it may be
        # another kind of file than its name says
        if kind is None and any(i.file == str(path) and "." not in i.path for i in issues):
            others = "|".join(k for k in ConfigKind if k is not kinds[path])
            typer.echo(
                f"{path}: checked as a {kinds[path]} file, by its name "
                f"(--kind {others} if it is another kind)",
                err=True,
            )
        for issue in issues:
            typer.echo(str(issue), err=True)
        if issues:
            failed = True
        else:
            typer.echo(f"{path}: ok")
    if failed:
        raise typer.Exit(1)  # the issues are printed above, each on its line


@config_app.command("reference")
def config_reference() -> None:
    """Print the config reference (Markdown) generated from the models."""
    from villagewatch.cli.reference import render_reference  # imports every model: only here

    typer.echo(render_reference(), nl=False)


VillageArg = Annotated[str, typer.Argument(help="The village's id (the `id:` of its file).")]


def _village_target(config: Path, village: str) -> tuple[Settings, Path]:
    """The settings and the file of ``village`` among those the settings name; found by the
    `id:` written in each, so a file that no longer passes its check (the reason to roll
    back) is still found."""
    settings = loaded(load_settings, config)
    found = next((p for p in settings.villages if _id_of(p) == village), None)
    if found is None:
        fail(f"{config}: no village {village!r} among its villages (a file whose `id:` is "
             f"{village!r})")  # fmt: skip
    return settings, found


def _id_of(path: Path) -> object:
    try:
        data = read_yaml(path).data
    except (ConfigError, OSError):
        return None  # unreadable or torn: not the one named, as far as anyone can tell
    return data.get("id") if isinstance(data, dict) else None


def _versions(settings: Settings) -> VersionStore:
    return VersionStore(
        configured.versions_location(settings),
        busy_timeout_s=configured.busy_timeout_s(settings),
    )


def _when(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


CameraOption = Annotated[
    str | None,
    typer.Option(
        "--camera",
        help="A camera of the village: the versions of its zones and masks (kept when the "
        "console applies them) instead of the village file's.",
    ),
]


def _named(village: str, camera: str | None) -> str:
    """The name a village file's or a camera's zones' versions are kept under."""
    return village_file(village) if camera is None else camera_file(village, camera)


@config_app.command("versions")
def config_versions(config: ConfigOption, village: VillageArg, camera: CameraOption = None) -> None:
    """List the applied versions of a village file (or a camera's zones), newest first:
    number, when, who, why."""
    settings, _ = _village_target(config, village)
    store = _versions(settings)
    try:
        found = store.versions(_named(village, camera))
    finally:
        store.close()
    if not found:
        what = village if camera is None else f"{village}/{camera} zones"
        typer.echo(f"{what}: no versions yet (the first apply records the file as it is)")
    for v in found:
        restores = f" [rollback to {v.rollback_of}]" if v.rollback_of is not None else ""
        typer.echo(f"{v.n:>4}  {_when(v.at_ms)}  {v.who}  {v.note}{restores}")


@config_app.command("diff")
def config_diff(
    config: ConfigOption,
    village: VillageArg,
    a: Annotated[int, typer.Argument(help="The version to diff from.", min=1)],
    b: Annotated[
        int | None, typer.Argument(help="The version to diff to (default: the newest).", min=1)
    ] = None,
    camera: CameraOption = None,
) -> None:
    """Print the unified diff from version A to version B of a village file (or a camera's
    zones)."""
    settings, _ = _village_target(config, village)
    store = _versions(settings)
    try:
        with exit_on(UnknownVersion):
            typer.echo(store.diff(_named(village, camera), a, b), nl=False)
    finally:
        store.close()


@config_app.command("rollback")
def config_rollback(
    config: ConfigOption,
    village: VillageArg,
    n: Annotated[int, typer.Argument(help="The version whose text to apply again.", min=1)],
    by: Annotated[str, typer.Option("--by", help="Who rolls back (kept with the version).")],
    note: Annotated[str, typer.Option("--note", help="Why (required, kept with the version).")],
) -> None:
    """Apply an old version's text again, as a new version: checked as every apply is (an
    invalid one is refused with its issues, nothing changes); the file is replaced
    atomically. The running services follow within 5 s."""
    settings, target = _village_target(config, village)
    store = _versions(settings)
    try:
        with exit_on(UnknownVersion, VersionRefused):
            checked_note(note)
            old = store.version(village_file(village), n)
            done = apply_village(
                store, target, old.text, village=village, who=by, note=note,
                at_ms=time.time_ns() // 1_000_000, rollback_of=n,
            )  # fmt: skip
    finally:
        store.close()
    if isinstance(done, Refused):
        for issue in done.issues:
            typer.echo(str(issue), err=True)
        fail(f"version {n} is not a valid village file today; nothing changed")
    typer.echo(
        f"{target}: version {n} applied again as version {done.version.n}; "
        "detect follows within 5 s, and so do the alert engine, the ingester and the API, "
        "without a restart"
    )
