"""``villagewatch edge``: drivers → stamp → outbox (durable) → link (acknowledged) → gone.

Each measurement gets the agent's boot id, a per-boot sequence number (the
centre's dedupe key), a device time and a clock flag (see ``clock.py``), and is
appended to its lane: events to ALARM, telemetry to TELEMETRY, camera snapshots to
EVIDENCE (each sent alone, as the JPEG, on ``…/evidence/<id>``). The outbox is
fsynced every ``outbox.sync_interval_s``; only then can a record be sent.

Sending (``sender.py``), while connected: alarms first; a record leaves the outbox only
when the broker took it, one it refused is held and tried again or dead-lettered. Alarms never
wait for the clock (the centre stamps them); telemetry does.

A full disk stops nothing: a failed sync is retried (the records wait in
memory, bounded), a measurement that cannot be queued is counted and told, and
free space is kept for alarms by the outbox's policy.

Remote config (``remote.py``, applied by ``reconfigure.py``): the centre's retained desired
config is laid over ``edge.yaml``, saved beside the outbox (so a reboot without a link runs it
too), and the drivers whose config changed are restarted; the outcome is reported on
``…/config/reported`` (retained). A refused config changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from villagewatch.contract.control import DesiredConfig
from villagewatch.edge.clock import EdgeClock
from villagewatch.edge.drivers import DriverSettings, build_driver
from villagewatch.edge.lanes import Lane
from villagewatch.edge.link import EdgeLink
from villagewatch.edge.measurement import Driver, Measurement
from villagewatch.edge.metrics import EdgeMetrics
from villagewatch.edge.outbox import Outbox
from villagewatch.edge.reconfigure import Reconfigurer
from villagewatch.edge.remote import RemoteConfigError
from villagewatch.edge.sender import Sender
from villagewatch.edge.settings import EdgeSettings
from villagewatch.edge.status import snapshot
from villagewatch.runtime.metrics_http import metrics_served
from villagewatch.runtime.waiting import sleep_or_stop

__all__ = ["EdgeAgent"]

log = logging.getLogger(__name__)

_COMMIT_S = 0.1
_POLICY_S = 5.0
_STATUS_S = 1.0
_DRIVER_STOP_S = 10.0
_TELL_EVERY_S = 60.0  # a fault that persists is logged again at most this often


def machine_boot() -> str:
    """This machine boot's id: monotonic stamps compare only within one."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


@dataclass(slots=True)
class _Slot:
    """A driver of ``edge.yaml``, running with its own stop (a remote config restarts it)."""

    cfg: DriverSettings
    stop: asyncio.Event
    task: asyncio.Task[None]


