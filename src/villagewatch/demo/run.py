"""``villagewatch demo``: broker, ingester, detect, alerts, SQLite, simulator, API and console in
one process, no servers.

Shutdown order on Ctrl-C: the simulator stops and waits for the broker's acks,
then the ingester writes and acknowledges what it holds, then detect commits,
then the alert engine, the API and the broker close — so everything the
simulator published is in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from villagewatch.alerts.engine import AlertEngine
from villagewatch.api.app import create_app
from villagewatch.api.context import ApiContext, open_context
from villagewatch.api.places import ALL
from villagewatch.api.users import Role, UserRefused
from villagewatch.config import Deployment, SQLiteSettings, load_deployment
from villagewatch.demo.broker import EmbeddedBroker
from villagewatch.demo.view import LiveView
from villagewatch.detect.service import DetectService
from villagewatch.detect.store import DetectStore
from villagewatch.errors import VillagewatchError
from villagewatch.ingest import IngestService
from villagewatch.runtime.ports import free_port, port_in_use
from villagewatch.sim.publisher import SimulationPublisher
from villagewatch.store import SQLiteStore

__all__ = ["DemoInfo", "demo_config_path", "run_demo"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DemoInfo:
    """Where the running demo can be reached."""

    broker_port: int
    api_url: str
    database: Path
    user: str
    password: str
    """Of the demo's operator, to log in to the console."""


_DEMO_USER = "demo"


def _demo_user(ctx: ApiContext) -> str:
    """An operator for the console with a fresh password (also when --data keeps the users)."""
    password = secrets.token_urlsafe(9)
    try:
        ctx.users.add(_DEMO_USER, password, Role.OPERATOR, [ALL], time.time_ns() // 1_000_000)
    except UserRefused:
        ctx.users.set_password(_DEMO_USER, password)
    return password


def demo_config_path() -> Path:
    """The demo's settings file: packaged in the wheel, or ``config/demo/`` of a checkout."""
    packaged = Path(__file__).parent / "config" / "villagewatch.yaml"
    if packaged.exists():
        return packaged
    return Path(__file__).resolve().parents[3] / "config" / "demo" / "villagewatch.yaml"


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the demo handles Ctrl-C itself, stopping the stages in order


@contextlib.contextmanager
def _data_dir(data_dir: Path | None) -> Iterator[Path]:
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        yield data_dir
        return
    with tempfile.TemporaryDirectory(prefix="villagewatch-demo-") as tmp:
        yield Path(tmp)


async def run_demo(
    stop: asyncio.Event,
    *,
    broker_port: int = 0,
    api_port: int = 8080,
    data_dir: Path | None = None,
    rate: float | None = None,
    view: bool = True,
    on_ready: Callable[[DemoInfo], None] | None = None,
) -> None:
    """Run the demo until ``stop`` is set; ``broker_port=0`` picks a free port."""
    for wanted, option in ((api_port, "--api-port"), (broker_port, "--broker-port")):
        if wanted and port_in_use(wanted):
            raise VillagewatchError(
                f"port {wanted} on 127.0.0.1 is already in use; choose another with {option}"
            )
    base = load_deployment(demo_config_path())
    port = broker_port or free_port()
    with _data_dir(data_dir) as data:
        db = data / "villagewatch.db"
        s = base.settings
        settings = s.model_copy(
            update={
                "mqtt": s.mqtt.model_copy(update={"port": port}),
                "store": SQLiteSettings(path=db),
                "ingest": s.ingest.model_copy(update={"evidence_dir": data / "evidence"}),
                "api": s.api.model_copy(update={"port": api_port, "state_dir": data / "api"}),
                "detect": s.detect.model_copy(update={"state_path": data / "detect.db"}),
                "alerts": s.alerts.model_copy(
                    update={
                        "state_path": data / "alerts.db",
                        "detect_state_paths": [data / "detect.db"],
                    }
                ),
                "registry": s.registry.model_copy(update={"path": data / "registry.db"}),
                "simulate": s.simulate.model_copy(update={"rate": rate or s.simulate.rate}),
            }
        )
        deployment = Deployment(settings, base.villages)
        broker = EmbeddedBroker(port=port)
        await broker.start()
        store = SQLiteStore(db)
        try:
            await _run(deployment, store, stop, view=view, on_ready=on_ready, db=db)
        finally:
            await store.close()
            await broker.stop()


async def _run(
    deployment: Deployment,
    store: SQLiteStore,
    stop: asyncio.Event,
    *,
    view: bool,
    on_ready: Callable[[DemoInfo], None] | None,
    db: Path,
) -> None:
    settings = deployment.settings
    ingest = IngestService(deployment=deployment, store=store)
    ctx = open_context(deployment, store, registries=[ingest.metrics.registry])
    detect_store = DetectStore(settings.detect.state_path)
    try:
        detect = DetectService(deployment=deployment, store=detect_store, registry=ctx.registry)
        password = _demo_user(ctx)
        server = _EmbeddedServer(
            uvicorn.Config(
                create_app(ctx), host=settings.api.host, port=settings.api.port,
                log_level="warning", lifespan="off", timeout_graceful_shutdown=3,
            )
        )  # fmt: skip
        engine = AlertEngine(settings=settings.alerts, store=ctx.alerts)
        publisher = SimulationPublisher(
            mqtt=settings.mqtt, village=deployment.villages[0], settings=settings.simulate
        )
        sim_stop, ingest_stop, detect_stop = asyncio.Event(), asyncio.Event(), asyncio.Event()
        url = f"http://{settings.api.host}:{settings.api.port}"
        info = DemoInfo(settings.mqtt.port, url, db, _DEMO_USER, password)
        async with asyncio.TaskGroup() as tg:
            ingesting = tg.create_task(ingest.run(ingest_stop))
            detecting = tg.create_task(detect.run(detect_stop))
            alerting = tg.create_task(engine.run(stop))
            serving = tg.create_task(server.serve())
            await asyncio.wait_for(ingest.connected.wait(), timeout=30)
            await asyncio.wait_for(detect.connected.wait(), timeout=30)
            publishing = tg.create_task(publisher.run(sim_stop))
            while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for this
                await asyncio.sleep(0.05)
            if on_ready is not None:
                on_ready(info)
            if view:
                tg.create_task(
                    LiveView(ingest.metrics, header=f"villagewatch demo — {info.api_url}").run(stop)
                )
            await stop.wait()
            sim_stop.set()
            stats = await publishing
            ingest_stop.set()
            detect_stop.set()
            await ingesting
            await detecting
            await alerting
            server.should_exit = True
            await serving
    finally:
        await detect_store.close()
        ctx.close()
    log.info(
        "Demo stopped: %d messages published, %d acknowledged by the broker; data in %s",
        stats.published,
        stats.acknowledged,
        db,
    )
