"""The HTTP API: health, metrics, devices with their last values, and downsampled readings.

This is the part the ingestion core needs (the demo serves it); the console,
alerts, actions and authentication come with the console issue. Until then it
listens on 127.0.0.1 only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import FastAPI, HTTPException, Query, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field

from villagewatch import __version__
from villagewatch.config import Deployment, DeviceSpec, Position
from villagewatch.contract import DeviceKind, metric_names
from villagewatch.errors import StoreError
from villagewatch.store import Store

__all__ = ["create_app"]

_OUT = ConfigDict(frozen=True)


class LastReading(BaseModel):
    """The newest value of one metric."""

    model_config = _OUT

    time: datetime
    value: float


class DeviceOut(BaseModel):
    """A device as configured, with its newest values."""

    model_config = _OUT

    village: str
    id: str
    kind: DeviceKind
    grid: str
    name: str
    position: Position | None
    last: dict[str, LastReading] = Field(description="Newest value per metric.")


class BucketOut(BaseModel):
    """One slice of a downsampled series."""

    model_config = _OUT

    start: datetime
    mean: float
    min: float
    max: float
    count: int


class ReadingsOut(BaseModel):
    """A downsampled series of one metric of one device."""

    model_config = _OUT

    village: str
    device: str
    metric: str
    since: datetime
    until: datetime
    buckets: list[BucketOut]


def _dt(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


def _ns(dt: datetime) -> int:
    if dt.tzinfo is None:
        raise HTTPException(422, f"time {dt.isoformat()} needs a UTC offset, e.g. Z or +08:00")
    return int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000


def create_app(
    *, deployment: Deployment, store: Store, registries: Sequence[CollectorRegistry] = ()
) -> FastAPI:
    """The API over one deployment's config and store; ``registries`` are served at /metrics."""
    app = FastAPI(title="villagewatch", version=__version__)
    devices: dict[tuple[str, str], DeviceSpec] = {
        (v.id, d.id): d for v in deployment.villages for d in v.devices
    }

    def find_device(village: str | None, device: str) -> tuple[str, DeviceSpec]:
        matches = [(v, d) for (v, i), d in devices.items() if i == device and village in (None, v)]
        if not matches:
            raise HTTPException(
                404, f"no device {device!r}" + (f" in village {village!r}" if village else "")
            )
        if len(matches) > 1:
            raise HTTPException(422, f"device {device!r} exists in several villages; give village=")
        return matches[0]

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """Liveness: the API process answers."""
        return {"status": "ok"}

    @app.get("/metrics", tags=["ops"], response_class=Response)
    async def metrics() -> Response:
        """Prometheus metrics of the services in this process."""
        body = b"".join(generate_latest(r) for r in registries)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/devices", tags=["devices"])
    async def list_devices(village: str | None = None) -> list[DeviceOut]:
        """Every configured device (optionally of one village) with its newest value per metric."""
        try:
            last = await store.last_values(village=village)
        except StoreError as exc:
            raise HTTPException(503, f"store unavailable: {exc}") from exc
        by_device: dict[tuple[str, str], dict[str, LastReading]] = {}
        for lv in last:
            by_device.setdefault((lv.village, lv.device), {})[lv.metric] = LastReading(
                time=_dt(lv.time_ns), value=lv.value
            )
        return [
            DeviceOut(
                village=v,
                id=d.id,
                kind=d.kind,
                grid=d.grid,
                name=d.name,
                position=d.position,
                last=by_device.get((v, d.id), {}),
            )
            for (v, _), d in devices.items()
            if village in (None, v)
        ]

    @app.get("/api/readings", tags=["readings"])
    async def readings(
        device: Annotated[str, Query(description="Device id.")],
        village: Annotated[
            str | None, Query(description="Village id, if the device id is ambiguous.")
        ] = None,
        metric: Annotated[
            str | None, Query(description="Metric; default: the kind's first.")
        ] = None,
        since: Annotated[
            datetime | None, Query(description="Start (RFC 3339); default until - 24 h.")
        ] = None,
        until: Annotated[datetime | None, Query(description="End (RFC 3339); default now.")] = None,
        buckets: Annotated[int, Query(ge=1, le=2000, description="Number of slices.")] = 100,
    ) -> ReadingsOut:
        """One metric of one device over a time range, as mean/min/max per slice."""
        village_id, spec = find_device(village, device)
        allowed = metric_names(spec.kind)
        chosen = metric or allowed[0]
        if chosen not in allowed:
            raise HTTPException(
                422,
                f"{spec.kind} devices have no metric {chosen!r}; they have {', '.join(allowed)}",
            )
        end = until or datetime.now(tz=UTC)
        start = since or end - timedelta(hours=24)
        if _ns(end) <= _ns(start):
            raise HTTPException(422, "until must be after since")
        try:
            found = await store.downsample(
                village=village_id, device=spec.id, metric=chosen,
                since_ns=_ns(start), until_ns=_ns(end), buckets=buckets,
            )  # fmt: skip
        except StoreError as exc:
            raise HTTPException(503, f"store unavailable: {exc}") from exc
        return ReadingsOut(
            village=village_id,
            device=spec.id,
            metric=chosen,
            since=start,
            until=end,
            buckets=[
                BucketOut(start=_dt(b.start_ns), mean=b.mean, min=b.min, max=b.max, count=b.count)
                for b in found
            ],
        )

    return app
