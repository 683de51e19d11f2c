"""What every command shares: the --config and --log-level options, logging, loading config
with its issues printed, running until a signal, and the one way a command fails."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer

from villagewatch.config import Deployment, load_deployment
from villagewatch.errors import ConfigError

__all__ = [
    "ConfigOption",
    "LogLevel",
    "deployment_of",
    "exit_on",
    "fail",
    "loaded",
    "run_until_signal",
    "setup_logging",
]

T = TypeVar("T")

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="Settings file (see docs/config.md).", exists=True)
]
LogLevel = Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")]


def fail(message: str, *, code: int = 1) -> NoReturn:
    """End the command: ``message`` on stderr, exit status ``code`` (1: refused or failed,
    2: the command line itself is wrong)."""
    typer.echo(message, err=True)
    raise typer.Exit(code)


@contextmanager
def exit_on(*errors: type[Exception], prefix: str = "") -> Iterator[None]:
    """Inside the block, a config error (each issue as file:line: path: reason) or one of
    ``errors`` (its message, after ``prefix``) ends the command with status 1, no traceback."""
    try:
        yield
    except ConfigError as exc:
        fail("\n".join(str(issue) for issue in exc.issues))
    except errors as exc:
        fail(f"{prefix}{exc}")


def setup_logging(level: str) -> None:
    """Log lines on stderr at ``level``."""
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # one line per HTTP request is noise at INFO; our own lines say what matters
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))


def loaded(load: Callable[[Path], T], path: Path) -> T:
    """``load(path)``; its config issues printed as file:line: path: reason, exit status 1."""
    with exit_on():
        return load(path)


def deployment_of(path: Path, *, uses: tuple[str, ...]) -> Deployment:
    """The deployment, with the secrets and certificates of the sections ``uses`` (those the
    command connects with) checked readable: another service's, on another host, are not."""
    return loaded(partial(load_deployment, read_files=uses), path)


def run_until_signal(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``main(stop)``; SIGINT/SIGTERM set ``stop`` so it can finish in order."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(runner())
