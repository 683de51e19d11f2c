"""The ``villagewatch`` command: one entry point per role, plus the demo and the tools of
operators and maintainers. A module per command group; ``common`` holds what they share."""

from __future__ import annotations

import typer

from villagewatch.cli import alerts, broker, config, db, edge, roles, tune, users, vision
from villagewatch.cli.app import app
from villagewatch.errors import VillagewatchError

__all__ = ["app", "main"]

# imported for the commands they register on ``app``
_GROUPS = (alerts, broker, config, db, edge, roles, tune, users, vision)


def main() -> None:
    """Entry point of the ``villagewatch`` script. An error of villagewatch that no command
    handled (a store it cannot open, a database newer than this version) ends the command
    with its message and status 1, not a traceback."""
    try:
        app()
    except VillagewatchError as exc:  # outside the app: typer.Exit would not be handled here
        typer.echo(str(exc), err=True)
        raise SystemExit(1) from None
