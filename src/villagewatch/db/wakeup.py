"""A wake-up over PostgreSQL: ``LISTEN`` on a channel, an asyncio event set on each ``NOTIFY``.

Only a wake-up, never the hand-off itself: what is notified is in a table already, and the
listener's owner polls that table anyway. A notification lost while the connection was down
costs a poll's delay, not the data — so the listener sets its event again on each
(re)connection, and a reconnection is tried every few seconds while the server is away.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import psycopg
from psycopg import sql as pgsql

from villagewatch.db.database import PostgresLocation
from villagewatch.db.postgres import describe

__all__ = ["listen"]

log = logging.getLogger(__name__)

# a cut connection that says nothing is noticed by TCP keepalives within about 25 s
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
               "keepalives_count": 3}  # fmt: skip


async def listen(
    location: PostgresLocation, channel: str, woken: asyncio.Event, *, retry_s: float = 2
) -> None:
    """Set ``woken`` on each notification on ``channel`` and on each (re)connection, until
    cancelled; a lost connection is opened again after ``retry_s``."""
    extra: dict[str, Any] = dict(_KEEPALIVES)
    if location.password is not None:
        extra["password"] = location.password
    failures = 0
    while True:
        try:
            conn = await psycopg.AsyncConnection.connect(
                location.dsn, autocommit=True, connect_timeout=5,
                application_name="villagewatch wake-up", **extra,
            )  # fmt: skip
            async with conn:
                await conn.execute(pgsql.SQL("LISTEN {}").format(pgsql.Identifier(channel)))
                if failures:
                    log.info("Listening on %s again", describe(location.dsn))
                failures = 0
                woken.set()  # what was notified while not listening: the next read finds it
                async for _ in conn.notifies():
                    woken.set()
        except psycopg.Error as exc:
            failures += 1
            if failures == 1:
                log.warning(
                    "No wake-ups from %s (%s): polling only until it is back",
                    describe(location.dsn), " ".join(str(exc).split()),
                )  # fmt: skip
        await asyncio.sleep(retry_s)
