"""Detect follows its village files while it runs: a changed file is checked and applied.

A maintainer applies a village file (the API, ``villagewatch config rollback``, or an
editor): the file is replaced, usually by a rename. Every ``poll_s`` the follower looks at
each file detect loaded (inode, size, modification time — a stat, off the event loop);
when one changed it is read with the same loader as at start. An invalid file is refused
(logged with its issues, counted in ``villagewatch_detect_config_refused_total``) and the
running config stays; a valid one goes to :meth:`DetectEngine.reconfigure`, and the alerts
of devices (and detectors) it removed are resolved with the reason "removed from config".
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from villagewatch.config import Deployment, load_village
from villagewatch.config.village import Village
from villagewatch.detect.engine import DetectEngine
from villagewatch.detect.metrics import DetectMetrics
from villagewatch.errors import ConfigError, ConfigIssue
from villagewatch.runtime.steadyclock import SteadyClock
from villagewatch.runtime.waiting import sleep_or_stop
from villagewatch.transitions import Transition

__all__ = ["VillageFollower"]

log = logging.getLogger(__name__)

_Stat = tuple[int, int, int, int] | None


def _stat(path: Path) -> _Stat:
    try:
        st = os.stat(path)
    except OSError:
        return None  # between an editor's delete and its write: wait for the file
    return (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns)


class VillageFollower:
    """Watches the village files of detect's villages and applies their changes."""

    def __init__(
        self,
        *,
        deployment: Deployment,
        villages: Sequence[str],
        engine: DetectEngine,
        clock: SteadyClock,
        metrics: DetectMetrics,
        applied: Callable[[Deployment, list[Transition]], None],
        poll_s: float = 1.0,
    ) -> None:
        """``applied``: called on the event loop with the deployment now in force and the
        transitions the change decided (the same step: nothing comes between)."""
        self._deployment = deployment
        paths = deployment.settings.villages
        # load_deployment loads the files in order, and fails unless every one loads
        self._files = {
            path: v for path, v in zip(paths, deployment.villages, strict=True) if v.id in villages
        }
        self._stats: dict[Path, _Stat] = {}  # taken when run starts: a constructor reads nothing
        self._engine, self._clock = engine, clock
        self._metrics, self._applied = metrics, applied
        self._poll_s = poll_s

    async def run(self, stop: asyncio.Event) -> None:
        """Look every ``poll_s`` until ``stop``."""
        for path in self._files:
            self._stats[path] = await asyncio.to_thread(_stat, path)
        while not await sleep_or_stop(stop, self._poll_s):
            for path in list(self._files):
                stat = await asyncio.to_thread(_stat, path)
                if stat is None or stat == self._stats[path]:
                    continue
                self._stats[path] = stat
                await self._changed(path)

    async def _changed(self, path: Path) -> None:
        running = self._files[path]
        try:
            village, digest = await asyncio.to_thread(_load, path, running.id)
        except ConfigError as exc:
            self._refused(path, exc.issues)
            return
        if village == running:
            return  # written again, the same
        self._files[path] = village
        self._deployment = Deployment(
            self._deployment.settings,
            tuple(village if v.id == village.id else v for v in self._deployment.villages),
        )
        now_ms = self._clock.now_ms()
        done = self._engine.reconfigure(village, now_ms)
        self._applied(self._deployment, done.transitions)
        self._metrics.config_applied.inc()
        log.info(
            "Village file %s applied (sha256 %s): %d devices changed %s, %d added %s, "
            "%d removed %s",
            path, digest, len(done.changed), done.changed, len(done.added),
            done.added, len(done.removed), done.removed,
        )  # fmt: skip

    def _refused(self, path: Path, issues: Sequence[ConfigIssue]) -> None:
        self._metrics.config_refused.inc()
        log.error(
            "Village file %s changed but is refused; detect keeps running the config it "
            "had:\n  %s", path, "\n  ".join(str(i) for i in issues),
        )  # fmt: skip


def _load(path: Path, village_id: str) -> tuple[Village, str]:
    """The village file checked by the loader detect started with (still village
    ``village_id``), and its text's digest (to tell in the log which version is in force)."""
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    except OSError:
        digest = "unreadable"  # the loader says why
    village = load_village(path)
    if village.id != village_id:
        message = (
            f"detect runs village {village_id!r} from this file; it cannot become {village.id!r}"
        )
        raise ConfigError([ConfigIssue(str(path), "id", message)])
    return village, digest
