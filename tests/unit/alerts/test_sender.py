"""The alert sender waits what a throttling platform asks (HTTP 429's Retry-After), and
otherwise per the one retry policy."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import httpx
import pytest

from villagewatch.alerts.channels import ChannelError, build_channel, retry_after_s
from villagewatch.alerts.outbox import Queued
from villagewatch.alerts.sender import NotificationSender
from villagewatch.alerts.store import AlertStore
from villagewatch.config.teams import WebhookChannel

NOW_MS = 1_795_000_000_000
NOW_S = NOW_MS / 1000


class _Outbox:
    """The three store methods the sender uses, over one queued notification."""

    def __init__(self, attempts: int = 0) -> None:
        self.queued = [
            Queued(1, 7, "hook", "grid:v/g", "raised", "hook|grid:v/g|fire|raised", "red", "x",
                   attempts)
        ]  # fmt: skip
        self.failed: list[tuple[list[int], int, str, int]] = []

    def due_notifications(self, _now_ms: int) -> list[list[Queued]]:
        return [self.queued]

    def mark_failed(self, ids: list[int], now_ms: int, error: str, next_ms: int) -> None:
        self.failed.append((ids, now_ms, error, next_ms))

    def mark_sent(self, ids: list[int], now_ms: int) -> None:
        raise AssertionError(f"sent {ids} at {now_ms}")


def _send_once(reply: httpx.Response, attempts: int = 0) -> int:
    """One pass of the sender against a webhook answering ``reply``: the next attempt's
    delay in ms."""
    outbox = _Outbox(attempts)

    async def go() -> None:
        transport = httpx.MockTransport(lambda _request: reply)
        async with httpx.AsyncClient(transport=transport) as client:
            settings = WebhookChannel(kind="webhook", url="http://hook.invalid/x")  # type: ignore[arg-type]
            channel = build_channel("hook", settings, client)
            sender = NotificationSender(
                store=cast(AlertStore, outbox), channels={"hook": channel}, now_ms=lambda: NOW_MS
            )
            assert await sender.send_due() == 0

    asyncio.run(go())
    [(_ids, now_ms, _error, next_ms)] = outbox.failed
    return next_ms - now_ms


def test_a_429_is_retried_after_the_time_the_platform_asked() -> None:
    assert _send_once(httpx.Response(429, headers={"Retry-After": "7"})) == 7000
    assert _send_once(httpx.Response(429, headers={"Retry-After": "900"})) == 900_000


def test_a_429_without_a_usable_retry_after_waits_a_minute() -> None:
    assert _send_once(httpx.Response(429)) == 60_000
    assert _send_once(httpx.Response(429, headers={"Retry-After": "soon"})) == 60_000


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("120", 120.0, id="seconds"),
        pytest.param("Thu, 19 Nov 2026 03:08:20 GMT", 100.0, id="http-date"),
        pytest.param("0", 1.0, id="at-once-is-a-second"),
        pytest.param("86400", 3600.0, id="a-day-is-an-hour"),
        pytest.param("Thu, 01 Jan 2026 00:00:00 GMT", 1.0, id="date-in-the-past"),
    ],
)
def test_retry_after_is_read_in_either_form_and_kept_within_bounds(
    header: str, expected: float
) -> None:
    reply = httpx.Response(429, headers={"Retry-After": header})
    assert retry_after_s(reply, now_s=1_795_057_600.0) == pytest.approx(expected)


@pytest.mark.parametrize("attempts", [0, 3, 10])
def test_other_failures_wait_per_the_retry_policy(attempts: int) -> None:
    cap = min(300, 5 * 2**attempts) * 1000
    assert cap / 2 <= _send_once(httpx.Response(500), attempts) <= cap


def test_channel_error_carries_the_wait() -> None:
    async def go() -> Any:
        reply = httpx.Response(429, headers={"Retry-After": "42"})
        async with httpx.AsyncClient(transport=httpx.MockTransport(lambda _r: reply)) as client:
            settings = WebhookChannel(kind="webhook", url="http://hook.invalid/x")  # type: ignore[arg-type]
            await build_channel("hook", settings, client).send("t", "x", [])

    with pytest.raises(ChannelError) as caught:
        asyncio.run(go())
    assert caught.value.retry_after_s == 42
