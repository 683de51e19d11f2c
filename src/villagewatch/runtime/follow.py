"""Services follow their config files while they run: a changed file is loaded and applied.

A maintainer changes the config — the API's apply, ``villagewatch config rollback``, or an
editor — and a file is replaced. About once a second the :class:`ConfigFollower` stats the
settings file and every village file it names (inode, size, modification time: off the
event loop); when one changed, the whole deployment is loaded again the way the service
loaded it at start, so what runs is what a restart would run. A deployment that does not load
is refused: its issues are logged, and the service keeps the config it has.

What a running service takes from a new deployment (:func:`followed`) is the village files
and the alert settings of :data:`HOT_ALERT_SETTINGS` (routing, teams, channels and noise
control); any other change to the settings file (ports, paths, the broker, the store) takes
effect at the service's next restart, and the log says which sections wait for it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from villagewatch.config import Deployment
from villagewatch.errors import ConfigError, ConfigIssue
from villagewatch.runtime.waiting import sleep_or_stop

__all__ = ["HOT_ALERT_SETTINGS", "ConfigFollower", "followed", "restart_needed"]

log = logging.getLogger(__name__)

HOT_ALERT_SETTINGS = frozenset(
    {
        "kinds",
        "channels",
        "towns",
        "escalate_after_s",
        "group_wait_s",
        "flap_count",
        "flap_window_s",
        "notify_resolved",
        "time_zone",
    }
)
"""The settings file's ``alerts`` keys a running service follows (the rest at a restart)."""

_Stat = tuple[int, int, int, int] | None


def _stat(path: Path) -> _Stat:
    try:
        st = os.stat(path)
    except OSError:
        return None  # between an editor's delete and its write: wait for the file
    return (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns)


def _stats(paths: Sequence[Path]) -> dict[Path, _Stat]:
    return {p: _stat(p) for p in paths}


def followed(running: Deployment, loaded: Deployment) -> Deployment:
    """``running`` with what a service follows taken from ``loaded``: its villages (with the
    list of their files, which stays in step with them) and the alert settings of
    :data:`HOT_ALERT_SETTINGS`."""
    alerts = running.settings.alerts.model_copy(
        update={k: getattr(loaded.settings.alerts, k) for k in HOT_ALERT_SETTINGS}
    )
    settings = running.settings.model_copy(
        update={"alerts": alerts, "villages": loaded.settings.villages}
    )
    return dataclasses.replace(running, settings=settings, villages=loaded.villages)


def restart_needed(before: Deployment, after: Deployment) -> list[str]:
    """The settings a running service does not follow that differ between two loads of the
    files (``mqtt``, ``alerts.state_path`` …): they take effect at its next restart."""
    old, new = before.settings, after.settings
    names = [
        name
        for name in type(old).model_fields
        if name not in ("alerts", "villages") and getattr(old, name) != getattr(new, name)
    ]
    names += [
        f"alerts.{name}"
        for name in type(old.alerts).model_fields
        if name not in HOT_ALERT_SETTINGS and getattr(old.alerts, name) != getattr(new.alerts, name)
    ]
    return names


class ConfigFollower:
    """Watches a deployment's files and hands each change that loads to ``apply``."""

    def __init__(
        self,
        deployment: Deployment,
        *,
        apply: Callable[[Deployment], None],
        refused: Callable[[Sequence[ConfigIssue]], None] | None = None,
        service: str,
        poll_s: float = 1.0,
    ) -> None:
        """``apply``: called on the event loop with the running deployment updated by
        :func:`followed`, each time the files load and something a service follows changed;
        it refuses the change by raising ConfigError before it changed anything.
        ``refused``: called with the issues of files that changed but do not load.
        ``service``: its name in the log ("detect", "the alert engine" …)."""
        self.running = deployment
        """The deployment in force (the one started with, then each applied one)."""
        self._loaded = deployment
        self._apply, self._refused = apply, refused
        self._service, self._poll_s = service, poll_s

    async def run(self, stop: asyncio.Event) -> None:
        """Look every ``poll_s`` until ``stop``; the first look is when it starts (a file
        changed while the service was starting is applied then)."""
        if self.running.source is None:
            return  # built in code: no files to follow
        stats = await asyncio.to_thread(_stats, self.running.files())
        await self._look(first=True)
        while not await sleep_or_stop(stop, self._poll_s):
            # a missing file is a change too: refused with the reason, looked at again
            # when it is back (a file replaced by a rename is never missing)
            now = await asyncio.to_thread(_stats, self._loaded.files())
            if now != stats:
                stats = now
                await self._look(first=False)

    async def _look(self, *, first: bool) -> None:
        try:
            loaded = await asyncio.to_thread(self.running.reload)
        except ConfigError as exc:
            self._refuse("it does not load", exc.issues)
            return
        waiting = restart_needed(self._loaded, loaded)
        if waiting and not first:  # at first, running may hold a caller's changes (the demo's)
            log.warning(
                "Changed in the config: %s; %s takes that at its next restart",
                ", ".join(waiting), self._service,
            )  # fmt: skip
        self._loaded = loaded
        new = followed(self.running, loaded)
        if new == self.running:
            return
        try:
            self._apply(new)
        except ConfigError as exc:
            self._refuse(f"{self._service} cannot follow it", exc.issues)
            return
        except Exception:  # supervisor: a failure of ours must not stop the service
            log.exception(
                "Following the changed config failed; %s goes on (with what of it was in "
                "force) and takes the change whole at its next restart", self._service,
            )  # fmt: skip
            if self._refused is not None:
                self._refused([])
            return
        self.running = new

    def _refuse(self, why: str, issues: Sequence[ConfigIssue]) -> None:
        log.error(
            "The config changed but is refused (%s); %s keeps running the config it had:\n  %s",
            why, self._service, "\n  ".join(str(i) for i in issues),
        )  # fmt: skip
        if self._refused is not None:
            self._refused(issues)
