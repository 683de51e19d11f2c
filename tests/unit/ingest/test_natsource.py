"""The NATS source's pure parts: the subjects it needs, the check of an existing stream, its
settings, and the error of a wrong server URL."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from villagewatch.config.bus import MqttBus, NatsBus
from villagewatch.config.settings import IngestSettings
from villagewatch.errors import BusUnavailable
from villagewatch.ingest.natsource import NatsSource, server_refused
from villagewatch.ingest.natsubjects import Consumer, contract_channel, contract_subjects, covers
from villagewatch.runtime.ports import free_port


def test_the_contract_subjects_are_the_mqtt_filters_in_nats_spelling() -> None:
    assert contract_subjects() == [
        "vw.v1.*.*.telemetry",
        "vw.v1.*.*.event",
        "vw.v1.*.*.evidence.*",
    ]


@pytest.mark.parametrize(
    ("captured", "subject", "covered"),
    [
        pytest.param(["vw.v1.*.*.telemetry"], "vw.v1.*.*.telemetry", True, id="same"),
        pytest.param(["vw.>"], "vw.v1.*.*.evidence.*", True, id="full-wildcard"),
        pytest.param(["vw.v1.>"], "vw.v1.*.*.event", True, id="full-wildcard-deeper"),
        pytest.param(["vw.v1.*.*.*"], "vw.v1.*.*.event", True, id="star-covers-token"),
        pytest.param(["vw.v1.dongcun.*.telemetry"], "vw.v1.*.*.telemetry", False, id="one-village"),
        pytest.param(["vw.v1.*.*.telemetry"], "vw.v1.*.*.event", False, id="other-channel"),
        pytest.param(["vw.v1.*.*.evidence"], "vw.v1.*.*.evidence.*", False, id="too-short"),
        pytest.param(["vw.v1.*.*.evidence.*.x"], "vw.v1.*.*.evidence.*", False, id="too-long"),
        pytest.param(["vw.v1.*.*.event.>"], "vw.v1.*.*.event", False, id="gt-needs-a-token"),
        pytest.param([], "vw.v1.*.*.event", False, id="nothing"),
    ],
)
def test_an_existing_stream_must_capture_every_contract_subject(
    captured: list[str], subject: str, covered: bool
) -> None:
    assert covers(captured, subject) is covered


def test_mosquitto_stays_the_default_bus() -> None:
    assert isinstance(IngestSettings().bus, MqttBus)


def test_nats_bus_settings_are_read_and_checked() -> None:
    ing = IngestSettings.model_validate(
        {"bus": {"kind": "nats", "servers": ["nats://10.0.0.1:4222", "nats://10.0.0.2:4222"]}}
    )
    assert isinstance(ing.bus, NatsBus)
    assert ing.bus.replicas == 3
    with pytest.raises(ValidationError, match="max_ack_pending"):
        IngestSettings.model_validate({"bus": {"kind": "nats", "max_ack_pending": 100}})
    with pytest.raises(ValidationError, match="servers"):
        IngestSettings.model_validate({"bus": {"kind": "nats", "servers": ["10.0.0.1:4222"]}})


def test_a_wrong_server_url_is_a_clear_error() -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    source = NatsSource(
        bus=NatsBus(servers=[url], connect_timeout_s=1),
        consumers=[Consumer("vw-ingest", "vw.v1.>")],
        wanted=lambda _: True,
        on_message=lambda *_: None,
        on_connected=lambda _: None,
    )
    with pytest.raises(BusUnavailable, match=f"no NATS server answers at {url}"):
        asyncio.run(source.connect(asyncio.Event()))


@pytest.mark.parametrize(
    ("version", "used"),
    [
        pytest.param("2.9.10", False, id="debian-12-measured-losing"),
        pytest.param("2.10.99", False, id="below-the-floor"),
        pytest.param("", False, id="none-reported"),
        pytest.param("two.eleven", False, id="unreadable"),
        pytest.param("2.11.0", True, id="the-floor"),
        pytest.param("2.12.8", True, id="the-tests-server"),
        pytest.param("3.0.0-beta.1", True, id="a-later-major"),
    ],
)
def test_a_nats_server_older_than_the_floor_is_refused_in_words(version: str, used: bool) -> None:
    why = server_refused(version, "nats-2:4222")
    assert (why is None) is used
    if why is not None:
        assert "nats-2:4222" in why
        assert f"version {version or 'unknown'}" in why
        assert "2.11.0 or newer on every node of ingest.bus.servers" in why


@pytest.mark.parametrize(
    ("subject", "stored"),
    [
        ("vw.v1.v.wl-1.telemetry", True),
        ("vw.v1.v.lock-1.event", True),
        ("vw.v1.v.cam-1.evidence.e1", True),
        ("vw.v1.v.cam-1.evidence", False),  # evidence comes with its id
        ("vw.v1.v.agent-1.status", False),
        ("vw.v1.v.agent-1.config", False),
        ("vw.v1.v.agent-1.config.reported", False),
        ("vw.v1.v.wl-1.telemetry.x", False),
    ],
)
def test_the_ingester_takes_the_channels_its_mqtt_path_subscribes_to(
    subject: str, stored: bool
) -> None:
    assert contract_channel(subject) is stored
