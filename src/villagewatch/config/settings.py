"""A deployment's settings file: its sections (the broker's, the store's and the alert engine's
in modules of their own), and its village files.

Secrets are never in the settings file (``password_file``, ``token_file`` name files holding
them), so it can be shared and committed. ``docs/config.md`` is the reference.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import (
    Field,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from villagewatch.config.alerting import AlertsSettings
from villagewatch.config.bus import BusSettings, MqttBus, NatsBus
from villagewatch.config.fields import Port
from villagewatch.config.mqtt import MqttSettings
from villagewatch.config.partitions import ClaimSettings, Partitions
from villagewatch.config.paths import SECTION, ConfigPath
from villagewatch.config.relational import (
    PostgresSettings,
    RelationalSettings,
    SQLiteFilesSettings,
)
from villagewatch.config.stores import SQLiteSettings, StoreSettings, refuse_readings_file
from villagewatch.contract import Identifier, StrictModel

__all__ = [
    "ApiSettings",
    "DetectSettings",
    "FloodScenario",
    "IngestSettings",
    "RegistrySettings",
    "Settings",
    "SimulateSettings",
]


class IngestSettings(StrictModel):
    """The ingester: subscription, batching and flow control."""

    bus: BusSettings = Field(
        default_factory=MqttBus,
        description="Where messages come from: the MQTT broker of the `mqtt` section (the "
        "default), or a NATS JetStream stream shared by any number of ingesters "
        "(`kind: nats`; docs/ingest.md#nats-jetstream).",
    )
    client_id: Identifier = Field(
        "vw-ingest-1", description="MQTT client id; unique per ingester process."
    )
    share_group: Identifier | None = Field(
        None,
        description="MQTT 5 shared-subscription group ($share/<group>/…): ingesters in one "
        "group split the stream. Unset: plain persistent subscriptions — the safe choice on "
        "Mosquitto 2.0, which forgets shared subscriptions when it restarts (docs/broker.md).",
    )
    only_villages: list[Identifier] | None = Field(
        None,
        description="Subscribe to these villages only; unset: all. Gives several ingesters a "
        "share of the stream each through plain subscriptions, which (unlike shared ones) "
        "Mosquitto 2.0 restores after a restart; see docs/broker.md.",
    )
    session_expiry_s: int = Field(
        7 * 86400,
        ge=0,
        description="How long the broker keeps the session (and queues messages) while "
        "the ingester is away.",
    )
    receive_maximum: int = Field(
        10_000,
        ge=1,
        le=65_535,
        description="Most unacknowledged messages the broker may send us (MQTT 5 Receive "
        "Maximum); bounds the ingester's memory. Must be at least twice batch_max_messages.",
    )
    batch_max_messages: int = Field(
        2000, ge=1, description="A batch closes when it holds this many messages…"
    )
    batch_max_readings: int = Field(20_000, ge=1, description="…or this many readings and events…")
    flush_interval_s: float = Field(
        0.2, gt=0, le=60, description="…or when its oldest message has waited this long."
    )
    batches_in_flight: int = Field(
        2,
        ge=1,
        le=8,
        description="Batches written at once (each acknowledged only after it and all "
        "earlier ones are written). 2 lets the store work while the next batch is encoded.",
    )
    max_message_bytes: int = Field(
        262_144, ge=1024, description="Larger payloads are dead-lettered as too_large."
    )
    evidence_dir: ConfigPath = Field(
        Path("var/evidence"),
        validate_default=True,
        description="Where the evidence JPEGs cameras publish on `…/evidence/<id>` are kept, "
        "as `<village>/<device>/<id>.jpg`; each is written durably before its message is "
        "acknowledged. Relative to the settings file. With `relational.kind: postgres` they "
        "are kept in its `evidence` schema instead, for API nodes on other machines.",
    )
    evidence_budget_mb: float = Field(
        20_000,
        gt=0,
        description="Most space the evidence pictures may take (in the folder or in "
        "PostgreSQL); past it the oldest are deleted.",
    )
    evidence_max_age_days: float = Field(
        90, gt=0, description="Evidence pictures older than this are deleted."
    )
    evidence_min_free_percent: float = Field(
        10,
        ge=0,
        lt=100,
        description="A picture that would leave less of its folder's disk free is not "
        "written (it is "
        "dead-lettered as no_space once the oldest pictures were deleted to make room): "
        "readings keep the space they need.",
    )
    dedupe_window: int = Field(
        200_000,
        ge=0,
        description="Recent dedupe keys remembered to drop redeliveries before writing. "
        "Stores are idempotent anyway; this saves work and counts duplicates.",
    )
    earliest_timestamp: date = Field(
        date(2020, 1, 1),
        description="Device times before this are implausible: stamped on receipt instead.",
    )
    max_clock_ahead_s: float = Field(
        300, ge=0, description="Device times further ahead of receipt are implausible."
    )
    retry_initial_s: float = Field(0.5, gt=0, description="First wait after a failed write.")
    retry_max_s: float = Field(30, gt=0, description="Longest wait between write attempts.")
    metrics_port: Port | None = Field(
        None, description="Serve Prometheus metrics on 127.0.0.1:<port>; unset: don't."
    )

    @model_validator(mode="after")
    def _window_fits_batches(self) -> IngestSettings:
        if self.receive_maximum < 2 * self.batch_max_messages:
            raise ValueError(
                f"receive_maximum ({self.receive_maximum}) must be at least twice "
                f"batch_max_messages ({self.batch_max_messages}): the broker stops sending "
                "once that many messages await our ack, so a bigger batch could only ever "
                "close on the timer, and nothing would arrive while one is being written"
            )
        bus = self.bus
        if isinstance(bus, NatsBus) and bus.max_ack_pending < 2 * self.batch_max_messages:
            raise ValueError(
                f"bus.max_ack_pending ({bus.max_ack_pending}) must be at least twice "
                f"batch_max_messages ({self.batch_max_messages}): the server stops delivering "
                "once that many messages await an ack, so a batch could only close on the timer"
            )
        return self

    @property
    def earliest_ms(self) -> int:
        """``earliest_timestamp`` as epoch milliseconds."""
        start = datetime(
            self.earliest_timestamp.year,
            self.earliest_timestamp.month,
            self.earliest_timestamp.day,
            tzinfo=UTC,
        )
        return int(start.timestamp()) * 1000


class DetectSettings(StrictModel):
    """The detect service: its share of the villages, its session, its state file."""

    client_id: Identifier = Field(
        "vw-detect-1", description="MQTT client id; unique per detect process."
    )
    villages: list[Identifier] | None = Field(
        None,
        description="The villages this process watches (its partition: detectors keep "
        "per-device state, so a village belongs to exactly one process); unset: all (or the "
        "partitions it claims, with `claim`).",
    )
    partitions: Partitions | None = Field(
        None,
        description="Named groups of villages that detect processes with `claim` share: "
        "each partition is held by one process at a time, and taken over when it dies. "
        "Each has its own persistent MQTT session (client id `<client_id>-<partition>`).",
    )
    claim: ClaimSettings | None = Field(
        None, description="Compete for `partitions` (unset: watch `villages`)."
    )
    state_path: ConfigPath = Field(
        Path("var/detect.db"),
        validate_default=True,
        description="SQLite file of detector state and transitions (with `relational.kind: "
        "postgres`: unused, they are in the shared `detect` schema).",
    )
    session_expiry_s: int = Field(
        7 * 86400, ge=0, description="How long the broker queues messages while detect is away."
    )
    receive_maximum: int = Field(
        2000, ge=1, le=65_535, description="Most unacknowledged messages in flight to detect."
    )
    flush_interval_s: float = Field(
        0.02,
        gt=0,
        le=10,
        description="State is committed (then messages acknowledged) this often; a "
        "transition is committed at once.",
    )
    batch_max_messages: int = Field(500, ge=1, description="…or after this many messages.")
    tick_s: float = Field(5, gt=0, description="How often silence is checked (offline devices).")
    disk_low_percent: float = Field(
        10,
        gt=0,
        lt=100,
        description="A disk holding the deployment's data (state, alerts, evidence, SQLite "
        "store) with less free space than this raises a `disk_low` alert (orange)…",
    )
    disk_critical_percent: float = Field(
        2, gt=0, lt=100, description="…and below this the alert turns red."
    )
    disk_reserve_mb: float = Field(
        64,
        ge=0,
        description="Space kept in a file beside the state file and given back when the disk "
        "is full, so detect can still start and record alerts (0: none).",
    )
    metrics_port: Port | None = Field(
        None, description="Serve Prometheus metrics on 127.0.0.1:<port>; unset: don't."
    )

    @model_validator(mode="after")
    def _claims_partitions(self) -> DetectSettings:
        if self.claim is not None and not self.partitions:
            raise ValueError("claim needs partitions: name the groups of villages to share")
        if self.claim is not None and self.villages is not None:
            raise ValueError(
                "set either villages (this process watches those) or claim (it competes for "
                "partitions), not both"
            )
        return self


class ApiSettings(StrictModel):
    """The HTTP API."""

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: Port = Field(8080, description="Port to listen on.")
    state_dir: ConfigPath = Field(
        Path("var/api"),
        validate_default=True,
        description="Users, sessions, the audit log of actions (api.db) and uploaded village "
        "plans (plans/).",
    )
    token_ttl_s: float = Field(
        43200, ge=60, le=30 * 86400, description="A login is valid this long (seconds)."
    )
    live_poll_s: float = Field(
        0.2, gt=0, le=5, description="How often the live feed looks for alert changes."
    )
    sqlite_busy_timeout_s: float = Field(
        5,
        gt=0,
        le=60,
        description="How long a change to the alerts, users or registry waits for another "
        "process writing the same SQLite file before the API answers 503 (counted in "
        "villagewatch_sqlite_busy_total). Reads never wait for a writer.",
    )
    login_failures_per_source: int = Field(
        20,
        ge=1,
        le=10_000,
        description="Failed logins one address may make within login_window_s; further "
        "attempts from it are refused (429) until the oldest failure leaves the window.",
    )
    login_window_s: float = Field(
        300, gt=0, le=86400, description="How long a failed login counts against its address."
    )
    login_delay_max_s: float = Field(
        30,
        ge=0,
        le=600,
        description="After three failed logins for a name, each further failure doubles the "
        "wait before its next password check (1, 2, 4 … s) up to this; the right password, "
        "from any address, gets in after at most this long. Slowed, never locked out.",
    )


class RegistrySettings(StrictModel):
    """The rental registry (houses, tenants, credentials), kept by operators in the console."""

    path: ConfigPath = Field(
        Path("var/registry.db"),
        validate_default=True,
        description="SQLite file of the registry (unless `relational` picks PostgreSQL).",
    )
    poll_s: float = Field(
        5, gt=0, le=300, description="How often detect looks for registry changes."
    )


class FloodScenario(StrictModel):
    """A scripted flood at one water-level gauge: rise, hold, fall."""

    device: Identifier = Field(description="The water-level device that sees the flood.")
    start_s: float = Field(60, ge=0, description="Simulated seconds before the rise starts.")
    rise_cm: float = Field(180, gt=0, description="How far the water rises above normal.")
    rise_s: float = Field(1800, gt=0, description="Duration of the rise.")
    hold_s: float = Field(600, ge=0, description="Duration at the crest.")
    fall_s: float = Field(3600, gt=0, description="Duration of the fall back to normal.")


class SimulateSettings(StrictModel):
    """The simulated village (``villagewatch simulate`` and the demo)."""

    rate: float = Field(20, gt=0, le=200_000, description="Messages per second, all devices.")
    speed: float = Field(
        1, gt=0, le=3600, description="Simulated seconds per real second (device clocks too)."
    )
    base_level_cm: float = Field(120, description="Normal water level at the gauges.")
    seed: int = Field(1, description="Random seed; the same seed gives the same village.")
    flood: FloodScenario | None = Field(None, description="Scripted flood, if any.")


class Settings(StrictModel):
    """A whole deployment's settings file."""

    @model_validator(mode="before")
    @classmethod
    def _absent_sections_as_empty(cls, data: Any) -> Any:
        """An absent section is validated from nothing, like a written one, so that the relative
        paths among its defaults (``var/detect.db``) are resolved against the file too."""
        if isinstance(data, dict):
            empty: dict[str, Any] = {name: {} for name in cls.model_fields if name != "villages"}
            data = {**empty, "store": {"kind": "sqlite"}, "relational": {"kind": "sqlite"}, **data}
            return _mqtt_of_the_bus(data)
        return data

    @field_validator("*", mode="wrap")
    @classmethod
    def _in_section(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        """Tell the path types which section they are in (a service reads only its own
        sections' secrets; see :class:`~villagewatch.config.paths.PathContext`)."""
        token = SECTION.set(info.field_name)  # validated in its own context: no leak
        try:
            return handler(value)
        finally:
            SECTION.reset(token)

    @field_validator("alerts")
    @classmethod
    def _alerts_of_this_detect(cls, alerts: AlertsSettings, info: ValidationInfo) -> AlertsSettings:
        """Unset ``detect_state_paths``: the transitions of this file's one detect process."""
        detect = info.data.get("detect")  # absent when detect itself was invalid
        if alerts.detect_state_paths or not isinstance(detect, DetectSettings):
            return alerts
        return alerts.model_copy(update={"detect_state_paths": [detect.state_path]})

    mqtt: MqttSettings = Field(default_factory=MqttSettings, description="The broker.")
    store: StoreSettings = Field(
        default_factory=SQLiteSettings, description="Where readings go; `kind` picks one."
    )
    ingest: IngestSettings = Field(default_factory=IngestSettings, description="The ingester.")
    detect: DetectSettings = Field(
        default_factory=DetectSettings, description="The detect service."
    )
    alerts: AlertsSettings = Field(default_factory=AlertsSettings, description="The alert engine.")
    api: ApiSettings = Field(default_factory=ApiSettings, description="The HTTP API.")
    registry: RegistrySettings = Field(
        default_factory=RegistrySettings, description="The rental registry."
    )
    simulate: SimulateSettings = Field(
        default_factory=SimulateSettings, description="The simulator."
    )
    relational: RelationalSettings = Field(
        default_factory=SQLiteFilesSettings,
        description="Which engine keeps the registry, the users and the config versions: "
        "SQLite files (the default) or one PostgreSQL database; `kind` picks one.",
    )
    villages: list[ConfigPath] = Field(
        min_length=1, description="Village files, relative to this settings file."
    )

    @model_validator(mode="after")
    def _no_files_on_postgres(self) -> Settings:
        """On PostgreSQL the roles share schemas: files named for them would be ignored."""
        if not isinstance(self.relational, PostgresSettings):
            return self
        if self.alerts.detect_state_paths != [self.detect.state_path]:
            raise ValueError(
                "alerts.detect_state_paths lists detect files, but relational.kind is postgres: "
                "every detect process then writes its transitions to the shared `detect` schema "
                "and the alert engine reads them there. Remove alerts.detect_state_paths."
            )
        refuse_readings_file(self.store)
        return self


def _mqtt_of_the_bus(data: dict[str, Any]) -> dict[str, Any]:
    """On a NATS deployment the ``mqtt`` section is NATS's MQTT listener (detect's session, the
    simulator), which speaks MQTT 3.1.1 only: that is the protocol when none is written, and
    MQTT 5 written there is refused in words rather than by the server at every reconnect."""
    mqtt, ingest = data.get("mqtt"), data.get("ingest")
    bus = ingest.get("bus") if isinstance(ingest, dict) else None
    if not (isinstance(mqtt, dict) and isinstance(bus, dict) and bus.get("kind") == "nats"):
        return data
    if "protocol" not in mqtt:
        return {**data, "mqtt": {**mqtt, "protocol": "3.1.1"}}
    if str(mqtt["protocol"]) == "5":
        raise ValueError(
            "mqtt.protocol is 5, but ingest.bus is NATS, whose MQTT listener speaks MQTT 3.1.1 "
            'only: set mqtt.protocol to "3.1.1" or leave it out'
        )
    return data
