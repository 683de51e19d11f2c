"""``villagewatch demo``: broker, ingester, detect, alerts, SQLite, simulator, API and console in
one process, no servers.

The roles run through the same functions as their commands (:mod:`villagewatch.roles`); the
demo adds the embedded broker, the simulator and the live view, and keeps its settings and
all its data in one folder.

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
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from villagewatch.api.context import open_users
from villagewatch.api.places import ALL
from villagewatch.api.users import UserRefused, UserRole
from villagewatch.config import Deployment, SQLiteSettings, load_deployment
from villagewatch.demo.broker import EmbeddedBroker
from villagewatch.demo.registry import seed_demo_registry
from villagewatch.demo.view import LiveView
from villagewatch.errors import VillagewatchError
from villagewatch.ingest import IngestMetrics
from villagewatch.roles import run_alerts, run_api, run_detect, run_ingest
from villagewatch.runtime.ports import free_port, port_in_use
from villagewatch.sim.publisher import SimulationPublisher
from villagewatch.store import open_store

__all__ = ["DemoInfo", "demo_config_path", "demo_deployment", "run_demo"]

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
    temporary: bool
    """The data is in a temporary folder, deleted when the demo stops (no --data/--config)."""


_DEMO_USER = "demo"


def _demo_user(deployment: Deployment) -> str:
    """An operator for the console with a fresh password (also when --data keeps the users)."""
    password = secrets.token_urlsafe(9)
    users = open_users(deployment)
    try:
        try:
            users.add(_DEMO_USER, password, UserRole.OPERATOR, [ALL], time.time_ns() // 1_000_000)
        except UserRefused:
            users.set_password(_DEMO_USER, password)
    finally:
        users.close()
    return password


def demo_config_path() -> Path:
    """The demo's settings file: packaged in the wheel, or ``config/demo/`` of a checkout."""
    packaged = Path(__file__).parent / "config" / "villagewatch.yaml"
    if packaged.exists():
        return packaged
    return Path(__file__).resolve().parents[3] / "config" / "demo" / "villagewatch.yaml"


@contextlib.contextmanager
def _data_dir(data_dir: Path | None) -> Iterator[Path]:
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        yield data_dir
        return
    with tempfile.TemporaryDirectory(prefix="villagewatch-demo-") as tmp:
        yield Path(tmp)


def demo_deployment(
    data: Path, *, broker_port: int, api_port: int, rate: float | None, edited: bool = False
) -> Deployment:
    """The demo's settings and village, copied into ``data`` and loaded from there like any
    deployment (so its files are in ``data``), with the command line's ports and rate.

    ``edited``: ``data`` is the user's config folder (``demo --config DIR``): the packaged
    files are copied only into a folder that has no settings yet, as a start to edit, and
    what is there is never overwritten."""
    packaged = demo_config_path()
    settings_file = data / packaged.name
    if not (edited and settings_file.exists()):
        for yaml_file in packaged.parent.glob("*.yaml"):
            shutil.copyfile(yaml_file, data / yaml_file.name)
    loaded = load_deployment(settings_file)
    s = loaded.settings
    settings = s.model_copy(
        update={
            "mqtt": s.mqtt.model_copy(update={"port": broker_port}),
            "api": s.api.model_copy(update={"port": api_port}),
            "simulate": s.simulate.model_copy(update={"rate": rate or s.simulate.rate}),
        }
    )
    return replace(loaded, settings=settings)


async def run_demo(
    stop: asyncio.Event,
    *,
    broker_port: int = 0,
    api_port: int = 8080,
    data_dir: Path | None = None,
    config_dir: Path | None = None,
    rate: float | None = None,
    view: bool = True,
    on_ready: Callable[[DemoInfo], None] | None = None,
) -> None:
    """Run the demo until ``stop`` is set; ``broker_port=0`` picks a free port.
    ``data_dir``: keep the data there (the demo's config is written afresh beside it);
    ``config_dir``: run from the user's config folder, which keeps the data too (see
    :func:`demo_deployment`); neither: a temporary folder."""
    if data_dir is not None and config_dir is not None:
        raise VillagewatchError(
            "give --config or --data, not both: the data stays beside the settings of --config"
        )
    for wanted, option in ((api_port, "--api-port"), (broker_port, "--broker-port")):
        if wanted and port_in_use(wanted):
            raise VillagewatchError(
                f"port {wanted} on 127.0.0.1 is already in use; choose another with {option}"
            )
    port = broker_port or free_port()
    with _data_dir(config_dir or data_dir) as data:
        deployment = demo_deployment(
            data, broker_port=port, api_port=api_port, rate=rate, edited=config_dir is not None
        )
        broker = EmbeddedBroker(port=port)
        await broker.start()
        try:
            await _run(
                deployment, stop, view=view, on_ready=on_ready,
                temporary=config_dir is None and data_dir is None,
            )  # fmt: skip
        finally:
            await broker.stop()


async def _run(
    deployment: Deployment,
    stop: asyncio.Event,
    *,
    view: bool,
    on_ready: Callable[[DemoInfo], None] | None,
    temporary: bool,
) -> None:
    """The roles in one process, over one readings store; stopped in order: the simulator
    first, so that what it published is written and acknowledged, then the ingester and
    detect, then the alert engine, then the API."""
    settings = deployment.settings
    assert isinstance(settings.store, SQLiteSettings), "the demo's settings say sqlite"
    db = settings.store.path
    password = _demo_user(deployment)
    seed_demo_registry(deployment)
    url = f"http://{settings.api.host}:{settings.api.port}"
    info = DemoInfo(settings.mqtt.port, url, db, _DEMO_USER, password, temporary)
    publisher = SimulationPublisher(
        mqtt=settings.mqtt, village=deployment.villages[0], settings=settings.simulate
    )
    metrics = IngestMetrics()  # the live view and the API's /metrics show the ingester's
    sim_stop, ingest_stop, detect_stop, api_stop = (asyncio.Event() for _ in range(4))
    ingest_up, detect_up, api_up = asyncio.Event(), asyncio.Event(), asyncio.Event()
    store = open_store(settings)
    try:
        async with asyncio.TaskGroup() as tg:
            ingesting = tg.create_task(
                run_ingest(deployment, ingest_stop, store=store, metrics=metrics, started=ingest_up)
            )
            detecting = tg.create_task(run_detect(deployment, detect_stop, started=detect_up))
            alerting = tg.create_task(run_alerts(deployment, stop))
            serving = tg.create_task(
                run_api(
                    deployment, api_stop, store=store, registries=[metrics.registry],
                    log_level="warning", started=api_up,
                )
            )  # fmt: skip
            await asyncio.wait_for(ingest_up.wait(), timeout=30)
            await asyncio.wait_for(detect_up.wait(), timeout=30)
            publishing = tg.create_task(publisher.run(sim_stop))
            await api_up.wait()
            if on_ready is not None:
                on_ready(info)
            if view:
                tg.create_task(LiveView(metrics, header=f"villagewatch demo — {url}").run(stop))
            await stop.wait()
            sim_stop.set()
            stats = await publishing
            ingest_stop.set()
            detect_stop.set()
            await ingesting
            await detecting
            await alerting
            api_stop.set()
            await serving
    finally:
        await store.close()
    log.info(
        "Demo stopped: %d messages published, %d acknowledged by the broker",
        stats.published,
        stats.acknowledged,
    )
