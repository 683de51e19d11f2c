"""``villagewatch alerts run``: detect's transitions become alerts, pending alerts fire.

Detect appends each transition it decides to its transition log (an outbox in
its database, :mod:`villagewatch.transitions`) before it acknowledges the
messages behind it. The engine reads every such log after its cursor and
applies each transition to the :class:`~villagewatch.alerts.store.AlertStore`,
moving that log's cursor in the same transaction: a crash re-reads at most
what was not yet applied, and a transition applied twice changes nothing anyway.

The logs are detect's SQLite files (one per detect process), or on PostgreSQL the one
``detect`` schema all detect processes write (:func:`~villagewatch.db.configured.
transition_sources`). There the engine also listens for detect's ``NOTIFY`` and reads at
once; the poll every ``poll_s`` stays, so a lost wake-up only delays a transition.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path

from villagewatch.alerts.lifecycle import AlertPolicy
from villagewatch.alerts.metrics import AlertMetrics
from villagewatch.alerts.notify import Notifier
from villagewatch.alerts.routing import Router
from villagewatch.alerts.store import AlertStore
from villagewatch.config import AlertsSettings, Deployment
from villagewatch.db.database import (
    Database,
    Location,
    PostgresLocation,
    describe_location,
    open_database,
)
from villagewatch.db.sqlite import DEFAULT_BUSY_TIMEOUT_S
from villagewatch.db.transition_log import (
    WAKE_CHANNEL,
    DatabaseTransitionLog,
    open_transition_log,
)
from villagewatch.errors import SchemaRefused, StoreUnavailable
from villagewatch.runtime.steadyclock import SteadyClock
from villagewatch.runtime.waiting import first
from villagewatch.transitions import LoggedTransition, TransitionLog, UnreadableTransition

__all__ = ["AlertEngine", "notifier_for"]

log = logging.getLogger(__name__)

_BATCH = 500
_Item = tuple[LoggedTransition, AlertPolicy]


class AlertEngine:
    """Feeds the alert store from detect's transition logs."""

    def __init__(
        self,
        *,
        settings: AlertsSettings,
        store: AlertStore,
        sources: Sequence[Location],
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
        metrics: AlertMetrics | None = None,
        clock: SteadyClock | None = None,
    ) -> None:
        """``sources``: where detect's transitions are
        (:func:`~villagewatch.db.configured.transition_sources`); ``clock``: the time pending,
        escalation and flap timers go by (default: a
        :class:`~villagewatch.runtime.steadyclock.SteadyClock` of its own)."""
        self._settings = settings
        self._clock = clock or SteadyClock()
        self._metrics = metrics or AlertMetrics(store)
        self._applied = self._metrics.transitions
        self._store = store
        self._sources = list(sources)
        self._busy_timeout_s = busy_timeout_s
        self._opened: dict[PostgresLocation, Database] = {}
        self.use(settings)
        self._missing: set[Path] = set()

    def use(self, settings: AlertsSettings) -> None:
        """How each kind of alert lives, from ``settings`` (at start, and when the config
        changes: the next transitions go by it)."""
        count, window = settings.flap_count, settings.flap_window_s
        self._policies = {
            kind: AlertPolicy(k.pending_s, k.close_by_hand, count, window)
            for kind, k in settings.kinds.items()
        }
        self._default = AlertPolicy(flap_count=count, flap_window_s=window)

    def policy(self, kind: str) -> AlertPolicy:
        """How alerts of ``kind`` live."""
        return self._policies.get(kind, self._default)

    def pump(self, now_ms: int) -> int:
        """Apply what detect recorded since the last call; returns how many transitions."""
        done = 0
        for source in self._sources:
            if isinstance(source, PostgresLocation):
                done += self._pump_log(_cursor_name(source), self._log(source), now_ms)
            else:
                done += self._pump_file(source, now_ms)
        self._store.tick(now_ms)
        return done

    def _log(self, location: PostgresLocation) -> DatabaseTransitionLog:
        """Detect's schema, opened once (a server that is down: tried again next pass). Opened
        with detect's migrations, so an engine that starts first finds the tables made."""
        from villagewatch.detect.store import MIGRATIONS  # detect's schema, not the engine's

        db = self._opened.get(location)
        if db is None:
            db = self._opened[location] = open_database(
                location, name="detect state", migrations=MIGRATIONS,
                busy_timeout_s=self._busy_timeout_s,
            )  # fmt: skip
        return DatabaseTransitionLog(db)

    def close(self) -> None:
        """Close the databases the engine opened (detect's schema on PostgreSQL)."""
        opened, self._opened = self._opened, {}
        for db in opened.values():
            db.close()

    def _pump_file(self, path: Path, now_ms: int) -> int:
        if not path.exists():
            if path not in self._missing:
                log.warning("No detect state at %s yet; waiting for it", path)
                self._missing.add(path)
            return 0
        self._missing.discard(path)
        with open_transition_log(path) as transitions:
            return self._pump_log(str(path), transitions, now_ms)

    def _pump_log(self, name: str, transitions: TransitionLog, now_ms: int) -> int:
        done = 0
        while True:
            records = transitions.read_after(self._store.cursor(name), _BATCH)
            items: list[_Item] = []
            for record in records:
                match record:
                    case LoggedTransition():
                        items.append((record, self.policy(record.transition.key.kind)))
                    case UnreadableTransition():
                        self._apply(name, items, now_ms)  # in order: what came before first
                        items = []
                        why = f"cannot read it: {record.problem}"
                        self._set_aside(name, record.position, record.id, why, now_ms)
            self._apply(name, items, now_ms)
            done += len(records)
            if len(records) < _BATCH:
                return done

    def _apply(self, name: str, items: list[_Item], now_ms: int) -> None:
        """Apply ``items`` in one transaction (the cursor moved with it); if that fails for
        any reason but an unavailable store, one by one, setting aside the ones that fail."""
        if not items:
            return
        try:
            self._store.apply_many(
                [(r.transition, r.id, p) for r, p in items],
                now_ms,
                source=(name, items[-1][0].position),
            )
        except StoreUnavailable:
            raise
        except Exception:  # noqa: BLE001 - supervisor: find the one that fails
            for r, p in items:
                try:
                    self._store.apply_many(
                        [(r.transition, r.id, p)], now_ms, source=(name, r.position)
                    )
                except StoreUnavailable:
                    raise
                except Exception as exc:  # noqa: BLE001 - supervisor: set aside, go on
                    self._set_aside(name, r.position, r.id, f"applying it failed: {exc!r}", now_ms)
                else:
                    self._applied.inc()
            return
        self._applied.inc(len(items))

    def _set_aside(self, name: str, position: int, tid: str, why: str, now_ms: int) -> None:
        self._metrics.failed.inc()
        log.error(
            "Transition %.200s (row %d of %s) set aside, the rest go on: %s",
            tid, position, name, why,
        )  # fmt: skip
        self._store.set_aside((name, position), tid, why, now_ms)

    async def run(self, stop: asyncio.Event) -> None:
        """Pump every ``poll_s`` until ``stop``; a store that is busy is retried, not fatal."""
        log.info("Alert engine reading %s", ", ".join(map(describe_location, self._sources)))
        woken = asyncio.Event()
        listeners: list[asyncio.Task[None]] = []
        if wakers := [s for s in self._sources if isinstance(s, PostgresLocation)]:
            from villagewatch.db.wakeup import listen  # psycopg: the postgres extra

            listeners = [asyncio.create_task(listen(s, WAKE_CHANNEL, woken)) for s in wakers]
        try:
            await self._loop(stop, woken)
        finally:
            for task in listeners:
                task.cancel()
            await asyncio.gather(*listeners, return_exceptions=True)
            await asyncio.to_thread(self.close)

    async def _loop(self, stop: asyncio.Event, woken: asyncio.Event) -> None:
        passes = unavailable = 0
        while not stop.is_set():
            passes += 1
            if passes % 300 == 1:  # a minute at the default poll: the disk reserve back
                with contextlib.suppress(OSError):
                    await asyncio.to_thread(self._store.maintain)
            try:
                await asyncio.to_thread(self.pump, self._clock.now_ms())
                if unavailable:
                    log.info("Reading and applying transitions again after %d failed passes",
                             unavailable)  # fmt: skip
                unavailable = 0
            except (StoreUnavailable, SchemaRefused) as exc:  # a newer detect: until upgraded
                unavailable += 1
                if unavailable % 300 == 1:  # a server away for minutes: not a line per pass
                    log.warning("%s; retrying every %g s", exc, self._settings.poll_s)
            except Exception:  # supervisor: the engine must never stop for good
                log.exception(
                    "Alert engine pass failed; trying again in %s s", self._settings.poll_s
                )
            with contextlib.suppress(TimeoutError):  # a wake-up, a stop or the poll
                await asyncio.wait_for(first(stop.wait(), woken.wait()), self._settings.poll_s)
            woken.clear()  # before the pass: a wake-up during it is kept for the next


def _cursor_name(location: PostgresLocation) -> str:
    """The engine's cursor in a PostgreSQL log: the schema alone, so a changed DSN (a new
    host, a replica promoted) keeps the cursor."""
    return f"postgres:{location.schema}"


def notifier_for(deployment: Deployment) -> Notifier:
    """Routing and notification rules of a deployment."""
    alerts = deployment.settings.alerts
    return Notifier(Router(deployment.villages, alerts.towns), alerts)
