"""``villagewatch alerts run``: detect's transitions become alerts, pending alerts fire.

Detect records each transition it decides in its state file (append-only, in
``rowid`` order) before it acknowledges the messages behind it — an outbox.
The engine reads every such file from where it left off and applies each
transition to the :class:`~villagewatch.alerts.store.AlertStore`, moving that
file's cursor in the same transaction: a crash re-reads at most what was not
yet applied, and a transition applied twice changes nothing anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from villagewatch.alerts.lifecycle import AlertPolicy
from villagewatch.alerts.metrics import AlertMetrics
from villagewatch.alerts.notify import Notifier
from villagewatch.alerts.routing import Router
from villagewatch.alerts.store import AlertStore
from villagewatch.config import AlertsSettings, Deployment
from villagewatch.detectors import AlertKey, Severity, Transition
from villagewatch.errors import StoreUnavailable
from villagewatch.runtime.steadyclock import SteadyClock
from villagewatch.runtime.waiting import sleep_or_stop

__all__ = ["AlertEngine", "notifier_for"]

log = logging.getLogger(__name__)

_BATCH = 500
_Item = tuple[int, str, Transition, AlertPolicy]
"""(position in detect's file, transition id, transition, policy)."""


class AlertEngine:
    """Feeds the alert store from detect's state files."""

    def __init__(
        self,
        *,
        settings: AlertsSettings,
        store: AlertStore,
        metrics: AlertMetrics | None = None,
        clock: SteadyClock | None = None,
    ) -> None:
        """``clock``: the time pending, escalation and flap timers go by (default: a
        :class:`~villagewatch.runtime.steadyclock.SteadyClock` of its own)."""
        self._settings = settings
        self._clock = clock or SteadyClock()
        self._metrics = metrics or AlertMetrics(store)
        self._applied = self._metrics.transitions
        self._store = store
        self._sources = list(settings.detect_state_paths)
        count, window = settings.flap_count, settings.flap_window_s
        self._policies = {
            kind: AlertPolicy(k.pending_s, k.close_by_hand, count, window)
            for kind, k in settings.kinds.items()
        }
        self._default = AlertPolicy(flap_count=count, flap_window_s=window)
        self._missing: set[Path] = set()

    def policy(self, kind: str) -> AlertPolicy:
        """How alerts of ``kind`` live."""
        return self._policies.get(kind, self._default)

    def pump(self, now_ms: int) -> int:
        """Apply what detect recorded since the last call; returns how many transitions."""
        done = 0
        for path in self._sources:
            done += self._pump_one(path, now_ms)
        self._store.tick(now_ms)
        return done

    def _pump_one(self, path: Path, now_ms: int) -> int:
        if not path.exists():
            if path not in self._missing:
                log.warning("No detect state at %s yet; waiting for it", path)
                self._missing.add(path)
            return 0
        self._missing.discard(path)
        name = str(path)
        done = 0
        conn = sqlite3.connect(path, timeout=10)
        try:
            while True:
                rows = conn.execute(
                    "SELECT rowid, id, detector, village, subject, kind, action, severity, at_ms,"
                    " message, details, historical, needs_close FROM transitions"
                    " WHERE rowid > ? ORDER BY rowid LIMIT ?",
                    (self._store.cursor(name), _BATCH),
                ).fetchall()
                items: list[_Item] = []
                for row in rows:
                    try:
                        items.append(self._item(row))
                    except Exception as exc:  # noqa: BLE001 - supervisor: set aside, go on
                        self._apply(name, items, now_ms)  # in order: what came before first
                        items = []
                        self._set_aside(name, row, f"cannot read it: {exc!r}", now_ms)
                self._apply(name, items, now_ms)
                done += len(rows)
                if len(rows) < _BATCH:
                    return done
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"cannot read detect's transitions in {path}: {exc}") from exc
        finally:
            conn.close()

    def _item(self, row: tuple[object, ...]) -> _Item:
        position, tid, transition = _transition(row)
        return position, tid, transition, self.policy(transition.key.kind)

    def _apply(self, name: str, items: list[_Item], now_ms: int) -> None:
        """Apply ``items`` in one transaction (the cursor moved with it); if that fails for
        any reason but an unavailable store, one by one, setting aside the ones that fail."""
        if not items:
            return
        try:
            self._store.apply_many(
                [(t, tid, p) for _, tid, t, p in items], now_ms, source=(name, items[-1][0])
            )
        except StoreUnavailable:
            raise
        except Exception:  # noqa: BLE001 - supervisor: find the one that fails
            for position, tid, t, p in items:
                try:
                    self._store.apply_many([(t, tid, p)], now_ms, source=(name, position))
                except StoreUnavailable:
                    raise
                except Exception as exc:  # noqa: BLE001 - supervisor: set aside, go on
                    self._set_aside(name, (position, tid), f"applying it failed: {exc!r}", now_ms)
                else:
                    self._applied.inc()
            return
        self._applied.inc(len(items))

    def _set_aside(self, name: str, row: Sequence[object], why: str, now_ms: int) -> None:
        position, tid = row[0], row[1]
        assert isinstance(position, int)
        self._metrics.failed.inc()
        log.error(
            "Transition %.200s (row %d of %s) set aside, the rest go on: %s",
            tid, position, name, why,
        )  # fmt: skip
        self._store.set_aside((name, position), str(tid), why, now_ms)

    async def run(self, stop: asyncio.Event) -> None:
        """Pump every ``poll_s`` until ``stop``; a store that is busy is retried, not fatal."""
        log.info("Alert engine reading %s", ", ".join(map(str, self._sources)))
        passes = 0
        while not stop.is_set():
            passes += 1
            if passes % 300 == 1:  # a minute at the default poll: the disk reserve back
                with contextlib.suppress(OSError):
                    await asyncio.to_thread(self._store.maintain)
            try:
                await asyncio.to_thread(self.pump, self._clock.now_ms())
            except StoreUnavailable as exc:
                log.warning("%s; retrying", exc)
            except Exception:  # supervisor: the engine must never stop for good
                log.exception(
                    "Alert engine pass failed; trying again in %s s", self._settings.poll_s
                )
            await sleep_or_stop(stop, self._settings.poll_s)


def _transition(row: tuple[object, ...]) -> tuple[int, str, Transition]:
    (position, tid, detector, village, subject, kind, action, severity, at_ms, message,
     details, historical, needs_close) = row  # fmt: skip
    assert isinstance(position, int)
    assert isinstance(tid, str)
    assert isinstance(at_ms, int)
    assert action in ("fire", "update", "clear")
    key = AlertKey(str(detector), str(village), str(subject), str(kind))
    transition = Transition(
        key, action, Severity(str(severity)), at_ms, str(message), json.loads(str(details)),
        bool(historical), bool(needs_close),
    )  # fmt: skip
    return position, tid, transition


def notifier_for(deployment: Deployment) -> Notifier:
    """Routing and notification rules of a deployment."""
    alerts = deployment.settings.alerts
    return Notifier(Router(deployment.villages, alerts.towns), alerts)
