"""``villagewatch config``: check config files, print the reference."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from villagewatch.cli.app import config_app


@config_app.command("check")
def config_check(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Settings, village, edge.yaml or camera files. An edge.yaml given with the "
            "settings or village file of its village is checked against it too."
        ),
    ],
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
    from villagewatch.config import check_files

    failed = False
    for path, issues in check_files(files, read_files=read_files).items():
        for issue in issues:
            typer.echo(str(issue), err=True)
        if issues:
            failed = True
        else:
            typer.echo(f"{path}: ok")
    if failed:
        raise typer.Exit(1)


@config_app.command("reference")
def config_reference() -> None:
    """Print the config reference (Markdown) generated from the models."""
    from villagewatch.config.reference import render_reference

    typer.echo(render_reference(), nl=False)