class EdgeAgent:
    """One agent: the drivers of its ``edge.yaml`` (and ``extra`` ones, for tests), outbox,
    clock and link."""

    def __init__(
        self,
        settings: EdgeSettings,
        extra: Sequence[Driver] = (),
        *,
        clock: EdgeClock | None = None,
    ) -> None:
        """Touches no file and no network: :meth:`open` (or :meth:`run`) reads the outbox, the
        saved remote config and this machine's boot id, and builds the drivers."""
        self._base = self._s = settings
        self._extra = list(extra)
        self.boot = secrets.token_hex(6)
        self._machine = ""  # this machine boot's id, read by open()
        self._seq = 0
        cfg = settings.outbox
        self.outbox = Outbox(
            cfg.path,
            segment_bytes=cfg.segment_kb * 1024,
            budget_bytes=int(cfg.budget_mb * 1024 * 1024),
            max_age_s=cfg.max_age_h * 3600,
            reserve_bytes=int(cfg.reserve_mb * 1024 * 1024),
            dead_letter_bytes=int(cfg.dead_letter_mb * 1024 * 1024),
        )
        self.clock = clock or EdgeClock(
            sync_file=settings.clock.sync_file, require_sync=settings.clock.require_sync
        )
        # the report is retained: what the agent runs now is state, read whenever the centre
        # looks (as the retained birth is)
        self._remote = Reconfigurer(
            base=settings, remote_file=cfg.path / "remote-config.json", switch=self._switch,
            send_report=lambda body: self.link.publish_own(
                self.link.reported_topic, body, retain=True
            ),
            count_refusal=lambda reason: self.metrics.config_refused.labels(reason).inc(),
        )  # fmt: skip
        self._built: list[Driver] = []
        self._opened = False
        self._slots: list[_Slot] = []
        self._tg: asyncio.TaskGroup | None = None
        self._stop = asyncio.Event()
        self._untrusted_since: float | None = None
        self._clock_told = -math.inf
        self.unwritable = dict.fromkeys(Lane, 0)
        """Measurements that could not be queued in the outbox (a full disk): lost."""
        self.sync_failures = 0
        self.disk_error: str | None = None
        """The last failed write of the outbox (None: writing works)."""
        self._told_at: dict[str, float] = {}
        # the link's birth lists them; known once open() has built the drivers (the link reads
        # this list when it connects, which is after open)
        self._devices: list[str] = []
        self.link = EdgeLink(
            settings.mqtt, agent=settings.id, village=settings.village, boot=self.boot,
            devices=self._devices, on_ack=self._acked, on_up=self._up, on_down=self._down,
            on_config=self._config_message, max_inflight=settings.max_inflight,
        )  # fmt: skip
        self.metrics = EdgeMetrics(self)
        self.sender = Sender(
            self._s, outbox=self.outbox, link=self.link, clock=self.clock, metrics=self.metrics,
            on_disk_error=self._disk_failed,
        )  # fmt: skip

    def open(self) -> None:
        """Open the outbox (every record verified), read this machine boot's id, run the saved
        remote config if it still fits ``edge.yaml``, and build the drivers (one ``edge.yaml``
        alone cannot make is a start error). :meth:`run` calls it; call it first to use the
        agent without running it (tests). Once only: later calls do nothing."""
        if self._opened:
            return
        self._machine = self.sender.machine = machine_boot()
        self.outbox.open()
        saved = self._remote.load_saved()
        if saved is not None:
            self._s, self._built = saved
        else:  # edge.yaml alone: a driver it cannot make is a start error
            self._built = [build_driver(d, self._s.outbox.path) for d in self._s.devices]
        self._devices[:] = sorted({d for drv in [*self._built, *self._extra] for d in drv.devices})
        if self.outbox.corrupt:
            self.metrics.corrupt.inc(self.outbox.corrupt)
        self._opened = True

    @property
    def settings(self) -> EdgeSettings:
        """The settings running now: ``edge.yaml``, with the remote config laid over it."""
        return self._s

    # --- accepting ----------------------------------------------------------------------------

    def accept(self, m: Measurement) -> None:
        """Stamp a measurement and append it to its lane (durable at the next sync). One that
        cannot be queued (a full disk) is counted and told, never raised to the driver."""
        ts, mono = self.clock.stamp(m.at)
        record = {
            "d": m.device, "c": m.channel, "b": self.boot, "s": self._seq, "t": ts,
            "m": mono, "mb": self._machine, "x": m.data,
        }  # fmt: skip
        self._seq += 1
        if m.channel == "evidence":  # the JPEG rides after the header's newline, as it is
            lane, payload = Lane.EVIDENCE, orjson.dumps(record) + b"\n" + m.blob
        else:
            lane = Lane.ALARM if m.channel == "event" else Lane.TELEMETRY
            payload = orjson.dumps(record)
        try:
            self.outbox.append(lane, [payload])
        except (OSError, ValueError) as exc:
            self._unwritable(lane, m.device, exc)
            return
        self.metrics.accepted.labels(lane.name.lower()).inc()

    def _unwritable(self, lane: Lane, device: str, exc: Exception) -> None:
        self.unwritable[lane] += 1
        self.metrics.unwritable.labels(lane.name.lower()).inc()
        if self._may_tell(f"unwritable-{lane.name}"):
            log.error(
                "Could not queue a %s measurement of %s in the outbox (%s): it is lost, %d so "
                "far; %s free on the outbox's disk",
                lane.name.lower(), device, exc, self.unwritable[lane],
                _mb(self.outbox.free_bytes()),
            )  # fmt: skip

    def _may_tell(self, what: str) -> bool:
        """Whether a fault that persists may be logged again now (once a minute at most)."""
        now = time.monotonic()
        if now - self._told_at.get(what, -math.inf) < _TELL_EVERY_S:
            return False
        self._told_at[what] = now
        return True

    # --- the loops ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Open (if not yet), then run drivers, outbox upkeep and the link until ``stop``; then
        sync and close."""
        self.open()
        log.info(
            "Edge agent %s (boot %s) with %d drivers; outbox %s",
            self._s.id, self.boot, len(self._built) + len(self._extra), self._s.outbox.path,
        )  # fmt: skip
        problem = self.clock.problem()
        if problem is not None:
            log.warning("%s", problem)
        try:
            with metrics_served(self.metrics.registry, self._s.metrics_port):
                await self._run(stop)
        finally:
            self._tg = None
            self.outbox.close()

    async def _run(self, stop: asyncio.Event) -> None:
        async with asyncio.TaskGroup() as tg:
            self._tg, self._stop = tg, stop
            self._slots = [
                self._start(cfg, drv) for cfg, drv in zip(self._s.devices, self._built, strict=True)
            ]
            tg.create_task(self._stop_drivers_on(stop))
            for drv in self._extra:
                tg.create_task(self._run_driver(drv, stop))
            tg.create_task(self._syncing(stop))
            tg.create_task(self.sender.run(stop))
            tg.create_task(self.link.run(stop))

    def _start(self, cfg: DriverSettings, drv: Driver) -> _Slot:
        assert self._tg is not None
        stop = asyncio.Event()
        if self._stop.is_set():  # a config applied while the agent stops
            stop.set()
        return _Slot(cfg, stop, self._tg.create_task(self._run_driver(drv, stop)))

    async def _stop_drivers_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        for slot in self._slots:
            slot.stop.set()

    async def _run_driver(self, drv: Driver, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await drv.run(self.accept, stop)
            except Exception:
                log.exception("Driver for %s failed; restarting it in 5 s", ", ".join(drv.devices))
                await sleep_or_stop(stop, 5)
            else:
                return

    async def _syncing(self, stop: asyncio.Event) -> None:
        last_commit = last_policy = last_status = 0.0
        failing = False  # the last sync failed
        while not stop.is_set():
            await sleep_or_stop(stop, self._s.outbox.sync_interval_s)
            try:
                self.outbox.sync()
            except OSError as exc:
                if not failing:
                    last_policy = 0.0  # at once: the policy may free space for what waits
                failing = True
                self.sync_failures += 1
                self._disk_failed("records", exc)
            else:
                if failing and self._may_tell("disk-again"):
                    log.info("The outbox is written again; what waited in memory is on disk")
                failing = False
                self.disk_error = None
            self.sender.wake()
            now = time.monotonic()
            if now - last_commit >= _COMMIT_S:
                try:
                    self.outbox.commit_acks()
                except OSError as exc:
                    self._disk_failed("acknowledgements", exc)
                last_commit = now
            if now - last_policy >= _POLICY_S:
                dropped = self.outbox.enforce()
                if dropped:
                    self.metrics.refresh_drops()
                last_policy = now
            if now - last_status >= _STATUS_S:
                try:
                    self._write_status()
                except OSError as exc:
                    self._disk_failed("status", exc)
                self._tell_clock(now)
                last_status = now

    def _disk_failed(self, what: str, exc: OSError) -> None:
        self.disk_error = f"{what}: {exc}"
        self.metrics.disk_errors.labels(what).inc()
        if self._may_tell(f"disk-{what}"):
            log.error(
                "The outbox could not write its %s (%s); %s free on its disk. Measurements wait "
                "in memory (a segment per lane at most) and are written once there is space",
                what, exc, _mb(self.outbox.free_bytes()),
            )  # fmt: skip

    # --- remote config (``reconfigure.py``) -------------------------------------------------

    @property
    def applied(self) -> DesiredConfig | None:
        """The remote config running now (None: edge.yaml as it is)."""
        return self._remote.applied

    def _config_message(self, payload: bytes) -> None:
        self._remote.offer(payload, self._tg)

    async def _switch(self, settings: EdgeSettings, commit: Callable[[], None]) -> None:
        """Run ``settings``: restart the drivers whose config changed (all new ones are built
        first, so a driver that cannot be made refuses the config and changes nothing; then
        ``commit`` saves it)."""
        changed = [i for i, cfg in enumerate(settings.devices) if cfg != self._slots[i].cfg]
        built: dict[int, Driver] = {}
        for i in changed:
            try:
                built[i] = build_driver(settings.devices[i], self._s.outbox.path)
            except Exception as exc:
                raise RemoteConfigError(f"devices[{i}]: cannot start the driver: {exc}") from exc
        commit()
        for i in changed:
            old = self._slots[i]
            old.stop.set()
            try:
                await asyncio.wait_for(asyncio.shield(old.task), _DRIVER_STOP_S)
            except TimeoutError:
                old.task.cancel()
            self._slots[i] = self._start(settings.devices[i], built[i])
            log.info("Restarted the driver of %s with its new config", ", ".join(built[i].devices))
        self._s = settings
        self.sender.settings = settings

    # --- link events ----------------------------------------------------------------------------

    def _acked(self, mid: int, code: int) -> None:
        self.sender.acked(mid, code)

    def _up(self) -> None:
        self.metrics.connects.inc()
        self.sender.link_up()

    def _down(self) -> None:
        self.sender.link_down()

    # --- status ------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What `villagewatch edge status` shows (``status.py``)."""
        return snapshot(self)

    def _tell_clock(self, now: float) -> None:
        trusted = self.clock.trusted()
        if trusted and self._untrusted_since is not None:
            log.info(
                "The clock is trusted now: what waited leaves with corrected times, marked unsynced"
            )
            self._untrusted_since = None
        elif not trusted:
            if self._untrusted_since is None:
                self._untrusted_since = now
            waited = now - self._untrusted_since
            if waited >= 60 and now - self._clock_told >= 600:
                self._clock_told = now
                log.warning(
                    "The clock has not been trusted for %.0f min (%s): %d readings wait for it; "
                    "alarms leave without it, stamped by the centre",
                    waited / 60, self.clock.problem() or "it has just been lost",
                    self.outbox.stats()[Lane.TELEMETRY].pending,
                )  # fmt: skip

    def _write_status(self) -> None:
        path = self._s.outbox.path / "status.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(self.status()))
        tmp.replace(path)


def _mb(free: int | None) -> str:
    return "unknown" if free is None else f"{free / 1e6:.1f} MB"
