"""Where notifications go: DingTalk and WeCom group robots, Feishu bots, JSON webhooks, email.

A send succeeds only when the platform says so: HTTP 2xx **and**, for the chat
robots, an ``errcode``/``code`` of 0 in the reply body (they answer errors with
HTTP 200); for email, the SMTP server accepting the message for at least one
recipient. Anything else raises :class:`ChannelError`; the sender keeps the
message and tries again later, longer after a throttling reply or a temporary
(4xx) SMTP answer.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import smtplib
import ssl
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from datetime import UTC
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parsedate_to_datetime
from typing import Any, Protocol

import httpx

from villagewatch.config import read_secret
from villagewatch.config.teams import (
    ChannelSettings,
    DingTalkChannel,
    EmailChannel,
    FeishuChannel,
    WebhookChannel,
    WeComChannel,
)
from villagewatch.errors import VillagewatchError

__all__ = [
    "ChannelError",
    "NotificationChannel",
    "RateLimit",
    "alert_links",
    "build_channel",
    "dingtalk_sign",
    "feishu_sign",
    "retry_after_s",
]

log = logging.getLogger(__name__)

# reply codes that mean "too fast", per platform
_THROTTLED = {130101, 45009, 9499, 11232}
_THROTTLE_WAIT_S = 60.0
"""How long a throttling reply that names no time is waited out."""
_RETRY_AFTER_MAX_S = 3600.0
_MOST_LINKS = 10
"""A digest links this many alerts; the rest are a link to the console's feed."""


