"""The roles, one command each (ingest, detect, api; the alert engine is ``alerts run``) — each
runs its function of :mod:`villagewatch.roles` — the demo that runs them all in one process,
the simulator, and detect-file."""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from villagewatch.cli.app import app
from villagewatch.cli.common import (
    ConfigOption,
    LogLevel,
    deployment_of,
    exit_on,
    fail,
    run_until_signal,
    setup_logging,
)
from villagewatch.errors import VillagewatchError


@app.command()
def demo(
    api_port: Annotated[int, typer.Option(help="Port of the API on 127.0.0.1.")] = 8080,
    broker_port: Annotated[
        int, typer.Option(help="Port of the embedded broker; 0 = any free one.")
    ] = 0,
    data: Annotated[
        Path | None, typer.Option(help="Keep the SQLite database in this folder.")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            file_okay=False,
            help="Run from this folder of config you edit (villagewatch.yaml and the village "
            "files; the demo's are copied in if it has none) and keep the data there too.",
        ),
    ] = None,
    rate: Annotated[float | None, typer.Option(help="Simulated messages per second.")] = None,
    view: Annotated[bool, typer.Option(help="Show the live terminal view.")] = True,
    log_level: LogLevel = "warning",
) -> None:
    """Run broker, ingester, detect, alerts, SQLite, simulator, API and console in one process."""
    from villagewatch.demo.run import DemoInfo, run_demo

    setup_logging(log_level)

    started: list[DemoInfo] = []

    def ready(info: DemoInfo) -> None:
        started.append(info)
        kept = (
            "  (a temporary folder: deleted when the demo stops; --data DIR keeps it)"
            if info.temporary
            else ""
        )
        typer.echo(
            f"villagewatch demo is running (Ctrl-C stops it)\n"
            f"  console   {info.api_url}/  user {info.user}  password {info.password}\n"
            f"  API       {info.api_url}/docs  (OpenAPI; POST /api/auth/login for a token)\n"
            f"            {info.api_url}/healthz  {info.api_url}/metrics\n"
            f"  residents {info.api_url}/public/spaces  (free parking spaces; no login)\n"
            f"  broker    mqtt://127.0.0.1:{info.broker_port}  (MQTT 3.1.1)\n"
            f"  database  {info.database}{kept}",
            err=True,
        )

    with exit_on(VillagewatchError):
        run_until_signal(
            lambda stop: run_demo(
                stop, broker_port=broker_port, api_port=api_port, data_dir=data,
                config_dir=config, rate=rate, view=view, on_ready=ready,
            )
        )  # fmt: skip
    if started:
        info = started[0]
        fate = "deleted its temporary data in" if info.temporary else "kept its data in"
        typer.echo(f"villagewatch demo stopped; {fate} {info.database.parent}", err=True)


@app.command()
def ingest(config: ConfigOption, log_level: LogLevel = "info") -> None:
    """Consume telemetry and events from the broker into the configured store."""
    from villagewatch.roles import run_ingest

    setup_logging(log_level)
    deployment = deployment_of(config, uses=("mqtt", "store", "ingest"))
    run_until_signal(partial(run_ingest, deployment, tune_gc=True))


@app.command()
def detect(config: ConfigOption, log_level: LogLevel = "info") -> None:
    """Run the detectors of the configured villages over the broker's stream."""
    from villagewatch.roles import run_detect

    setup_logging(log_level)
    deployment = deployment_of(config, uses=("mqtt",))
    with exit_on():
        run_until_signal(partial(run_detect, deployment, tune_gc=True))


@app.command()
def simulate(
    config: ConfigOption,
    village: Annotated[str | None, typer.Option(help="Village id; default: the first.")] = None,
    devices: Annotated[int | None, typer.Option(help="Use only the first N devices.")] = None,
    rate: Annotated[
        float | None, typer.Option(help="Messages per second (overrides config).")
    ] = None,
    speed: Annotated[float | None, typer.Option(help="Simulated seconds per real second.")] = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    count: Annotated[int | None, typer.Option(help="Stop after this many messages.")] = None,
    log_level: LogLevel = "info",
) -> None:
    """Publish a simulated village to the configured broker."""
    from villagewatch.sim.publisher import SimulationPublisher

    setup_logging(log_level)
    deployment = deployment_of(config, uses=("mqtt",))
    villages = {v.id: v for v in deployment.villages}
    chosen = villages.get(village) if village else deployment.villages[0]
    if chosen is None:
        fail(f"no village {village!r}; configured: {', '.join(villages)}")
    sim = deployment.settings.simulate
    updates = {k: v for k, v in (("rate", rate), ("speed", speed)) if v is not None}
    settings = sim.model_validate({**sim.model_dump(), **updates})

    async def main(stop: asyncio.Event) -> None:
        publisher = SimulationPublisher(
            mqtt=deployment.settings.mqtt, village=chosen, settings=settings, devices=devices
        )
        stats = await publisher.run(stop, duration_s=duration, count=count)
        typer.echo(
            f"published {stats.published}, acknowledged {stats.acknowledged}, "
            f"dropped {stats.dropped}",
            err=True,
        )

    with exit_on(ValueError):
        run_until_signal(main)


@app.command()
def api(config: ConfigOption, log_level: LogLevel = "info") -> None:
    """Serve the HTTP API and the operators' console over the configured stores."""
    from villagewatch.roles import run_api

    setup_logging(log_level)
    deployment = deployment_of(config, uses=("store",))
    run_until_signal(partial(run_api, deployment, log_level=log_level))


@app.command("detect-file")
def detect_file(
    source: Annotated[Path, typer.Argument(help="CSV with a header timestamp,value.", exists=True)],
    target: Annotated[Path, typer.Argument(help="CSV to write: timestamp,value,anomaly_score.")],
    detector: Annotated[
        str, typer.Option(help="sensor_health, water_level, water_rise, rain or anomaly.")
    ] = "sensor_health",
    config: Annotated[
        Path | None, typer.Option(help="YAML with the detector's settings.", exists=True)
    ] = None,
) -> None:
    """Run one detector over a CSV of timestamp,value (how detectors are evaluated on real data)."""
    from villagewatch.detect.filerun import run_file

    with exit_on(ValueError):
        run = run_file(detector, config, source, target)
    typer.echo(f"{run.rows} rows, {run.missing} missing values, {run.alerts} alerts", err=True)
