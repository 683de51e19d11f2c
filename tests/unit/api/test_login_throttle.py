"""Password guessing is slowed, never turned against the real user: attempts are counted before
the password is checked, per address and per name; a name's failures delay its next check
(in turn, so parallel guesses wait too) while the right password from elsewhere still gets
in; passwords are checked on their own small pool, so a login flood leaves the console be."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest

from tests.unit.api.conftest import PASSWORD
from tests.unit.db.sqlite_writer import BOUND_S
from villagewatch.api.app import create_app
from villagewatch.api.context import ApiContext
from villagewatch.api.throttle import LoginRefused, LoginThrottle, PasswordPool, PoolFull
from villagewatch.api.users import Session


async def _logins(ctx: ApiContext, attempts: list[tuple[str, str, str]]) -> list[httpx.Response]:
    """(source address, user, password) logins, all at once, through one app."""
    app = create_app(ctx)

    async def one(source: str, user: str, password: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(source, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            return await c.post("/api/auth/login", json={"user": user, "password": password})

    return list(await asyncio.gather(*(one(*a) for a in attempts)))


def test_thirty_parallel_guesses_from_one_address_are_mostly_refused(ctx: ApiContext) -> None:
    """The outside test's 30 parallel wrong passwords: counted before they are checked, so
    no more than the address's budget is ever checked, and the rest are 429."""
    ctx.logins = LoginThrottle(failures_per_source=10, window_s=300, delay_max_s=0.05)
    replies = asyncio.run(_logins(ctx, [("10.0.0.9", "op", f"guess-{i:04}") for i in range(30)]))
    refused = [r for r in replies if r.status_code == 429]
    checked = [r for r in replies if r.status_code == 401]
    assert len(refused) + len(checked) == 30
    assert len(checked) <= 10 and len(refused) >= 20
    assert all(int(r.headers["retry-after"]) >= 1 for r in refused)
    failed = [r for r in ctx.users.audit_log(user="op") if r.action == "login_failed"]
    assert len(failed) == len(checked)


def test_wrong_guesses_elsewhere_do_not_lock_out_the_duty_operator(ctx: ApiContext) -> None:
    """Ten wrong passwords for 'op' from one address; 'op' with the right one from another
    address gets in (after at most the delay), where five used to block the name for 5 min."""
    ctx.logins = LoginThrottle(failures_per_source=20, window_s=300, delay_max_s=0.2)
    for i in range(10):
        (wrong,) = asyncio.run(_logins(ctx, [("10.0.0.9", "op", f"guess-{i:04}")]))
        assert wrong.status_code == 401
    (right,) = asyncio.run(_logins(ctx, [("10.0.0.1", "op", PASSWORD)]))
    assert right.status_code == 200, right.text


def test_a_names_failures_space_its_checks_out_even_in_parallel() -> None:
    """After the free tries, each failure doubles the wait before the name's next check;
    attempts that arrive together take their turns one delay apart (they cannot all go at
    the end of one wait), from any address, and no turn lies beyond the longest delay."""
    throttle = LoginThrottle(failures_per_source=100, window_s=300, delay_max_s=8)
    now = 1000.0
    for _ in range(3):  # typos are free
        attempt = throttle.admit("10.0.0.9", "op", now)
        assert attempt.wait_s == 0
        throttle.finish(attempt, now, succeeded=False)
    waits = []
    for source in ("10.0.0.9", "10.0.0.8", "10.0.0.7"):
        attempt = throttle.admit(source, "op", now)
        waits.append(attempt.wait_s)
    assert waits == [1, 3, 7]  # 1 s, then 2, then 4 after it: turns one delay apart
    late = throttle.admit("10.0.0.1", "op", now)
    assert late.wait_s == 8, "the right password from elsewhere waits the longest delay at most"
    assert throttle.admit("10.0.0.1", "someone-else", now).wait_s == 0