class ChannelError(VillagewatchError):
    """A message was not accepted; ``retry_after_s`` when the platform said to slow down."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class NotificationChannel(Protocol):
    """Sends one message."""

    id: str
    rate_per_minute: int

    async def send(self, title: str, text: str, alerts: list[dict[str, Any]]) -> None:
        """Deliver or raise :class:`ChannelError`."""
        ...


class RateLimit:
    """At most ``per_minute`` sends in any 60 s window (a sliding window of send times)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_minute = per_minute
        self._sent: deque[float] = deque()
        self._clock = clock

    def wait_s(self) -> float:
        """How long until a send is allowed (0: now)."""
        now = self._clock()
        while self._sent and self._sent[0] <= now - 60:
            self._sent.popleft()
        if len(self._sent) < self._per_minute:
            return 0.0
        return self._sent[0] + 60 - now

    def took(self) -> None:
        """A send was made (successful or not: the platform counted it)."""
        self._sent.append(self._clock())


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk 加签: base64(HMAC-SHA256(secret, "<timestamp>\\n<secret>")), URL-encoded."""
    digest = hmac.new(
        secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode())


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu: base64(HMAC-SHA256 keyed with "<timestamp>\\n<secret>" over an empty message)."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def retry_after_s(reply: httpx.Response, *, now_s: float | None = None) -> float:
    """How long a throttling reply asks us to wait: its ``Retry-After`` (seconds, or an HTTP
    date), kept between 1 s and 1 h so a bogus header can neither hammer the platform nor park
    alerts for days; a minute when it says nothing usable."""
    value = reply.headers.get("retry-after", "").strip()
    if value.isdigit():
        wait = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return _THROTTLE_WAIT_S
        if when.tzinfo is None:  # an HTTP date is GMT, whether or not it says so
            when = when.replace(tzinfo=UTC)
        wait = when.timestamp() - (time.time() if now_s is None else now_s)
    return min(max(wait, 1.0), _RETRY_AFTER_MAX_S)


def alert_links(console_url: str | None, alerts: list[dict[str, Any]]) -> str:
    """Markdown links that open each alert in the console (``<console_url>/console/#alert/<id>``,
    where the console asks for a login once and then shows that alert), one a line; '' without
    a ``console_url``. Both languages, as the severity tags: a group holds readers of either."""
    if not console_url:
        return ""
    base = f"{console_url.rstrip('/')}/console/"
    lines = [f"[处理告警 #{a['alert']} · open alert #{a['alert']}]({base}#alert/{a['alert']})"
             for a in alerts[:_MOST_LINKS]]  # fmt: skip
    if len(alerts) > _MOST_LINKS:
        more = len(alerts) - _MOST_LINKS
        lines.append(f"[另有 {more} 条 · {more} more in the console]({base})")
    return "\n\n" + "\n\n".join(lines) if lines else ""


class _Http:
    def __init__(self, cid: str, url: str, rate: int, timeout_s: float, client: httpx.AsyncClient):
        self.id, self._url, self.rate_per_minute = cid, url, rate
        self._timeout, self._client = timeout_s, client

    async def _post(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            reply = await self._client.post(url, json=body, timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise ChannelError(f"{self.id}: {type(exc).__name__}: {exc}") from exc
        if reply.status_code == 429:
            raise ChannelError(f"{self.id}: HTTP 429", retry_after_s=retry_after_s(reply))
        if not reply.is_success:
            raise ChannelError(f"{self.id}: HTTP {reply.status_code}")
        try:
            data = reply.json()
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def _check_code(self, data: dict[str, Any], *names: str) -> None:
        for name in names:
            code = data.get(name)
            if code is not None and code != 0:
                why = data.get("errmsg") or data.get("msg") or ""
                retry = _THROTTLE_WAIT_S if code in _THROTTLED else None
                raise ChannelError(f"{self.id}: {name} {code} {why}".strip(), retry_after_s=retry)


class WebhookSender(_Http):
    """POST ``{"title", "text", "alerts"}``; any 2xx is success."""

    async def send(self, title: str, text: str, alerts: list[dict[str, Any]]) -> None:
        """Deliver."""
        await self._post(self._url, {"title": title, "text": text, "alerts": alerts})


class DingTalkSender(_Http):
    """Markdown to a DingTalk group robot, signed when there is a secret; each alert linked to
    the console when its address is known."""

    def __init__(
        self, cfg: DingTalkChannel, cid: str, client: httpx.AsyncClient, console_url: str | None
    ) -> None:
        super().__init__(cid, str(cfg.url), cfg.rate_per_minute, cfg.timeout_s, client)
        self._secret = read_secret(cfg.secret_file) if cfg.secret_file else None
        self._console_url = console_url

    async def send(self, title: str, text: str, alerts: list[dict[str, Any]]) -> None:
        """Deliver."""
        url = self._url
        if self._secret:
            ts = time.time_ns() // 1_000_000
            url += f"&timestamp={ts}&sign={dingtalk_sign(self._secret, ts)}"
        text += alert_links(self._console_url, alerts)
        body = {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
        self._check_code(await self._post(url, body), "errcode")


class WeComSender(_Http):
    """Markdown to a WeCom group robot; each alert linked to the console when its address is
    known."""

    def __init__(
        self, cfg: WeComChannel, cid: str, client: httpx.AsyncClient, console_url: str | None
    ) -> None:
        super().__init__(cid, str(cfg.url), cfg.rate_per_minute, cfg.timeout_s, client)
        self._console_url = console_url

    async def send(self, title: str, text: str, alerts: list[dict[str, Any]]) -> None:
        """Deliver."""
        content = f"**{title}**\n{text}{alert_links(self._console_url, alerts)}"
        body = {"msgtype": "markdown", "markdown": {"content": content}}
        self._check_code(await self._post(self._url, body), "errcode")


class FeishuSender(_Http):
    """Text to a Feishu custom bot, signed when there is a secret."""

    def __init__(self, cfg: FeishuChannel, cid: str, client: httpx.AsyncClient) -> None:
        super().__init__(cid, str(cfg.url), cfg.rate_per_minute, cfg.timeout_s, client)
        self._secret = read_secret(cfg.secret_file) if cfg.secret_file else None

    async def send(self, title: str, text: str, alerts: list[dict[str, Any]]) -> None:  # noqa: ARG002
        """Deliver."""
        body: dict[str, Any] = {"msg_type": "text", "content": {"text": f"{title}\n{text}"}}
        if self._secret:
            ts = int(time.time())
            body.update(timestamp=str(ts), sign=feishu_sign(self._secret, ts))
        self._check_code(await self._post(self._url, body), "code", "StatusCode")


class EmailSender:
    """One email per message to the configured list, through SMTP (stdlib, in a thread)."""

    def __init__(self, cfg: EmailChannel, cid: str) -> None:
        self.id, self.rate_per_minute, self._cfg = cid, cfg.rate_per_minute, cfg
        self._password = read_secret(cfg.password_file) if cfg.password_file else None

    async def send(self, title: str, text: str, alerts: list[dict[str, Any]]) -> None:  # noqa: ARG002
        """Deliver."""
        msg = EmailMessage()
        msg["Subject"] = title
        msg["From"] = self._cfg.sender
        msg["To"] = ", ".join(self._cfg.to)
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = make_msgid("villagewatch")
        msg.set_content(text)
        await asyncio.to_thread(self._deliver, msg)

    def _deliver(self, msg: EmailMessage) -> None:
        cfg = self._cfg
        try:
            if cfg.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    cfg.host, cfg.port, timeout=cfg.timeout_s, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s)
            with smtp:
                if cfg.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if cfg.username and self._password is not None:
                    smtp.login(cfg.username, self._password)
                refused = smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            raise ChannelError(
                f"{self.id}: every recipient refused: {_refusals(exc.recipients)}"
            ) from exc
        except smtplib.SMTPResponseException as exc:
            why = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            temporary = 400 <= exc.smtp_code < 500
            raise ChannelError(
                f"{self.id}: SMTP {exc.smtp_code} {why}", retry_after_s=60 if temporary else None
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise ChannelError(f"{self.id}: {type(exc).__name__}: {exc}") from exc
        if refused:  # delivered to the others: sending again would repeat it to them
            log.warning("Email %s was refused for %s", msg["Message-ID"], _refusals(refused))


def _refusals(recipients: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{to} ({code} {why.decode(errors='replace')})" for to, (code, why) in recipients.items()
    )


def build_channel(
    cid: str, cfg: ChannelSettings, client: httpx.AsyncClient, *, console_url: str | None = None
) -> NotificationChannel:
    """The sender for one configured channel; DingTalk and WeCom messages link their alerts to
    the console at ``console_url`` (``alerts.console_url``) when it is given."""
    match cfg:
        case WebhookChannel():
            return WebhookSender(cid, str(cfg.url), cfg.rate_per_minute, cfg.timeout_s, client)
        case DingTalkChannel():
            return DingTalkSender(cfg, cid, client, console_url)
        case WeComChannel():
            return WeComSender(cfg, cid, client, console_url)
        case FeishuChannel():
            return FeishuSender(cfg, cid, client)
        case EmailChannel():
            return EmailSender(cfg, cid)
