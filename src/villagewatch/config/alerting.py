"""The settings file's ``alerts`` section: the alert engine, how each kind of alert lives, and
where notifications go (the channels and town teams of :mod:`~villagewatch.config.teams`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, HttpUrl, field_validator

from villagewatch.config.fields import Port, TimeZoneName
from villagewatch.config.paths import ConfigPath
from villagewatch.config.teams import ChannelSettings, Team
from villagewatch.contract import Identifier, StrictModel

__all__ = ["AlertKindSettings", "AlertsSettings"]


class AlertKindSettings(StrictModel):
    """How alerts of one kind (``level``, ``forced_open``, ``device_offline`` …) live."""

    pending_s: float = Field(
        0, ge=0, le=86400, description="Stay pending (shown, not notified) this long before firing."
    )
    close_by_hand: bool = Field(
        False, description="A clear does not resolve the alert: a person closes it."
    )


class AlertsSettings(StrictModel):
    """The alert engine: where alerts live and how each kind behaves."""

    state_path: ConfigPath = Field(
        Path("var/alerts.db"),
        validate_default=True,
        description="SQLite file of alerts, their audit log and notes.",
    )
    detect_state_paths: list[ConfigPath] = Field(
        default_factory=list,
        description="Detect state files whose transitions become alerts (one per detect "
        "process); empty: `detect.state_path`. Not with `relational.kind: postgres`: the "
        "transitions are then read from the `detect` schema.",
    )
    poll_s: float = Field(
        0.2, gt=0, le=10, description="How often new transitions and pending alerts are checked."
    )
    kinds: dict[Identifier, AlertKindSettings] = Field(
        default_factory=dict,
        description="Per alert kind; forced doors, tamper and SOS always need a person to close.",
    )
    channels: dict[Identifier, ChannelSettings] = Field(
        default_factory=dict,
        description="Where notifications go, by id; teams name them. `kind`: webhook, "
        "dingtalk, wecom, feishu, email.",
    )
    towns: dict[Identifier, Team] = Field(
        default_factory=dict, description="The team of each town (alerts escalate to it last)."
    )
    escalate_after_s: float = Field(
        900, gt=0, description="An alert not acknowledged this long goes one place up, and again."
    )
    group_wait_s: float = Field(
        30,
        ge=0,
        description="Alerts of one kind for one place within this window go out as one "
        "message (a digest); red alerts go at once.",
    )
    flap_count: int = Field(
        4, ge=2, description="An alert that fires this many times within flap_window_s…"
    )
    flap_window_s: float = Field(
        600, gt=0, description="…is one flapping alert until it stays clear this long."
    )
    notify_resolved: bool = Field(True, description="Tell the team when an alert is resolved.")
    disk_reserve_mb: float = Field(
        64,
        ge=0,
        description="Space kept in a file beside the alert store and given back when the disk "
        "is full, so alerts are still recorded and handled (0: none).",
    )
    locale: Literal["zh", "en"] = Field(
        "zh",
        description="Language of alert texts, kinds and detectors in the CLI and reports "
        "(`--lang` overrides it); each channel has its own `locale`.",
    )
    time_zone: TimeZoneName = Field(
        "Asia/Shanghai",
        description="The deployment's local time zone (an IANA name such as Asia/Shanghai or "
        "Europe/Berlin): recurring silences repeat at its wall-clock times, summer time "
        "included (a silence keeps the zone it was made in); the monthly report's months and "
        "days, and the times the command line prints, are in it.",
    )
    metrics_port: Port | None = Field(
        None, description="Serve Prometheus metrics on 127.0.0.1:<port>; unset: don't."
    )
    console_url: HttpUrl | None = Field(
        None,
        description="The console's address as the people told reach it (https://vw.example.cn, "
        "or with the path a reverse proxy serves it under): DingTalk and WeCom messages then "
        "link each alert to <console_url>/console/#alert/<id>, which opens it on a phone after "
        "one login. Unset: messages carry no link.",
    )

    @field_validator("console_url")
    @classmethod
    def _plain_address(cls, url: HttpUrl | None) -> HttpUrl | None:
        if url is not None and (url.query or url.fragment):
            raise ValueError(
                f"{url} has a ?query or #fragment: give the console's address alone, such as "
                "https://vw.example.cn"
            )
        return url
