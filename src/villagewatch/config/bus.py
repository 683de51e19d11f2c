"""The ingester's ``ingest.bus`` section: where it takes the contract's messages from — the MQTT
broker of the ``mqtt`` section (the default), or a NATS JetStream stream (``kind: nats``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from villagewatch.config.mqtt import TlsSettings
from villagewatch.config.paths import PasswordFile
from villagewatch.contract import StrictModel

__all__ = ["BusSettings", "MqttBus", "NatsBus"]

NatsName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class MqttBus(StrictModel):
    """Subscribe to the MQTT broker of the ``mqtt`` section (Mosquitto): one machine."""

    kind: Literal["mqtt"] = Field("mqtt", description="Selects the MQTT broker.")


class NatsBus(StrictModel):
    """A NATS JetStream stream that captures the contract's subjects, read through a durable
    pull consumer that every ingester shares (docs/ingest.md#nats-jetstream)."""

    kind: Literal["nats"] = Field("nats", description="Selects NATS JetStream.")
    servers: list[Annotated[str, StringConstraints(pattern=r"^(nats|tls)://\S+$")]] = Field(
        ["nats://127.0.0.1:4222"],
        min_length=1,
        description="Client URLs of the cluster's nodes (`nats://host:port`, no user or "
        "password in them: see `username`); the client fails over between them.",
    )
    username: str | None = Field(
        None,
        min_length=1,
        description="User name to sign in with (a user of the servers' `authorization` or of "
        "an account); with `password_file`. Unset: no sign-in.",
    )
    password_file: PasswordFile | None = Field(
        None,
        description="File holding that user's password (one line, readable by the service's "
        "user only); the password is never written in the settings file.",
    )
    tls: TlsSettings | None = Field(
        None,
        description="TLS towards the servers: the CA that signed their certificates and, if "
        "they verify clients, this client's certificate and key. Unset: plain TCP.",
    )
    capture: Literal["mqtt", "stream"] = Field(
        "mqtt",
        description="`mqtt`: read what NATS's MQTT listener stores of each QoS 1 publish "
        "before its PUBACK (its own `$MQTT_msgs` stream): nothing a device saw acknowledged "
        "can be missing, also when a node dies. `stream`: a stream of our own (`stream`) "
        "capturing the contract's subjects, for publishers that speak NATS; an MQTT PUBACK "
        "does not prove that stream holds the message (docs/ingest.md#nats-jetstream).",
    )
    stream: NatsName = Field(
        "VW", description="`capture: stream`: the stream of telemetry, events and evidence."
    )
    create_stream: bool = Field(
        True,
        description="Create the stream at start if it is missing (file storage, `replicas`); "
        "an existing stream is used as it is, once checked to capture the contract's subjects.",
    )
    replicas: int = Field(
        3, ge=1, le=5, description="Copies of the stream the cluster keeps (when created here)."
    )
    max_age_days: float = Field(
        7,
        gt=0,
        description="Messages older than this leave the stream even if no ingester took them "
        "(when created here): how long the ingesters may be away.",
    )
    durable: NatsName = Field(
        "vw-ingest",
        description="The durable consumer's name: ingesters with the same name share the "
        "stream (each message goes to one of them).",
    )
    max_ack_pending: int = Field(
        10_000,
        ge=1,
        description="Most messages handed out and not yet acknowledged, over all ingesters "
        "sharing the durable: the server stops delivering there (backpressure).",
    )
    ack_wait_s: float = Field(
        60,
        gt=0,
        description="A message not acknowledged this long after delivery is delivered again "
        "(another ingester may take it). Messages held by a slow store are kept alive with "
        "progress acks, so this only has to outlast a crashed ingester's silence.",
    )
    fetch_batch: int = Field(
        500, ge=1, le=10_000, description="Messages asked for in one pull request."
    )
    connect_timeout_s: int = Field(
        5, ge=1, description="Give up on a server that does not answer within this."
    )

    @field_validator("servers")
    @classmethod
    def _no_secret_in_urls(cls, servers: list[str]) -> list[str]:
        if any("@" in url for url in servers):
            raise ValueError(
                "a server URL holds a user or password: set username and password_file instead"
            )
        return servers

    @model_validator(mode="after")
    def _user_and_password(self) -> NatsBus:
        if (self.username is None) != (self.password_file is None):
            raise ValueError("username and password_file go together: set both or neither")
        return self


BusSettings = Annotated[MqttBus | NatsBus, Field(discriminator="kind")]
