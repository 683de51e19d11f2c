"""The HTTP API and the operators' console it serves.

Routes live in :mod:`villagewatch.api.routes`, one module per resource; each
takes an :mod:`~villagewatch.api.auth` dependency naming the least role it
needs. Only health, metrics, login and the console's own files (which hold
no data) are open. A store that is unavailable answers 503 and a refused
action or registry change 409, from whichever route. The console is plain
HTML, CSS and JavaScript shipped in the package: nothing is fetched from
outside, so it works in an offline centre.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.responses import Response as StarletteResponse
from starlette.types import Scope

from villagewatch import __version__
from villagewatch.alerts.lifecycle import ActionRefused
from villagewatch.api.context import ApiContext
from villagewatch.api.routes import alerts, config, devices, places, registry, session
from villagewatch.errors import StoreError
from villagewatch.metrics_http import joined
from villagewatch.registry import RegistryRefused

__all__ = ["CONSOLE_DIR", "PUBLIC_PATHS", "create_app"]

CONSOLE_DIR = Path(__file__).parent / "console"
"""The console's files."""

PUBLIC_PATHS = frozenset({"/healthz", "/metrics", "/api/auth/login", "/"})
"""Routes that need no token (besides the console's static files under /console)."""


_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


class _ConsoleFiles(StaticFiles):
    """The console's files: revalidated on every load (an upgrade must not mix old and new
    modules) and under a policy that lets the page load nothing from anywhere else."""

    async def get_response(self, path: str, scope: Scope) -> StarletteResponse:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["Content-Security-Policy"] = _CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def create_app(ctx: ApiContext) -> FastAPI:
    """The API over ``ctx``; its Prometheus registries are served at /metrics."""
    app = FastAPI(
        title="villagewatch",
        version=__version__,
        description="Alerts, devices, readings, places, the rental registry and config of a "
        "villagewatch deployment. Log in at /api/auth/login and send the token as "
        "`Authorization: Bearer <token>`.",
    )
    app.state.ctx = ctx

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
        return Response(generate_latest(joined(*ctx.registries)), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False)
    async def index() -> RedirectResponse:
        return RedirectResponse("/console/")

    for module in (session, alerts, devices, places, registry, config):
        app.include_router(module.router)
    app.mount("/console", _ConsoleFiles(directory=CONSOLE_DIR, html=True), name="console")
    return app
