"""The ``villagewatch`` command: one entry point per role, plus the demo and config tools."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from villagewatch.config import Deployment, load_deployment
from villagewatch.errors import ConfigError, VillagewatchError
from villagewatch.runtime.gctuning import tune_gc_for_throughput

if TYPE_CHECKING:
    from villagewatch.alerts import Alert, SQLiteAlertStore
    from villagewatch.edge.settings import EdgeSettings

__all__ = ["app", "main"]

T = TypeVar("T")

app = typer.Typer(
    help="Sensor ingestion and alerting for village governance.",
    no_args_is_help=True,
    add_completion=False,
)
config_app = typer.Typer(help="Work with config files.", no_args_is_help=True)
app.add_typer(config_app, name="config")
edge_app = typer.Typer(
    help="The edge agent: local devices to the central broker, through a disk outbox.",
    invoke_without_command=True,
)
app.add_typer(edge_app, name="edge")
alerts_app = typer.Typer(help="The alert engine, and alerts from a terminal.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")
vision_app = typer.Typer(
    help="Camera vision for maintainers: check a camera's view, measure a detector.",
    no_args_is_help=True,
)
app.add_typer(vision_app, name="vision")
users_app = typer.Typer(help="Users of the API and console.", no_args_is_help=True)
app.add_typer(users_app, name="users")
broker_app = typer.Typer(
    help="The MQTT broker: its identities, passwords and ACL.", no_args_is_help=True
)
app.add_typer(broker_app, name="broker")

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="Settings file (see docs/config.md).", exists=True)
]
LogLevel = Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")]


def _logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # one line per HTTP request is noise at INFO; our own lines say what matters
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))


def _loaded(load: Callable[[Path], T], path: Path) -> T:
    """``load(path)``; its config issues printed as file:line: path: reason, exit status 1."""
    try:
        return load(path)
    except ConfigError as exc:
        for issue in exc.issues:
            typer.echo(str(issue), err=True)
        raise typer.Exit(1) from None


def _deployment(path: Path, *, uses: tuple[str, ...]) -> Deployment:
    """The deployment, with the secrets and certificates of the sections ``uses`` (those the
    command connects with) checked readable: another service's, on another host, are not."""
    return _loaded(partial(load_deployment, read_files=uses), path)