def test_an_address_with_too_many_failures_or_attempts_at_once_is_refused() -> None:
    throttle = LoginThrottle(failures_per_source=3, window_s=60, delay_max_s=1)
    now = 0.0
    for name in ("a", "b", "c"):
        throttle.finish(throttle.admit("10.0.0.9", name, now), now, succeeded=False)
    with pytest.raises(LoginRefused, match="too many failed logins") as refused:
        throttle.admit("10.0.0.9", "d", now + 1)
    assert refused.value.retry_after_s == pytest.approx(59)
    assert throttle.admit("10.0.0.9", "d", now + 61).wait_s == 0, "the window has passed"
    busy = LoginThrottle(failures_per_source=100, window_s=60, delay_max_s=1)
    held = [busy.admit("10.0.0.5", f"n{i}", now) for i in range(4)]
    with pytest.raises(LoginRefused, match="at once"):
        busy.admit("10.0.0.5", "n9", now)
    busy.finish(held[0], now, succeeded=True)
    busy.admit("10.0.0.5", "n9", now)


def test_what_the_throttle_keeps_is_bounded_and_evicts_the_oldest_only() -> None:
    """A flood of made-up names (or addresses) cannot grow its maps, nor wipe them: the
    name being guessed stays tracked while older ones make room."""
    throttle = LoginThrottle(failures_per_source=10**6, window_s=300, delay_max_s=8, tracked=50)
    now = 0.0
    for _ in range(5):
        throttle.finish(throttle.admit("10.0.0.9", "op", now), now, succeeded=False)
    for i in range(200):
        throttle.finish(throttle.admit(f"10.1.{i}.1", f"made-up-{i}", now), now, succeeded=False)
        if i % 10 == 0:  # the attacker keeps guessing op in between
            throttle.finish(throttle.admit("10.0.0.9", "op", now), now, succeeded=False)
    assert throttle.tracked() <= (50, 50)
    assert throttle.admit("10.0.0.1", "op", now).wait_s > 0, "op's failures were not forgotten"


def test_the_password_pool_refuses_when_full() -> None:
    release = threading.Event()
    pool = PasswordPool(workers=1, waiting=1)

    async def main() -> None:
        first = asyncio.ensure_future(pool.run(release.wait, BOUND_S))
        second = asyncio.ensure_future(pool.run(release.wait, BOUND_S))
        await asyncio.sleep(0)
        with pytest.raises(PoolFull):
            await pool.run(release.wait, BOUND_S)
        release.set()
        assert await first and await second

    asyncio.run(main())
    pool.close()


def test_a_login_flood_leaves_the_console_alone(
    ctx: ApiContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Logins whose password checks hang (a flood on a slow machine) take the password pool
    only: the alert list, in the same process, still answers; logins beyond the pool's queue
    get 503 at once."""
    viewer = ctx.users.login("viewer", PASSWORD, 1, 10**12)
    assert viewer is not None
    release = threading.Event()
    checking = 0
    real_login = ctx.users.login

    def slow_login(*args: Any) -> Session | None:
        nonlocal checking
        checking += 1
        release.wait(BOUND_S)
        return real_login(*args)

    monkeypatch.setattr(ctx.users, "login", slow_login)
    ctx.logins = LoginThrottle(failures_per_source=100, window_s=300, delay_max_s=0.05)
    app = create_app(ctx)

    def client(source: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(source, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://api")

    async def login(i: int) -> httpx.Response:
        async with client(f"10.2.{i}.1") as c:
            return await c.post("/api/auth/login", json={"user": "op", "password": "x" * 9})

    async def flood() -> tuple[bool, httpx.Response, list[httpx.Response]]:
        logins = [asyncio.ensure_future(login(i)) for i in range(16)]
        busy = False
        for _ in range(BOUND_S * 100):  # until the pool is full and the rest were turned away
            busy = checking >= 1 and sum(t.done() for t in logins) >= 1
            if busy:
                break
            await asyncio.sleep(0.01)
        try:
            async with client("10.0.0.1") as c:
                auth = {"Authorization": f"Bearer {viewer.token}"}
                listed = await asyncio.wait_for(c.get("/api/alerts", headers=auth), BOUND_S)
        finally:
            release.set()
        return busy, listed, list(await asyncio.gather(*logins))

    busy, listed, logins = asyncio.run(flood())
    assert busy, "the password checks never filled their pool"
    assert listed.status_code == 200
    statuses = sorted(r.status_code for r in logins)
    assert 503 in statuses and set(statuses) <= {401, 503}, statuses
    assert all(r.headers.get("retry-after") for r in logins if r.status_code == 503)
