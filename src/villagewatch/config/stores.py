"""The settings file's ``store`` section: where readings go, InfluxDB, VictoriaMetrics or SQLite
(``kind``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from villagewatch.config.paths import ConfigPath, PasswordFile, TokenFile
from villagewatch.contract import Identifier, StrictModel

__all__ = [
    "InfluxSettings",
    "SQLiteSettings",
    "StoreSettings",
    "VictoriaSettings",
    "local_store_file",
    "refuse_readings_file",
]


class InfluxSettings(StrictModel):
    """InfluxDB through its v1 HTTP API (/write, /query): 1.x, 2.x (v1 compatibility), 3.x."""

    kind: Literal["influx"] = Field("influx", description="Selects InfluxDB.")
    url: str = Field("http://127.0.0.1:8086", description="Base URL of the InfluxDB HTTP API.")
    database: Identifier = Field("villagewatch", description="Database (2.x: mapped bucket).")
    retention_policy: str | None = Field(None, description="Retention policy; unset: default.")
    username: str | None = Field(None, description="User for basic auth (1.x).")
    password_file: PasswordFile | None = Field(None, description="File holding the password.")
    token_file: TokenFile | None = Field(None, description="File holding an API token (2.x, 3.x).")
    gzip: bool = Field(True, description="Compress write bodies.")
    timeout_s: float = Field(10, gt=0, description="Timeout of one HTTP request.")
    create_database: bool = Field(
        False, description="Create the database at start-up (1.x; needs admin rights)."
    )
    rescue_lookback_s: int = Field(
        86_400,
        ge=60,
        description="How far back to look for an earlier copy of a reading whose device "
        "clock was implausible (such readings are stamped on receipt, so a resent copy gets "
        "a new time and must be found by its dedupe key).",
    )

    @model_validator(mode="after")
    def _one_way_to_sign_in(self) -> InfluxSettings:
        if self.token_file is not None and (
            self.username is not None or self.password_file is not None
        ):
            raise ValueError(
                "set token_file (InfluxDB 2.x, 3.x) or username and password_file (1.x), not both"
            )
        if self.password_file is not None and self.username is None:
            raise ValueError("password_file needs a username")
        return self


class SQLiteSettings(StrictModel):
    """The embedded store: one SQLite file in WAL mode."""

    kind: Literal["sqlite"] = Field("sqlite", description="Selects SQLite.")
    path: ConfigPath = Field(
        Path("var/villagewatch.db"), validate_default=True, description="Database file."
    )


class VictoriaSettings(StrictModel):
    """VictoriaMetrics for the readings' numbers, a relational store for what it cannot keep.

    VictoriaMetrics keeps float samples at millisecond precision and no strings, so events,
    dead letters and the few readings it cannot hold exactly (rescued ones, and two of one
    device in the same millisecond) go to the relational part as well.
    """

    kind: Literal["victoria"] = Field("victoria", description="Selects VictoriaMetrics.")
    url: str = Field(
        "http://127.0.0.1:8428",
        description="Base URL of VictoriaMetrics (single node; in a cluster, vminsert's for "
        "writing and see query_url).",
    )
    write_path: str = Field(
        "/write",
        description="Path of the line-protocol write; in a cluster "
        "`/insert/<tenant>/influx/write` on vminsert.",
    )
    query_url: str | None = Field(
        None,
        description="Base of the Prometheus query API; unset: `url`. In a cluster "
        "`http://vmselect:8481/select/<tenant>/prometheus`.",
    )
    gzip: bool = Field(True, description="Compress write bodies.")
    timeout_s: float = Field(10, gt=0, description="Timeout of one HTTP request.")
    points_per_request: int = Field(
        10_000, ge=1, le=1_000_000, description="Readings per write request."
    )
    last_values_window_s: int = Field(
        30 * 86_400,
        ge=60,
        le=10 * 365 * 86_400,
        description="How far back last values look: a metric silent for longer has none.",
    )
    search_latency_s: float = Field(
        30,
        ge=0,
        le=3600,
        description="The server's `-search.latencyOffset` (its default is 30 s): queries "
        "hide samples younger than that, so last values read that stretch raw instead.",
    )
    relational: SQLiteSettings = Field(
        default_factory=lambda: {"path": "var/villagewatch-relational.db"},
        validate_default=True,  # so that the default path is resolved like a written one
        description="The SQLite file keeping events, dead letters, dedupe keys and the "
        "readings VictoriaMetrics cannot hold exactly. With `relational.kind: postgres` they "
        "go to the `readings` schema of that database instead, shared by every ingester and "
        "API node: leave this unset then.",
    )


StoreSettings = Annotated[
    InfluxSettings | VictoriaSettings | SQLiteSettings, Field(discriminator="kind")
]


def local_store_file(settings: InfluxSettings | VictoriaSettings | SQLiteSettings) -> Path | None:
    """The file on this machine the store keeps data in (VictoriaMetrics: its relational
    part's), whose free space is worth watching; None for a store on a server."""
    if isinstance(settings, SQLiteSettings):
        return settings.path
    if isinstance(settings, VictoriaSettings):
        return settings.relational.path
    return None


def refuse_readings_file(settings: InfluxSettings | VictoriaSettings | SQLiteSettings) -> None:
    """With ``relational.kind: postgres`` VictoriaMetrics' relational part is the shared
    ``readings`` schema: a file named for it would be one per host, and silently unused."""
    if isinstance(settings, VictoriaSettings) and "relational" in settings.model_fields_set:
        raise ValueError(
            "store.relational names a file, but relational.kind is postgres: the events, dead "
            "letters and dedupe keys of the VictoriaMetrics store then go to the `readings` "
            "schema of that database, shared by every ingester and API node. Remove "
            "store.relational (or set relational.kind: sqlite to keep the file)."
        )
