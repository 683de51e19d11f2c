"""The ``villagewatch`` command: one entry point per role, plus the demo and the tools of
operators and maintainers. A module per command group; ``common`` holds what they share."""

from __future__ import annotations

from villagewatch.cli import alerts, broker, config, edge, roles, users, vision
from villagewatch.cli.app import app

__all__ = ["app", "main"]

# imported for the commands they register on ``app``
_GROUPS = (alerts, broker, config, edge, roles, users, vision)


def main() -> None:
    """Entry point of the ``villagewatch`` script."""
    app()
