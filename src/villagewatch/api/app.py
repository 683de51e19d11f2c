"""The HTTP API and the operators' console it serves.

Routes live in :mod:`villagewatch.api.routes`, one module per resource; each
takes an :mod:`~villagewatch.api.auth` dependency naming the least role it
needs. Only health, metrics, login, the console's own files (which hold
no data) and the public lots' free spaces (:mod:`~villagewatch.api.routes.public`) are
open. A store that is unavailable answers 503 and a refused
action or registry change 409, from whichever route. The console is plain
HTML, CSS and JavaScript shipped in the package, and so is Swagger UI at /docs:
nothing is fetched from outside, so both work in an offline centre. Bodies and
tokens are checked before a route reads a body, and every response carries the
security headers (:mod:`~villagewatch.api.middleware`).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.responses import Response as StarletteResponse
from starlette.types import ASGIApp, Scope

from villagewatch import __version__
from villagewatch.alerts.lifecycle import ActionRefused
from villagewatch.api.context import ApiContext
from villagewatch.api.middleware import RequestGate, SecurityHeaders
from villagewatch.api.routes import (
    alerts,
    alertviews,
    cameras,
    config,
    configform,
    deadletters,
    devices,
    places,
    public,
    registry,
    reports,
    session,
    silences,
    tune,
    wall,
)
from villagewatch.errors import StoreError
from villagewatch.registry import RegistryRefused
from villagewatch.runtime.metrics_http import joined

__all__ = ["CONSOLE_DIR", "DOCS_DIR", "PUBLIC_PATHS", "create_app"]

CONSOLE_DIR = Path(__file__).parent / "console"
"""The console's files."""
DOCS_DIR = Path(__file__).parent / "docs"
"""/docs: Swagger UI and the page that starts it."""

PUBLIC_PATHS = frozenset(
    {"/healthz", "/metrics", "/api/auth/login", "/", "/public/spaces", "/public/spaces.json"}
)
"""Routes that need no token (besides the console's static files under /console)."""


class _PackageFiles(StaticFiles):
    """The console's and the docs' files: revalidated on every load (an upgrade must not mix
    old and new modules)."""

    async def get_response(self, path: str, scope: Scope) -> StarletteResponse:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = "no-cache"
        return response


class _Api(FastAPI):
    """FastAPI with :class:`SecurityHeaders` outside even its last-resort error handler, so
    that a 500 carries the headers too (middleware added the usual way sits inside it)."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())


def create_app(ctx: ApiContext) -> FastAPI:
    """The API over ``ctx``; its Prometheus registries are served at /metrics."""
    app = _Api(
        title="villagewatch",
        version=__version__,
        description="Alerts, devices, readings, places, the rental registry and config of a "
        "villagewatch deployment. Log in at /api/auth/login and send the token as "
        "`Authorization: Bearer <token>`.",
        docs_url=None,  # FastAPI's pages load Swagger UI and ReDoc from a CDN; ours below
        redoc_url=None,
    )
    app.state.ctx = ctx
    app.add_middleware(RequestGate, api=app)

    # what the request got wrong, without echoing it: the input can be megabytes, personal
    # data, or bytes that are not text at all
    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [{k: e[k] for k in ("type", "loc", "msg") if k in e} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    # the stores' refusals and outages, wherever a route meets them, as one answer each
    @app.exception_handler(StoreError)
    async def store_unavailable(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": f"store unavailable: {exc}"}, status_code=503)

    for refused in (ActionRefused, RegistryRefused):

        @app.exception_handler(refused)
        async def refusal(_request: Request, exc: Exception) -> JSONResponse:
            return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """Liveness: the API process answers."""
        return {"status": "ok"}

    @app.get("/metrics", tags=["ops"], response_class=Response)
    async def metrics() -> Response:
        """Prometheus metrics of the services in this process."""
        served = joined(*ctx.registries, ctx.metrics.registry)
        return Response(generate_latest(served), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False)
    async def index(request: Request) -> RedirectResponse:
        # the query goes along: /?big=1 is the documented way to open the wall
        query = request.url.query
        return RedirectResponse(f"/console/?{query}" if query else "/console/")

    for module in (
        session, alerts, alertviews, silences, devices, places, registry, config, configform,
        tune, cameras, reports, deadletters, wall, public,
    ):  # fmt: skip
        app.include_router(module.router)
    app.mount("/console", _PackageFiles(directory=CONSOLE_DIR, html=True), name="console")
    app.mount("/docs", _PackageFiles(directory=DOCS_DIR, html=True), name="docs")
    return app
