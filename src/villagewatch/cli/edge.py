"""``villagewatch edge``: run the edge agent, show its status."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from villagewatch.cli.app import edge_app
from villagewatch.cli.common import (
    LogLevel,
    fail,
    loaded,
    run_until_signal,
    setup_logging,
)

if TYPE_CHECKING:
    from villagewatch.edge.settings import EdgeSettings


EdgeConfig = Annotated[
    Path, typer.Option("--config", "-c", help="The agent's edge.yaml (docs/edge.md).", exists=True)
]


def _edge_settings(config: Path) -> EdgeSettings:
    from villagewatch.edge.settings import load_edge

    return loaded(load_edge, config)


@edge_app.callback()
def edge(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="The agent's edge.yaml (docs/edge.md).", exists=True),
    ] = None,
    log_level: LogLevel = "info",
) -> None:
    """Run the edge agent (`villagewatch edge --config edge.yaml`) until stopped."""
    if ctx.invoked_subcommand is not None:
        return
    if config is None:
        fail("villagewatch edge: --config edge.yaml is required", code=2)
    from villagewatch.edge.agent import EdgeAgent

    setup_logging(log_level)
    settings = _edge_settings(config)

    async def main(stop: asyncio.Event) -> None:
        await EdgeAgent(settings).run(stop)

    run_until_signal(main)


@edge_app.command("status")
def edge_status(
    config: EdgeConfig, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """Backlog per lane, oldest record, link state, last acknowledgement, refusals, dead
    letters, clock and disk of the agent."""
    import orjson

    settings = _edge_settings(config)
    path = settings.outbox.path / "status.json"
    try:
        status = orjson.loads(path.read_bytes())
    except (OSError, ValueError):
        fail(f"No status at {path}: the agent has not run with this outbox")
    if as_json:
        typer.echo(orjson.dumps(status, option=orjson.OPT_INDENT_2).decode())
        return
    from villagewatch.edge.status import render

    for line in render(status):
        typer.echo(line)
