"""The settings file's ``store`` section: where readings go, InfluxDB or SQLite (``kind``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from villagewatch.config.paths import ConfigPath, PasswordFile, TokenFile
from villagewatch.contract import Identifier, StrictModel

__all__ = ["InfluxSettings", "SQLiteSettings", "StoreSettings"]


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


StoreSettings = Annotated[InfluxSettings | SQLiteSettings, Field(discriminator="kind")]
