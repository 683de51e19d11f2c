"""Who answers for a place, and where their alerts are sent.

A team sits on a place — a grid or micro-grid and the village (in the village
file), a town (in the settings' ``alerts.towns``). Its ``channels`` name
entries of the settings' ``alerts.channels``: a DingTalk or WeCom group robot,
a Feishu bot, a JSON webhook, an email list. Members' phones and names are personal data:
they are shown to people who need them, never put in a notification.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, HttpUrl, StringConstraints, model_validator

from villagewatch.config.paths import PasswordFile, SecretFile
from villagewatch.contract import Identifier, StrictModel

__all__ = [
    "ChannelSettings",
    "DingTalkChannel",
    "EmailChannel",
    "FeishuChannel",
    "Member",
    "Team",
    "TeamRole",
    "WeComChannel",
    "WebhookChannel",
]


class TeamRole(StrEnum):
    """A member's part in the team."""

    LEADER = "leader"
    MEMBER = "member"
    VOLUNTEER = "volunteer"


class Member(StrictModel):
    """One person of a team."""

    id: Identifier = Field(description="User id (the one they log in with).")
    name: str = Field(description="Name (personal data).")
    role: TeamRole = Field(TeamRole.MEMBER, description="leader, member or volunteer.")
    phone: str = Field("", description="Phone number (personal data; never in a notification).")


class Team(StrictModel):
    """The people answering for a place, and the channels that reach them."""

    members: list[Member] = Field(default_factory=list, description="The team.")
    channels: list[Identifier] = Field(
        default_factory=list, description="Ids of `alerts.channels` entries that reach the team."
    )


class _Channel(StrictModel):
    rate_per_minute: int = Field(
        20, ge=1, le=6000, description="Most messages sent in any 60 s (the platform's limit)."
    )
    timeout_s: float = Field(10, gt=0, le=120, description="Time allowed for one request.")
    locale: Literal["zh", "en"] = Field(
        "zh", description="Language of the messages: zh (Chinese) or en (English)."
    )


class WebhookChannel(_Channel):
    """A generic JSON webhook: each message POSTed as JSON; any 2xx is success."""

    kind: Literal["webhook"]
    url: HttpUrl = Field(description="Where messages are POSTed.")
    rate_per_minute: int = Field(600, ge=1, le=6000, description="Most messages in any 60 s.")


class DingTalkChannel(_Channel):
    """A DingTalk group robot; signed when a secret is set (加签)."""

    kind: Literal["dingtalk"]
    url: HttpUrl = Field(description="The robot's webhook (…/robot/send?access_token=…).")
    secret_file: SecretFile | None = Field(
        None, description="File holding the robot's signing secret (SEC…); unset: unsigned."
    )


class WeComChannel(_Channel):
    """A WeCom (企业微信) group robot."""

    kind: Literal["wecom"]
    url: HttpUrl = Field(description="The robot's webhook (…/webhook/send?key=…).")


class FeishuChannel(_Channel):
    """A Feishu (飞书) custom bot; signed when a secret is set."""

    kind: Literal["feishu"]
    url: HttpUrl = Field(description="The bot's webhook (…/bot/v2/hook/…).")
    secret_file: SecretFile | None = Field(
        None, description="File holding the bot's signing secret; unset: unsigned."
    )
    rate_per_minute: int = Field(100, ge=1, le=6000, description="Most messages in any 60 s.")


Address = Annotated[str, StringConstraints(pattern=r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")]
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


class EmailChannel(_Channel):
    """Email through an SMTP server: one message per notification or digest, plain UTF-8 text."""

    kind: Literal["email"]
    host: str = Field(min_length=1, description="SMTP server.")
    port: int = Field(587, ge=1, le=65535, description="SMTP port (587 STARTTLS, 465 TLS, 25).")
    security: Literal["starttls", "tls", "none"] = Field(
        "starttls",
        description="starttls: upgrade after connecting; tls: TLS from the start; none: plain "
        "(a local relay only — refused with credentials to any other host).",
    )
    username: str | None = Field(None, description="Login name; unset: no login.")
    password_file: PasswordFile | None = Field(
        None, description="File holding the password (required with `username`)."
    )
    sender: Address = Field(description="The From address.")
    to: list[Address] = Field(min_length=1, description="Who receives the messages.")
    rate_per_minute: int = Field(30, ge=1, le=6000, description="Most messages in any 60 s.")

    @model_validator(mode="after")
    def _login_is_safe(self) -> EmailChannel:
        if (self.username is None) != (self.password_file is None):
            raise ValueError("username and password_file go together")
        if self.username and self.security == "none" and self.host not in _LOOPBACK:
            raise ValueError(
                f"a password would cross the network in clear to {self.host}: "
                "use security starttls or tls"
            )
        return self


ChannelSettings = Annotated[
    WebhookChannel | DingTalkChannel | WeComChannel | FeishuChannel | EmailChannel,
    Field(discriminator="kind"),
]
