"""``villagewatch tune``: try detector settings on stored history before applying them."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from villagewatch.cli.app import tune_app
from villagewatch.cli.common import ConfigOption, deployment_of, exit_on, fail, loaded
from villagewatch.config import SQLiteSettings, load_village
from villagewatch.errors import StoreRejected, StoreUnavailable

if TYPE_CHECKING:
    from villagewatch.config import Deployment
    from villagewatch.config.village import Village
    from villagewatch.tune import Trial

_SHOWN = 50
"""Changes listed in the terminal; --json has them all."""


def _instant(text: str, option: str) -> int:
    """An ISO 8601 date or time (no offset: UTC) as epoch ms; a clear exit 2 otherwise."""
    try:
        stamp = datetime.fromisoformat(text.strip())
    except ValueError:
        fail(
            f"{option} {text!r} is not a date or time like 2026-05-01 or 2026-05-01T06:00+08:00",
            code=2,
        )
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return int(stamp.timestamp() * 1000)


async def _trial(
    deployment: Deployment,
    candidate: Village,
    *,
    since_ms: int,
    until_ms: int,
    village: str | None,
    device: str | None,
) -> Trial:
    from villagewatch.store import open_store
    from villagewatch.tune import try_candidate

    store = open_store(deployment.settings)
    try:
        return await try_candidate(
            store, deployment.villages, candidate,
            since_ms=since_ms, until_ms=until_ms, tick_s=deployment.settings.detect.tick_s,
            village=village, device=device,
        )  # fmt: skip
    finally:
        await store.close()


@tune_app.command("replay")
def tune_replay(
    config: ConfigOption,
    since: Annotated[
        str, typer.Option("--from", help="Start of the range (ISO 8601; no offset: UTC).")
    ],
    until: Annotated[str, typer.Option("--to", help="End of the range, not included.")],
    candidate: Annotated[
        Path,
        typer.Option(help="A village file with the detector settings to try.", exists=True),
    ],
    village: Annotated[str | None, typer.Option(help="Only this village.")] = None,
    device: Annotated[str | None, typer.Option(help="Only this device.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON, for tools.")] = False,
) -> None:
    """Replay stored readings and events through today's config and a candidate village file;
    list the alerts each raises and what the candidate changes. Reads only: detect's state,
    the alerts and notifications are not touched."""
    from villagewatch.tune import ReplayError

    since_ms, until_ms = _instant(since, "--from"), _instant(until, "--to")
    deployment = deployment_of(config, uses=("store",))
    theirs = loaded(load_village, candidate)
    store = deployment.settings.store
    if isinstance(store, SQLiteSettings) and not store.path.exists():
        fail(f"no store at {store.path} (the config's store.path): nothing to replay")
    with exit_on(ReplayError, StoreUnavailable, StoreRejected):
        trial = asyncio.run(
            _trial(
                deployment,
                theirs,
                since_ms=since_ms,
                until_ms=until_ms,
                village=village,
                device=device,
            )
        )
    if as_json:
        typer.echo(json.dumps(trial.report, ensure_ascii=False, indent=2))
        return
    _print(trial)


def _print(trial: Trial) -> None:
    from rich.console import Console
    from rich.table import Table

    r = trial.report
    console = Console()
    console.print(
        f"{r['items']} readings and events from {r['from']} to {r['to']}: "
        f"today {r['today']['fired']} alerts fired, the candidate {r['candidate']['fired']}."
    )
    for side in ("today", "candidate"):
        for failure in r[side]["failures"]:
            console.print(f"[red]{side}: a detector failed: {failure}[/red]")
    s = r["summary"]
    console.print(
        f"Added {s['added']}, removed {s['removed']}, earlier {s['earlier']}, "
        f"later {s['later']}, unchanged {s['unchanged']}, severity changed {s['severity_changed']}."
    )
    if not r["counts"]:
        return
    counts = Table(title="Per alert kind and place")
    for column in ("kind", "village", "grid", "added", "removed", "earlier", "later",
                   "unchanged", "severity", "median shift"):  # fmt: skip
        counts.add_column(
            column, justify="left" if column in ("kind", "village", "grid") else "right"
        )
    for g in r["counts"]:
        counts.add_row(
            g["kind"], g["village"], g["grid"] or "-", str(g["added"]), str(g["removed"]),
            str(g["earlier"]), str(g["later"]), str(g["unchanged"]), str(g["severity_changed"]),
            _duration(g["median_shift_s"]),
        )  # fmt: skip
    console.print(counts)
    moved = [c for c in r["changes"] if c["change"] != "unchanged" or c["severity_changed"]]
    if not moved:
        return
    changes = Table(title="What the candidate changes")
    for column in ("change", "alert", "today", "candidate", "shift"):
        changes.add_column(column)
    for c in moved[:_SHOWN]:
        changes.add_row(
            c["change"] + (" · severity" if c["severity_changed"] else ""),
            c["alert"], _episode(c["today"]), _episode(c["candidate"]), _duration(c["shift_s"]),
        )  # fmt: skip
    console.print(changes)
    if len(moved) > _SHOWN:
        console.print(f"… and {len(moved) - _SHOWN} more (--json lists them all).")


def _episode(e: dict[str, str | None] | None) -> str:
    if e is None:
        return "-"
    peak = f"→{e['peak']}" if e["peak"] != e["severity"] else ""
    cleared = e["cleared_at"] or "still firing"
    return f"{e['severity']}{peak} {e['fired_at']} … {cleared}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else "+"
    s = abs(int(seconds))
    return (
        f"{sign}{s // 3600}h{s % 3600 // 60:02d}m"
        if s >= 3600
        else f"{sign}{s // 60}m{s % 60:02d}s"
    )