def _run_until_signal(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``main(stop)``; SIGINT/SIGTERM set ``stop`` so it can finish in order."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(runner())


@app.command()
def demo(
    api_port: Annotated[int, typer.Option(help="Port of the API on 127.0.0.1.")] = 8080,
    broker_port: Annotated[
        int, typer.Option(help="Port of the embedded broker; 0 = any free one.")
    ] = 0,
    data: Annotated[
        Path | None, typer.Option(help="Keep the SQLite database in this folder.")
    ] = None,
    rate: Annotated[float | None, typer.Option(help="Simulated messages per second.")] = None,
    view: Annotated[bool, typer.Option(help="Show the live terminal view.")] = True,
    log_level: LogLevel = "warning",
) -> None:
    """Run broker, ingester, detect, alerts, SQLite, simulator, API and console in one process."""
    from villagewatch.demo.run import DemoInfo, run_demo

    _logging(log_level)

    def ready(info: DemoInfo) -> None:
        typer.echo(
            f"villagewatch demo is running (Ctrl-C stops it)\n"
            f"  console   {info.api_url}/  user {info.user}  password {info.password}\n"
            f"  API       {info.api_url}/docs  (OpenAPI; POST /api/auth/login for a token)\n"
            f"            {info.api_url}/healthz  {info.api_url}/metrics\n"
            f"  broker    mqtt://127.0.0.1:{info.broker_port}  (MQTT 3.1.1)\n"
            f"  database  {info.database}",
            err=True,
        )

    try:
        _run_until_signal(
            lambda stop: run_demo(
                stop, broker_port=broker_port, api_port=api_port, data_dir=data, rate=rate,
                view=view, on_ready=ready,
            )
        )  # fmt: skip
    except VillagewatchError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None


@app.command()
def ingest(config: ConfigOption, log_level: LogLevel = "info") -> None:
    """Consume telemetry and events from the broker into the configured store."""
    from villagewatch.ingest import IngestService
    from villagewatch.store import open_store

    _logging(log_level)
    deployment = _deployment(config, uses=("mqtt", "store"))
    tune_gc_for_throughput()

    async def main(stop: asyncio.Event) -> None:
        store = open_store(deployment.settings.store)
        try:
            await IngestService(deployment=deployment, store=store).run(stop)
        finally:
            await store.close()

    _run_until_signal(main)


@app.command()
def detect(config: ConfigOption, log_level: LogLevel = "info") -> None:
    """Run the detectors of the configured villages over the broker's stream."""
    from villagewatch.detect.service import DetectService
    from villagewatch.detect.store import open_detect_store
    from villagewatch.registry import RegistryStore

    _logging(log_level)
    deployment = _deployment(config, uses=("mqtt",))
    det = deployment.settings.detect

    async def main(stop: asyncio.Event) -> None:
        reserve = int(det.disk_reserve_mb * 1e6)
        store = await open_detect_store(det.state_path, reserve_bytes=reserve, stop=stop)
        if store is None:
            return
        registry = RegistryStore(deployment.settings.registry.path)
        try:
            service = DetectService(deployment=deployment, store=store, registry=registry)
            tune_gc_for_throughput()  # after the detectors are built: they live as long
            await service.run(stop)
        finally:
            await store.close()
            registry.close()

    try:
        _run_until_signal(main)
    except ConfigError as exc:
        for issue in exc.issues:
            typer.echo(str(issue), err=True)
        raise typer.Exit(1) from None


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

    _logging(log_level)
    deployment = _deployment(config, uses=("mqtt",))
    villages = {v.id: v for v in deployment.villages}
    chosen = villages.get(village) if village else deployment.villages[0]
    if chosen is None:
        typer.echo(f"no village {village!r}; configured: {', '.join(villages)}", err=True)
        raise typer.Exit(1)
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

    try:
        _run_until_signal(main)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None


@app.command()
def api(config: ConfigOption, log_level: LogLevel = "info") -> None:
    """Serve the HTTP API and the operators' console over the configured stores."""
    import uvicorn
    from prometheus_client import REGISTRY

    from villagewatch.api.app import create_app
    from villagewatch.api.context import open_context
    from villagewatch.store import open_store

    _logging(log_level)
    deployment = _deployment(config, uses=("store",))
    store = open_store(deployment.settings.store)
    ctx = open_context(deployment, store, registries=[REGISTRY], settings_path=config)
    try:
        uvicorn.run(
            create_app(ctx), host=deployment.settings.api.host,
            port=deployment.settings.api.port, log_level=log_level.lower(),
            timeout_graceful_shutdown=3,  # open consoles' live streams never end by themselves
        )  # fmt: skip
    finally:
        ctx.close()


@users_app.command("add")
def users_add(
    config: ConfigOption,
    name: Annotated[str, typer.Argument(help="The name they log in with.")],
    role: Annotated[str, typer.Option(help="viewer, operator, maintainer or admin.")] = "viewer",
    place: Annotated[
        list[str] | None,
        typer.Option(
            "--place",
            help="A place they see (repeatable): town:<id>, village:<id>, grid:<village>/<grid>, "
            "or * for every place.",
        ),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option(help="Read the password from standard input instead of asking.")
    ] = False,
) -> None:
    """Add a user of the API and console."""
    from villagewatch.api.places import Places
    from villagewatch.api.users import Role, UserRefused, UserStore
    from villagewatch.contract import is_identifier

    deployment = _deployment(config, uses=())
    roles = [r.value for r in Role]
    if role not in roles:
        typer.echo(f"no role {role!r}; roles: {', '.join(roles)}", err=True)
        raise typer.Exit(2)
    if not is_identifier(name):
        typer.echo(f"user name {name!r} must be like [a-z0-9][a-z0-9_-]*", err=True)
        raise typer.Exit(2)
    places = place or []
    known = Places(deployment.villages, dict(deployment.settings.alerts.towns))
    unknown = [p for p in places if not known.known(p)]
    if unknown or not places:
        some = ", ".join(sorted(known.nodes)[:6])
        typer.echo(
            f"give --place with a known place (unknown: {', '.join(unknown) or 'none given'}); "
            f"places are like {some} …, or *",
            err=True,
        )
        raise typer.Exit(2)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    users = UserStore(deployment.settings.api.state_dir / "api.db")
    try:
        users.add(name, password, Role(role), places, int(time.time() * 1000))
        users.audit("cli", "add_user", f"user:{name}", {"role": role, "places": places},
                    int(time.time() * 1000))  # fmt: skip
    except UserRefused as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    finally:
        users.close()
    typer.echo(f"added {role} {name} seeing {', '.join(places)}", err=True)


@app.command("detect-file")
def detect_file(
    source: Annotated[Path, typer.Argument(help="CSV with a header timestamp,value.", exists=True)],
    target: Annotated[Path, typer.Argument(help="CSV to write: timestamp,value,anomaly_score.")],
    detector: Annotated[
        str, typer.Option(help="sensor_health, water_level, water_rise or rain.")
    ] = "sensor_health",
    config: Annotated[
        Path | None, typer.Option(help="YAML with the detector's settings.", exists=True)
    ] = None,
) -> None:
    """Run one detector over a CSV of timestamp,value (how detectors are evaluated on real data)."""
    from villagewatch.detect.filerun import run_file

    try:
        run = run_file(detector, config, source, target)
    except ConfigError as exc:
        for issue in exc.issues:
            typer.echo(str(issue), err=True)
        raise typer.Exit(1) from None
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{run.rows} rows, {run.missing} missing values, {run.alerts} alerts", err=True)


@alerts_app.command("run")
def alerts_run(config: ConfigOption, log_level: LogLevel = "info") -> None:
    """Turn detect's transitions into alerts, escalate, and send notifications until stopped."""
    import httpx

    from villagewatch.alerts import SQLiteAlertStore
    from villagewatch.alerts.channels import build_channel
    from villagewatch.alerts.engine import AlertEngine, notifier_for
    from villagewatch.alerts.metrics import AlertMetrics
    from villagewatch.alerts.sender import Sender
    from villagewatch.runtime.steadyclock import SteadyClock

    _logging(log_level)
    deployment = _deployment(config, uses=("alerts",))
    settings = deployment.settings.alerts

    async def main(stop: asyncio.Event) -> None:
        from villagewatch.db.sqlite import SQLITE_METRICS
        from villagewatch.runtime.diskspace import export_free_space
        from villagewatch.runtime.metrics_http import joined, metrics_served

        store = SQLiteAlertStore(
            settings.state_path, notifier=notifier_for(deployment),
            reserve_bytes=int(settings.disk_reserve_mb * 1e6),
        )  # fmt: skip
        metrics = AlertMetrics(store)
        export_free_space(metrics.registry, "alerts", [settings.state_path.parent])
        clock = SteadyClock()  # timers and due times must not jump with the system clock
        try:
            with metrics_served(joined(metrics.registry, SQLITE_METRICS), settings.metrics_port):
                async with httpx.AsyncClient() as client, asyncio.TaskGroup() as tg:
                    channels = {
                        cid: build_channel(cid, cfg, client)
                        for cid, cfg in settings.channels.items()
                    }
                    engine = AlertEngine(
                        settings=settings, store=store, metrics=metrics, clock=clock
                    )
                    tg.create_task(engine.run(stop))
                    sender = Sender(
                        store=store, channels=channels, metrics=metrics, now_ms=clock.now_ms
                    )
                    tg.create_task(sender.run(stop))
        finally:
            store.close()

    _run_until_signal(main)


AlertId = Annotated[int, typer.Argument(help="The alert's number.")]
ByOption = Annotated[str, typer.Option("--by", help="Who does it (recorded in the audit log).")]
NoteOption = Annotated[str, typer.Option("--note", help="A note to keep with it.")]


def _alert_store(config: Path) -> SQLiteAlertStore:
    from villagewatch.alerts import SQLiteAlertStore
    from villagewatch.alerts.engine import notifier_for

    deployment = _deployment(config, uses=())
    # with the routing: an acknowledgement from a terminal is announced like any other
    return SQLiteAlertStore(
        deployment.settings.alerts.state_path, notifier=notifier_for(deployment)
    )


def _alert_line(a: Alert) -> str:
    when = datetime.fromtimestamp(a.started_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")
    flags = " (backlog)" if a.historical else ""
    return f"#{a.id:<5} {a.state.value:12} {a.severity.value:6} {when}  {a.message}{flags}"


@alerts_app.command("list")
def alerts_list(
    config: ConfigOption,
    resolved: Annotated[bool, typer.Option(help="Resolved ones too (the last 50).")] = False,
) -> None:
    """Open alerts, oldest first."""
    store = _alert_store(config)
    try:
        alerts = store.open_alerts() if not resolved else store.recent(50)
        for a in alerts:
            typer.echo(_alert_line(a))
        if not alerts:
            typer.echo("no open alerts", err=True)
    finally:
        store.close()


@alerts_app.command("show")
def alerts_show(config: ConfigOption, alert_id: AlertId) -> None:
    """One alert with its history and notes."""
    store = _alert_store(config)
    try:
        a = store.get(alert_id)
        if a is None:
            typer.echo(f"no alert {alert_id}", err=True)
            raise typer.Exit(1)
        typer.echo(_alert_line(a))
        typer.echo(f"        {a.key}; assignee {a.assignee or '-'}")
        for e in store.audit(alert_id):
            when = datetime.fromtimestamp(e.at_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
            typer.echo(f"  {when}  {e.actor:10} {e.action:18} → {e.state.value} {e.severity.value}")
        for n in store.notes(alert_id):
            typer.echo(f"  note by {n.author}: {n.text}")
    finally:
        store.close()


def _act(config: Path, fn: Callable[[SQLiteAlertStore, int], Alert]) -> None:
    from villagewatch.alerts import ActionRefused

    store = _alert_store(config)
    try:
        typer.echo(_alert_line(fn(store, time.time_ns() // 1_000_000)))
    except ActionRefused as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    finally:
        store.close()


@alerts_app.command("ack")
def alerts_ack(
    config: ConfigOption, alert_id: AlertId, by: ByOption, note: NoteOption = ""
) -> None:
    """Acknowledge an alert: someone is on it."""
    _act(config, lambda s, now: s.acknowledge(alert_id, by, now, note))


@alerts_app.command("resolve")
def alerts_resolve(
    config: ConfigOption, alert_id: AlertId, by: ByOption, note: NoteOption = ""
) -> None:
    """Close an alert."""
    _act(config, lambda s, now: s.resolve(alert_id, by, now, note))


@alerts_app.command("report")
def alerts_report(
    config: ConfigOption,
    month: Annotated[str, typer.Option(help="YYYY-MM, in the reports' local time.")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
) -> None:
    """The month's figures per place and kind: alerts, time to acknowledge and resolve."""
    import dataclasses
    import json

    from villagewatch.alerts.report import month_bounds, month_report, render

    offset = _deployment(config, uses=()).settings.alerts.report_utc_offset_h
    try:
        start, end = month_bounds(month, offset)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    store = _alert_store(config)
    try:
        report = month_report(store.fired_between(start, end), month, offset)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(report), ensure_ascii=False, indent=2))
    else:
        typer.echo(render(report))


@alerts_app.command("silence")
def alerts_silence(
    config: ConfigOption,
    by: ByOption,
    reason: Annotated[str, typer.Option(help="Why (maintenance, a known fault …).")],
    hours: Annotated[float, typer.Option(help="How long, from now.", min=0.01)] = 2,
    village: Annotated[str | None, typer.Option(help="Only this village.")] = None,
    device: Annotated[str | None, typer.Option(help="Only this device (or camera).")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind of alert.")] = None,
) -> None:
    """Hold back notifications (not the alerts) matching all the given filters for a while."""
    from villagewatch.alerts import ActionRefused

    matchers = {k: v for k, v in {"village": village, "subject": device, "kind": kind}.items() if v}
    now = time.time_ns() // 1_000_000
    store = _alert_store(config)
    try:
        s = store.add_silence(
            matchers, now, now + int(hours * 3_600_000), created_by=by, reason=reason, now_ms=now
        )
    except ActionRefused as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    finally:
        store.close()
    until = datetime.fromtimestamp(s.ends_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    typer.echo(f"silence #{s.id} until {until}: {s.matchers}")


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


@broker_app.command("credentials")
def broker_credentials(
    config: Annotated[
        list[Path],
        typer.Option(
            "--config",
            "-c",
            exists=True,
            help="Settings file (see docs/config.md); repeat for each settings file whose "
            "services use the broker (one per ingester, say).",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder to write into (created if need be).")],
    rotate: Annotated[
        list[str] | None,
        typer.Option("--rotate", help="Give this identity a new password; repeatable."),
    ] = None,
    rotate_all: Annotated[
        bool, typer.Option("--rotate-all", help="Give every identity a new password.")
    ] = False,
) -> None:
    """Write every broker identity's password, Mosquitto's password file and its ACL.

    Existing passwords in the folder are kept unless rotated; passwords are never printed.
    See docs/broker.md.
    """
    from villagewatch.broker import (
        ACL_FILE,
        PASSWORD_FILE,
        CredentialsError,
        identities_of,
        merged,
        write_credentials,
    )

    deployments = [_deployment(c, uses=()) for c in config]
    try:
        identities = merged(identities_of(d) for d in deployments)
        written = write_credentials(
            identities,
            out,
            source=", ".join(str(c) for c in config),
            rotate=rotate or (),
            rotate_all=rotate_all,
        )
    except CredentialsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    for identity in identities:
        state = "new password" if identity.name in written.new else "password kept"
        typer.echo(f"{identity.name:<24} {identity.role:<14} {state}")
    typer.echo(
        f"wrote {out / PASSWORD_FILE} and {out / ACL_FILE} (install them as mosquitto.conf's "
        "password_file and acl_file, then reload the broker) and one <identity>.password each"
    )
    if written.stale:
        typer.echo(
            f"no longer identities (the broker will refuse them): {', '.join(written.stale)}; "
            "their password files are left in place",
            err=True,
        )


@config_app.command("reference")
def config_reference() -> None:
    """Print the config reference (Markdown) generated from the models."""
    from villagewatch.config.reference import render_reference

    typer.echo(render_reference(), nl=False)


def main() -> None:
    """Entry point of the ``villagewatch`` script."""
    app()


EdgeConfig = Annotated[
    Path, typer.Option("--config", "-c", help="The agent's edge.yaml (docs/edge.md).", exists=True)
]


def _edge_settings(config: Path) -> EdgeSettings:
    from villagewatch.edge.settings import load_edge

    return _loaded(load_edge, config)


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
        typer.echo("villagewatch edge: --config edge.yaml is required", err=True)
        raise typer.Exit(2)
    from villagewatch.edge.agent import EdgeAgent

    _logging(log_level)
    settings = _edge_settings(config)

    async def main(stop: asyncio.Event) -> None:
        await EdgeAgent(settings).run(stop)

    _run_until_signal(main)


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
        typer.echo(f"No status at {path}: the agent has not run with this outbox", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(orjson.dumps(status, option=orjson.OPT_INDENT_2).decode())
        return
    from villagewatch.edge.status import render

    for line in render(status):
        typer.echo(line)


CameraOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="The camera file (config/cameras/, docs/vision.md).",
                 exists=True, dir_okay=False),
]  # fmt: skip


@vision_app.command("snapshot")
def vision_snapshot(
    config: CameraOption,
    source: Annotated[
        str, typer.Option(help="The camera: rtsp://…, http(s)://… (a still), a file or a folder.")
    ],
    out: Annotated[Path, typer.Option(help="Where to write the JPEG.")] = Path("snapshot.jpg"),
    wait_s: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 20.0,
) -> None:
    """Grab one frame and draw the zones and privacy masks on it (masked areas black); on a
    gauge camera also the bow-ties and the waterline the reader sees, and its level."""
    import time

    from villagewatch.edge.vision.capture import IMAGE_SUFFIXES, open_source, shown
    from villagewatch.edge.vision.config import load_camera
    from villagewatch.edge.vision.evidence import encode_jpeg
    from villagewatch.edge.vision.pipeline import CameraPipeline
    from villagewatch.edge.vision.references import read_image

    cam = _loaded(load_camera, config)
    still = Path(source)
    if still.is_file() and still.suffix.lower() in IMAGE_SUFFIXES:
        try:  # a still someone saved from the camera
            frame = read_image(still)
        except (OSError, ValueError) as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None
    else:
        src = open_source(source, fps=1.0, still_interval_s=1.0)
        deadline = time.monotonic() + wait_s
        try:
            got = src.next()
            while got is None and time.monotonic() < deadline:
                time.sleep(0.2)
                got = src.next()
        finally:
            src.close()
        if got is None:
            typer.echo(f"no frame from {shown(source)} within {wait_s:g} s", err=True)
            raise typer.Exit(1)
        frame, _ = got
    picture, reading = CameraPipeline(cam).snapshot(frame)
    out.write_bytes(encode_jpeg(picture, max_bytes=2_000_000))
    h, w = frame.shape[:2]
    typer.echo(f"{out}: {w}x{h}, {len(cam.zones)} zones, {len(cam.masks)} masks drawn")
    if reading is not None and reading.level_cm is not None:
        typer.echo(
            f"gauge: level {reading.level_cm:.1f} cm ({reading.rows_used} bow-tie rows, "
            f"{reading.method}); the waterline and the bow-ties found are drawn"
        )
    elif reading is not None:
        typer.echo(f"gauge: no level: {reading.reason}")


@vision_app.command("eval")
def vision_eval(
    config: CameraOption,
    images: Annotated[
        Path, typer.Option(help="Folder of images of this camera.", exists=True, file_okay=False)
    ],
    truth: Annotated[
        Path,
        typer.Option(
            help="Gauge: CSV image,level_cm. Spaces: a folder of PKLot XML files or a CSV "
            "image,space,occupied.",
            exists=True,
        ),
    ],
    references: Annotated[
        Path | None,
        typer.Option(help="Spaces: folder of frames of the empty lot.", file_okay=False),
    ] = None,
) -> None:
    """Run the camera's detector over a folder of images with ground truth; print its figures."""
    from villagewatch.edge.vision.config import ZoneKind, load_camera
    from villagewatch.edge.vision.evaluate import evaluate_gauge, evaluate_spaces

    cam = _loaded(load_camera, config)
    try:
        if cam.gauge is not None:
            typer.echo(evaluate_gauge(cam, images, truth).render())
        elif cam.zones_of(ZoneKind.SPACE):
            typer.echo(evaluate_spaces(cam, images, truth, references).render())
        else:
            typer.echo(f"{config}: nothing to evaluate (no gauge, no space zones)", err=True)
            raise typer.Exit(2)
    except ValueError as exc:
        typer.echo(f"villagewatch vision eval: {exc}", err=True)
        raise typer.Exit(1) from None
