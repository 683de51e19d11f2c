"""``villagewatch config``: check config files, print the reference."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from villagewatch.cli.app import config_app
from villagewatch.cli.configcheck import ConfigKind, check_files, kinds_of


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
    kinds = kinds_of(files)
    failed = False
    for path, issues in check_files(files, kind=kind, read_files=read_files).items():
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
