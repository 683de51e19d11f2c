"""The email channel against a real SMTP server (aiosmtpd) on loopback: delivered once with
login, retried through temporary and permanent refusals and a server that is down."""

from __future__ import annotations

import asyncio
import email
import email.policy
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from villagewatch.alerts.channels import ChannelError, EmailSender
from villagewatch.config.teams import EmailChannel
from villagewatch.runtime.ports import free_port

from .test_notifications import World
from .webhook import Recorder


@dataclass
class Mailbox:
    """What the server accepted; ``answer(n)`` decides the n-th DATA (None: accept)."""

    answer: Callable[[int], str | None] = lambda _n: None
    refuse: set[str] = field(default_factory=set)
    logins: list[tuple[str, str]] = field(default_factory=list)
    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    _n: Iterator[int] = field(default_factory=itertools.count)

    async def handle_RCPT(  # noqa: N802 — aiosmtpd's hook name
        self, server: Any, session: Session, envelope: Envelope, address: str, _opts: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: Any, session: Session, envelope: Envelope
    ) -> str:
        reply = self.answer(next(self._n))
        if reply is not None:
            return reply
        assert isinstance(envelope.content, bytes)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=data.password == b"s3cret", handled=False)


class SmtpServer:
    def __init__(self, box: Mailbox, port: int) -> None:
        self.box, self.port = box, port
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(
            self.box, hostname="127.0.0.1", port=self.port,
            authenticator=self.box.authenticate, auth_require_tls=False,
        )  # fmt: skip
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(Mailbox(), free_port())
    server.start()
    yield server
    server.stop()


def channel(tmp_path: Path, port: int, **extra: Any) -> EmailChannel:
    password = tmp_path / "smtp-password"
    password.write_text("s3cret\n")
    return EmailChannel.model_validate(
        {
            "kind": "email", "locale": "en", "host": "127.0.0.1", "port": port, "security": "none",
            "username": "alerts", "password_file": str(password),
            "sender": "alerts@town.example", "to": ["grid1@town.example", "duty@town.example"],
        } | extra
    )  # fmt: skip


def failures(w: World, alert: int) -> list[str]:
    return [str(e.detail) for e in w.store.audit(alert) if e.action == "notify_failed"]


def test_an_alert_is_one_email_to_the_list_after_login(
    tmp_path: Path, smtp: SmtpServer, recorder: Recorder
) -> None:
    w = World(tmp_path, recorder, channels={"grid": channel(tmp_path, smtp.port)}, group_wait_s=0)
    w.event("fire", "d-007", "red")
    w.advance(5)
    (msg,) = smtp.box.messages
    assert smtp.box.logins == [("alerts", "s3cret")]
    assert smtp.box.recipients == [["grid1@town.example", "duty@town.example"]]
    assert msg["Subject"] == "[红色 red] #1 d-007 level red — 第一网格"
    assert msg["From"] == "alerts@town.example"
    assert msg.get_content().strip() == "[红色 red] #1 d-007 level red — 第一网格"
    w.advance(3600, step_s=60)
    assert len(smtp.box.messages) == 1, "sent once"


@pytest.mark.parametrize(
    ("answers", "refuse"),
    [
        pytest.param({0: "451 4.3.0 try again later", 1: "421 4.7.0 too busy"}, set(), id="temporary"),
        pytest.param({0: "554 5.6.0 message rejected"}, set(), id="permanent-then-fixed"),
        pytest.param({}, {"grid1@town.example", "duty@town.example"}, id="all-recipients-refused"),
    ],
)  # fmt: skip
def test_refusals_are_retried_recorded_and_never_lost(
    tmp_path: Path, smtp: SmtpServer, recorder: Recorder, answers: dict[int, str], refuse: set[str]
) -> None:
    smtp.box.answer = answers.get
    smtp.box.refuse = set(refuse)
    w = World(tmp_path, recorder, channels={"grid": channel(tmp_path, smtp.port)}, group_wait_s=0)
    w.event("fire", "d-001", "red")
    w.advance(1)
    assert smtp.box.messages == []
    assert failures(w, 1), "the refusal is in the alert's history"
    smtp.box.refuse.clear()  # the postmaster fixes the mailboxes
    w.advance(800, step_s=5)  # before escalation at 900 s
    assert len(smtp.box.messages) == 1, "delivered once"
    assert not w.store.due_notifications(w.now + 10**9), "nothing left queued"
    assert len(failures(w, 1)) == max(len(answers), 1)


def test_a_server_that_is_down_gets_the_message_when_it_is_back(
    tmp_path: Path, smtp: SmtpServer, recorder: Recorder
) -> None:
    smtp.stop()
    w = World(tmp_path, recorder, channels={"grid": channel(tmp_path, smtp.port)}, group_wait_s=0)
    w.event("fire", "d-002", "orange")
    w.advance(120, step_s=5)
    assert any("Connection" in f or "refused" in f for f in failures(w, 1)), failures(w, 1)
    assert w.metric("villagewatch_alerts_outbox_queued") == 1
    assert w.metric("villagewatch_alerts_outbox_oldest_seconds") > 0
    smtp.start()
    w.advance(700, step_s=5)
    assert len(smtp.box.messages) == 1
    assert w.metric("villagewatch_alerts_outbox_queued") == 0


def test_a_wrong_password_is_a_failure_that_says_so(tmp_path: Path, smtp: SmtpServer) -> None:
    cfg = channel(tmp_path, smtp.port)
    assert cfg.password_file is not None
    cfg.password_file.write_text("wrong\n")
    with pytest.raises(ChannelError, match=r"SMTP 535"):
        asyncio.run(EmailSender(cfg, "grid").send("t", "x", []))
    assert smtp.box.messages == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param({"host": "mail.town.example"}, "in clear to mail.town.example", id="password-in-clear"),
        pytest.param({"password_file": None}, "username and password_file go together", id="no-password"),
        pytest.param({"to": []}, "at least 1 item", id="nobody"),
        pytest.param({"to": ["duty"]}, "should match pattern", id="not-an-address"),
    ],
)  # fmt: skip
def test_email_settings_mistakes_are_refused(
    tmp_path: Path, extra: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        channel(tmp_path, 25, **extra)
