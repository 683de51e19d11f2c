"""Detect follows its villages' files while it runs: a changed village is applied.

The :class:`~villagewatch.runtime.follow.ConfigFollower` loads the changed deployment;
:class:`VillageFollower` hands each of detect's villages whose file changed to
:meth:`DetectEngine.reconfigure`, and the alerts of devices (and detectors) it removed are
resolved with the reason "removed from config". A config that does not load is refused
(counted in ``villagewatch_detect_config_refused_total``) and the running one stays.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from villagewatch.config import Deployment
from villagewatch.detect.engine import DetectEngine
from villagewatch.detect.metrics import DetectMetrics
from villagewatch.errors import ConfigError, ConfigIssue
from villagewatch.runtime.follow import ConfigFollower
from villagewatch.runtime.steadyclock import SteadyClock
from villagewatch.transitions import Transition

__all__ = ["VillageFollower"]

log = logging.getLogger(__name__)


class VillageFollower:
    """Applies the changed config of detect's villages."""

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
        self._ids = tuple(villages)
        self._engine, self._clock = engine, clock
        self._metrics, self._applied = metrics, applied
        self._follower = ConfigFollower(
            deployment, apply=self._apply, refused=self._refused, service="detect",
            poll_s=poll_s,
        )  # fmt: skip

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the files until ``stop``."""
        await self._follower.run(stop)

    def _apply(self, deployment: Deployment) -> None:
        before = {v.id: v for v in self._follower.running.villages}
        now = {v.id: v for v in deployment.villages}
        gone = [vid for vid in self._ids if vid not in now]
        if gone:  # refused as a whole: the decoder would drop the readings of its devices
            where = str(deployment.source)
            raise ConfigError(
                [ConfigIssue(where, "villages", f"detect runs village {vid!r}; it is no longer "
                             "in the config (restart detect to stop running it)") for vid in gone]
            )  # fmt: skip
        wanted = deployment.settings.detect.villages
        new = [v for v in now if v not in before and (wanted is None or v in wanted)]
        if new:
            log.warning("Villages new in the config: %s; detect runs them from its next "
                        "restart", ", ".join(new))  # fmt: skip
        transitions: list[Transition] = []
        for vid in self._ids:
            village = now[vid]
            if village == before[vid]:
                continue
            done = self._engine.reconfigure(village, self._clock.now_ms())
            transitions += done.transitions
            self._metrics.config_applied.inc()
            log.info(
                "Village %s applied: %d devices changed %s, %d added %s, %d removed %s",
                vid, len(done.changed), done.changed, len(done.added), done.added,
                len(done.removed), done.removed,
            )  # fmt: skip
        self._applied(deployment, transitions)

    def _refused(self, _issues: Sequence[ConfigIssue]) -> None:
        self._metrics.config_refused.inc()
