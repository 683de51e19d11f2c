"""The settings file's ``mqtt`` section (an edge.yaml has one too): how to reach the broker
and sign in to it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from villagewatch.config.fields import Port
from villagewatch.config.paths import CaFile, CertFile, ConfigPath, KeyFile, PasswordFile
from villagewatch.contract import StrictModel

__all__ = ["MqttSettings", "TlsSettings", "identity_password_file"]


class TlsSettings(StrictModel):
    """TLS towards the broker."""

    ca_file: CaFile = Field(description="CA certificate that signed the broker's certificate.")
    cert_file: CertFile | None = Field(
        None, description="Client certificate, for certificate auth."
    )
    key_file: KeyFile | None = Field(None, description="Private key of the client certificate.")


class MqttSettings(StrictModel):
    """How to reach the MQTT broker."""

    host: str = Field("127.0.0.1", description="Broker host name or address.")
    port: Port = Field(1883, description="Broker port (8883 is usual with TLS).")
    protocol: Literal["5", "3.1.1"] = Field(
        "5",
        description="MQTT version. 5 gives shared subscriptions and flow control "
        "(Receive Maximum); 3.1.1 is for brokers without MQTT 5. In a settings file whose "
        "`ingest.bus` is NATS it is 3.1.1 when left out (NATS's MQTT listener has no MQTT 5).",
    )
    username: str | None = Field(
        None,
        description="User name of this one identity (an edge agent: its id), if the broker "
        "requires one. A settings file shared by several services uses `credentials_dir`.",
    )
    password_file: PasswordFile | None = Field(None, description="File holding the password.")
    credentials_dir: ConfigPath | None = Field(
        None,
        description="Folder written by `villagewatch broker credentials`: each client signs "
        "in with its client id as user name (`ingest.client_id`, `detect.client_id`, an edge "
        "agent's id) and the password in `<client id>.password` there. The shipped broker "
        "binds client ids to user names (docs/broker.md). Instead of username/password_file.",
    )
    tls: TlsSettings | None = Field(None, description="Use TLS; unset means plain TCP.")
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keepalive, seconds.")

    @model_validator(mode="after")
    def _one_way_to_sign_in(self) -> MqttSettings:
        if self.credentials_dir is not None and (
            self.username is not None or self.password_file is not None
        ):
            raise ValueError(
                "set credentials_dir (each client signs in as its client id) or "
                "username and password_file, not both"
            )
        if self.password_file is not None and self.username is None:
            raise ValueError("password_file needs a username")
        return self

    def login(self, client_id: str) -> tuple[str, Path | None] | None:
        """User name and password file a client with ``client_id`` signs in with; None:
        anonymous."""
        if self.credentials_dir is not None:
            return client_id, identity_password_file(self.credentials_dir, client_id)
        if self.username is not None:
            return self.username, self.password_file
        return None


def identity_password_file(folder: Path, identity: str) -> Path:
    """Where ``villagewatch broker credentials`` keeps the password of ``identity``."""
    return folder / f"{identity}.password"
