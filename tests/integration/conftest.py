"""Real servers for integration tests: Mosquitto, influxd, VictoriaMetrics, PostgreSQL and a
three-node NATS cluster on free loopback ports, temp dirs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from villagewatch_dev.natscluster import NatsCluster
from villagewatch_dev.servers import (
    Influxd,
    Mosquitto,
    Postgres,
    VictoriaMetrics,
    missing_binaries,
)

from .webhook import Recorder, recording_server


@pytest.fixture(scope="session", autouse=True)
def _servers_installed() -> None:
    missing = missing_binaries()
    if missing and os.environ.get("CI"):
        pytest.fail(
            f"{', '.join(missing)} not installed; scripts/test installs them", pytrace=False
        )
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (run scripts/test)")


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A broker with the shipped queue settings."""
    broker = Mosquitto(tmp_path / "mosquitto").start()
    yield broker
    broker.kill()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    """A local HTTP server that records each request and answers 200 {}."""
    with recording_server(Recorder(answer=lambda _b: (200, {}))) as r:
        yield r


@pytest.fixture(scope="session")
def shared_influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influxd]:
    """One influxd for the tests that don't stop it; each test uses its own database."""
    server = Influxd(tmp_path_factory.mktemp("influxd")).start()
    yield server
    server.kill()


@pytest.fixture
def influxd(tmp_path: Path) -> Iterator[Influxd]:
    """An influxd of this test's own, free to stop and restart."""
    server = Influxd(tmp_path / "influxd").start()
    yield server
    server.kill()


@pytest.fixture
def database(shared_influxd: Influxd, request: pytest.FixtureRequest) -> str:
    """A fresh database on the shared influxd, named after the test."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:60].lower()
    shared_influxd.query(f'DROP DATABASE "{name}"')
    shared_influxd.query(f'CREATE DATABASE "{name}"')
    return name


@pytest.fixture(scope="session")
def shared_victoria(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetrics]:
    """One VictoriaMetrics for the tests that don't stop it; each test uses its own village."""
    server = VictoriaMetrics(tmp_path_factory.mktemp("victoria")).start()
    yield server
    server.kill()


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    """A VictoriaMetrics of this test's own, free to stop and restart."""
    server = VictoriaMetrics(tmp_path / "victoria").start()
    yield server
    server.kill()


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    """Three JetStream nodes with MQTT listeners; every node killed afterwards, also when the
    cluster did not come up."""
    nodes = NatsCluster(tmp_path / "nats")
    try:
        yield nodes.start()
    finally:
        nodes.close()


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[Postgres]:
    """A PostgreSQL cluster of this test's own, free to stop and restart."""
    server = Postgres(tmp_path / "postgres").start()
    yield server
    server.close()
