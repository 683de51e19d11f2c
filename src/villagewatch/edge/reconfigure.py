"""The centre's desired configs applied to a running agent (the rules are in ``remote.py``).

However many arrive, the latest wins: one waits and one is applied at a time. A config is
saved beside the outbox before its drivers restart, so a reboot without a link runs it
too; an empty retained message withdraws it (back to ``edge.yaml``). Whatever goes wrong
refuses the config, reported on ``…/config/reported`` with the reason; the agent goes on
with what it ran.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from villagewatch.contract.control import DesiredConfig, ReportedConfig
from villagewatch.edge.drivers import build_driver
from villagewatch.edge.durable import fsync_dir, replace_durably
from villagewatch.edge.measurement import Driver
from villagewatch.edge.remote import (
    RemoteConfigError,
    apply_remote,
    bounded_reason,
    parse_desired,
    version_of,
)
from villagewatch.edge.settings import EdgeSettings

__all__ = ["Reconfigurer", "Switch"]

log = logging.getLogger(__name__)

Switch = Callable[[EdgeSettings, Callable[[], None]], Awaitable[None]]
"""Run these settings: build the changed drivers (RemoteConfigError if one cannot be made),
call the commit function, then restart them."""


class Reconfigurer:
    """Applies desired configs over ``base`` (edge.yaml) through the agent's ``switch``."""

    def __init__(
        self,
        *,
        base: EdgeSettings,
        remote_file: Path,
        switch: Switch,
        send_report: Callable[[bytes], None],
        count_refusal: Callable[[str], None],
    ) -> None:
        self._base = base
        self.remote_file = remote_file
        self._switch = switch
        self._send_report = send_report
        self._count_refusal = count_refusal
        self.applied: DesiredConfig | None = None
        self._next: bytes | None = None  # the latest desired config not yet applied
        self._applying = False

    def load_saved(self) -> tuple[EdgeSettings, list[Driver]] | None:
        """The settings and drivers of the remote config saved at the last apply, if it still
        fits edge.yaml; None: run edge.yaml as it is."""
        try:
            payload = self.remote_file.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning(
                "Cannot read the saved remote config (%s); running edge.yaml as it is until the "
                "centre sends one", exc,
            )  # fmt: skip
            return None
        try:
            desired = parse_desired(payload)
            settings = apply_remote(self._base, desired.config)
            built = [build_driver(d, settings.outbox.path) for d in settings.devices]
        except RemoteConfigError as exc:
            log.warning(
                "The saved remote config no longer fits edge.yaml (%s); running edge.yaml as it "
                "is until the centre sends one that does", exc,
            )  # fmt: skip
            return None
        except Exception:  # whatever it is, the box must start: edge.yaml alone
            log.exception(
                "The saved remote config cannot run (a driver cannot start with it?); running "
                "edge.yaml as it is until the centre sends one that does"
            )
            return None
        self.applied = desired
        log.info("Running remote config version %d (saved) over edge.yaml", desired.version)
        return settings, built

    def offer(self, payload: bytes, tg: asyncio.TaskGroup | None) -> None:
        """A ``…/config`` message arrived: apply it (in ``tg``) once the one before is done."""
        # the latest wins (a desired config is the whole desired state)
        self._next = payload
        if tg is not None and not self._applying:
            self._applying = True
            tg.create_task(self._apply_latest())

    async def _apply_latest(self) -> None:
        try:
            while (payload := self._next) is not None:
                self._next = None
                await self._apply(payload)
        finally:
            self._applying = False

    async def _apply(self, payload: bytes) -> None:
        """Apply one desired config; whatever goes wrong refuses it, the agent goes on."""
        try:
            await self._apply_one(payload)
        except RemoteConfigError as exc:
            self._refuse(payload, "invalid", str(exc))
        except OSError as exc:
            self._refuse(payload, "not_saved", f"the config could not be saved on the box: {exc}")
        except Exception as exc:  # a bug of ours stops this message, never the agent
            log.exception("Applying a remote config failed")
            self._refuse(payload, "internal_error", f"the agent failed applying it: {exc!r}")

    def _refuse(self, payload: bytes, reason: str, error: str) -> None:
        version = version_of(payload)
        kept = f"version {self.applied.version}" if self.applied else "edge.yaml"
        log.warning("Refused remote config version %d: %s; still running %s", version, error, kept)
        self._count_refusal(reason)
        self._report(version, error)

    async def _apply_one(self, payload: bytes) -> None:
        if not payload:  # the centre removed its retained desired config
            if self.applied is not None:
                log.info("The centre withdrew its remote config; back to edge.yaml as it is")
                self.remote_file.unlink(missing_ok=True)  # first: a reboot must not run it
                fsync_dir(self.remote_file.parent)
                await self._switch(self._base, lambda: None)
                self.applied = None
            return
        desired = parse_desired(payload)
        if desired != self.applied:

            def save() -> None:
                replace_durably(self.remote_file, payload)
                fsync_dir(self.remote_file.parent)

            await self._switch(apply_remote(self._base, desired.config), save)
            self.applied = desired
            log.info("Applied remote config version %d", desired.version)
        self._report(desired.version, None)

    def _report(self, version: int, error: str | None) -> None:
        reason = None if error is None else bounded_reason(error)
        report = ReportedConfig(v=1, version=version, applied=error is None, error=reason)
        self._send_report(report.model_dump_json().encode())
