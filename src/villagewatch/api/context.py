"""What every route reaches: the deployment, the stores, the live feed."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry

from villagewatch.alerts.store import AlertStore
from villagewatch.api.edgeconfig import EdgeConfig, EdgeConfigLink
from villagewatch.api.live import AlertFeed
from villagewatch.api.metrics import ApiMetrics
from villagewatch.api.places import Places
from villagewatch.api.publicspaces import PublicSpaces
from villagewatch.api.ratelimit import ClientRate
from villagewatch.api.throttle import LoginThrottle, PasswordPool
from villagewatch.api.throttle_shared import Logins, SharedLoginThrottle
from villagewatch.api.users import UserStore
from villagewatch.config import Deployment, DeviceSpec
from villagewatch.db import configured
from villagewatch.db.sqlite import DEFAULT_BUSY_TIMEOUT_S, SQLITE_METRICS
from villagewatch.registry import RegistryStore
from villagewatch.runtime.diskspace import export_free_space
from villagewatch.store import Store
from villagewatch.store.evidence import Evidence, open_evidence
from villagewatch.versions import VersionStore

__all__ = ["PUBLIC_BURST", "PUBLIC_RATE_PER_S", "ApiContext", "open_context", "open_users"]

PUBLIC_RATE_PER_S = 1.0
"""Public requests one address may make per second, after its burst: a page refreshes every
30 s, and many phones may share one address (a carrier's NAT, the village Wi-Fi)."""
PUBLIC_BURST = 60
"""Public requests one address may make at once."""


@dataclass
class ApiContext:
    """Shared by the routes of one app; ``deployment`` is replaced when config is applied."""

    deployment: Deployment
    store: Store
    alerts: AlertStore
    users: UserStore
    registry: RegistryStore
    versions: VersionStore
    """Every applied config file, kept (``config-versions.db`` beside the alerts)."""
    evidence: Evidence
    """The evidence pictures the ingesters saved (a folder, or PostgreSQL's ``evidence``)."""
    registries: Sequence[CollectorRegistry] = ()
    metrics: ApiMetrics = field(default_factory=ApiMetrics)
    """The API's own; /metrics serves them with ``registries``."""
    feed: AlertFeed = field(init=False)
    logins: Logins = field(init=False)
    """The login throttle: in this process's memory, or shared by the API nodes (PostgreSQL)."""
    passwords: PasswordPool = field(default_factory=PasswordPool)
    """Where passwords are hashed and checked (not the threads that read the stores)."""
    public_spaces: PublicSpaces = field(default_factory=PublicSpaces)
    """The public lots' free spaces, read from the store at most every 10 s."""
    public_rate: ClientRate = field(
        default_factory=lambda: ClientRate(rate_per_s=PUBLIC_RATE_PER_S, burst=PUBLIC_BURST)
    )
    """Requests per address to the public page and JSON."""
    places: Places = field(init=False)
    devices: dict[tuple[str, str], DeviceSpec] = field(init=False)
    edge_config: EdgeConfig = field(init=False)
    """Publishes the edge agents' desired configs and reads their reports (camera zones)."""

    def __post_init__(self) -> None:
        api = self.deployment.settings.api
        self.feed = AlertFeed(self.alerts, api.live_poll_s, self.metrics)
        settings = self.deployment.settings
        export_free_space(
            self.metrics.registry, "api", [api.state_dir, settings.alerts.state_path.parent]
        )
        per_source, window_s = api.login_failures_per_source, api.login_window_s
        shared_at = configured.logins_location(settings)
        self.logins = (
            SharedLoginThrottle(
                shared_at, busy_timeout_s=configured.busy_timeout_s(settings),
                failures_per_source=per_source, window_s=window_s,
                delay_max_s=api.login_delay_max_s,
            )
            if shared_at is not None
            else LoginThrottle(
                failures_per_source=per_source, window_s=window_s,
                delay_max_s=api.login_delay_max_s,
            )
        )  # fmt: skip
        self.edge_config = EdgeConfigLink(settings.mqtt)
        self.use(self.deployment)

    def use(self, deployment: Deployment) -> None:
        """Serve a new deployment (at start, after an apply, and when the files change: see
        :meth:`follow`)."""
        self.deployment = deployment
        self.places = Places(deployment.villages, dict(deployment.settings.alerts.towns))
        self.devices = {(v.id, d.id): d for v in deployment.villages for d in v.devices}

    def follow(self, deployment: Deployment) -> None:
        """A changed config file (an apply in another API process, ``config rollback``, an
        editor): places, devices, houses new in a village file, and who is told of people's
        actions on alerts."""
        from villagewatch.alerts.engine import notifier_for

        self.registry.seed(deployment.villages, time.time_ns() // 1_000_000)
        self.alerts.use_notifier(notifier_for(deployment))
        self.use(deployment)

    def close(self) -> None:
        """Close the stores the context opened (not the readings store)."""
        self.alerts.close()
        self.users.close()
        self.registry.close()
        self.versions.close()
        self.evidence.close()
        if isinstance(self.logins, SharedLoginThrottle):
            self.logins.close()
        self.passwords.close()

    @property
    def plans_dir(self) -> Path:
        """Where uploaded village plans are kept."""
        return self.deployment.settings.api.state_dir / "plans"


def open_context(
    deployment: Deployment,
    store: Store,
    *,
    registries: Sequence[CollectorRegistry] = (),
) -> ApiContext:
    """Open the alert store (with routing, so people's actions are announced), the users,
    the registry (seeded from the village files) and the config versions of a deployment;
    /metrics serves ``registries`` and the SQLite files' own metrics."""
    from villagewatch.alerts import AlertDatabase
    from villagewatch.alerts.engine import notifier_for

    s = deployment.settings
    wait_s = s.api.sqlite_busy_timeout_s
    registry = RegistryStore(
        configured.registry_location(s), busy_timeout_s=configured.busy_timeout_s(s, wait_s)
    )
    registry.seed(deployment.villages, time.time_ns() // 1_000_000)
    return ApiContext(
        deployment=deployment,
        store=store,
        alerts=AlertDatabase(
            configured.alerts_location(s),
            notifier=notifier_for(deployment),
            busy_timeout_s=configured.busy_timeout_s(s, wait_s),
            reserve_bytes=int(s.alerts.disk_reserve_mb * 1e6),
        ),
        users=open_users(deployment, busy_timeout_s=wait_s),
        registry=registry,
        versions=VersionStore(
            configured.versions_location(s),
            busy_timeout_s=configured.busy_timeout_s(s, wait_s),
        ),
        evidence=open_evidence(s),
        registries=[*registries, SQLITE_METRICS],
    )


def open_users(
    deployment: Deployment, *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S
) -> UserStore:
    """The deployment's users, sessions and API audit log (``api.db`` in ``api.state_dir``,
    or PostgreSQL's ``users`` schema)."""
    s = deployment.settings
    return UserStore(
        configured.users_location(s),
        busy_timeout_s=configured.busy_timeout_s(s, busy_timeout_s),
    )
