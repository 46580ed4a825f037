"""The FastAPI application: the page, `/api/…`, `/healthz` and `/metrics`.

Everything is read-only. The one route that changes state (releasing a held batch) is off
unless `web.admin_token` is set, and then needs it as a bearer token.
"""

from __future__ import annotations

import hmac
import logging
from importlib import resources
from typing import Annotated, Any

from fastapi import Body, FastAPI, Header, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry
from starlette.concurrency import run_in_threadpool

from wikistream.exceptions import ConfigError, WikiStreamError
from wikistream.lakehouse.store import Lakehouse
from wikistream.quality.audit import release_held
from wikistream.redaction import redact
from wikistream.settings import Settings
from wikistream.web.dashboard import Dashboard
from wikistream.web.exposition import CONTENT_TYPE, LakehouseCollector, exposition
from wikistream.web.models import (
    Activity,
    AlertSent,
    Deletion,
    EditorMix,
    Gates,
    LayerFreshness,
    Overview,
    RiskEntry,
    TableHealth,
    UserEdit,
    WikiNow,
)
from wikistream.web.security import BodyTooLarge, SecurityHeaders, allowed_hosts
from wikistream.web.views import freshness, table_health

log = logging.getLogger(__name__)

STATIC = resources.files("wikistream.web") / "static"
Limit = Annotated[int, Query(ge=1, le=200, description="At most this many entries.")]


def create_app(settings: Settings, bound: str | None = None) -> FastAPI:
    """The application over `settings`' warehouse; `bound`: the address it listens on (a
    Host it answers to, with the loopback names and `web.allowed_hosts`)."""
    board = Dashboard(settings)
    # No /docs pages: FastAPI's load their scripts from a CDN. The schema is served.
    app = FastAPI(
        title="WikiStream",
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.dashboard = board
    app.add_middleware(SecurityHeaders, hosts=allowed_hosts(settings.web.allowed_hosts, bound))
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    registry = CollectorRegistry()
    registry.register(LakehouseCollector(board.metrics_snapshot))
    _errors(app)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"), media_type="text/html")

    @app.get("/api/overview", response_model=Overview)
    async def overview() -> Response:
        """Everything the page shows, in one answer."""
        # The page polls this: a cached answer is sent from the event loop; only computing
        # one goes to a worker thread (it reads the lakehouse).
        body = board.cached_overview_json()
        if body is None:
            body = await run_in_threadpool(board.overview_json)
        return Response(body, media_type="application/json")

    @app.get("/api/activity")
    def activity(
        hours: Annotated[float, Query(gt=0, le=48)] = 6.0,
        wikis: Annotated[int, Query(ge=0, le=20)] = 5,
    ) -> Activity:
        """Edits per minute per 10-minute window over the last `hours` of data."""
        return board.activity(hours, wikis)

    @app.get("/api/wikis")
    def wikis(limit: Limit = 10) -> list[WikiNow]:
        """The busiest wikis of the last hour of data."""
        return board.top_wikis(limit)

    @app.get("/api/mix")
    def mix() -> EditorMix:
        """Bot, registered-human and anonymous shares of the last hour of data."""
        return board.mix()

    @app.get("/api/risk")
    def risk(limit: Limit = 20) -> list[RiskEntry]:
        """The risk leaderboard: each user's highest score of the last two hours of data."""
        return board.risk(limit)

    @app.get("/api/users/edits")
    def user_edits(
        user: Annotated[str, Query(min_length=1, max_length=255)], limit: Limit = 50
    ) -> list[UserEdit]:
        """One user's latest edits (silver, the last 7 days of data)."""
        return board.user_edits(user, limit)

    @app.get("/api/deletions")
    def deletions(limit: Limit = 20) -> list[Deletion]:
        """The latest large deletions."""
        return board.deletions(limit)

    @app.get("/api/gates")
    def gates() -> Gates:
        """Quality gates: latest verdict per table, held batches, failures per hour."""
        return board.gates()

    @app.get("/api/freshness")
    def layer_freshness() -> list[LayerFreshness]:
        """Per layer: how far its newest event is behind now."""
        return freshness(board.tables())

    @app.get("/api/tables")
    def tables() -> list[TableHealth]:
        """Per table: rows, data files, small files, snapshots, last commit."""
        return table_health(board.tables())

    @app.get("/api/alerts")
    def alerts(limit: Limit = 20) -> list[AlertSent]:
        """Alerts recently delivered or attempted."""
        return board.alerts(limit)

    @app.get("/api/status")
    def status() -> dict[str, Any]:
        """The same document as `wikistream status --output json`."""
        return board.status()

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        """200 when healthy, 503 otherwise (the rules of `wikistream status`' exit code)."""
        problems = board.problems()
        return JSONResponse(
            {"healthy": not problems, "problems": problems}, status_code=503 if problems else 200
        )

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(exposition(registry), media_type=CONTENT_TYPE)

    @app.post("/api/gates/{run_id}/release")
    def release(
        request: Request,
        run_id: Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[\w.:-]+$")],
        authorization: Annotated[str | None, Header()] = None,
        reason: Annotated[str | None, Body(embed=True, max_length=1000)] = None,
    ) -> dict[str, str]:
        """Let a held batch through at the next cycle (needs `web.admin_token`)."""
        _check_admin(settings, authorization, request)
        table = release_held(Lakehouse(settings), run_id, reason)
        return {"released": run_id, "table": table}

    return app


def _check_admin(settings: Settings, authorization: str | None, request: Request) -> None:
    token = settings.web.admin_token
    if token is None:
        raise HTTPException(403, "changes are off: set web.admin_token to enable them")
    scheme, _, given = (authorization or "").partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), expected):
        client = request.client.host if request.client else "?"
        # Who tried and where; never what they sent (it may be a real token, mistyped).
        tried = {"client": client, "path": request.url.path, "given": "wrong" if given else "none"}
        log.warning("admin token refused", extra=tried)
        raise HTTPException(
            401, "a valid admin token is needed", headers={"WWW-Authenticate": "Bearer"}
        )


def _errors(app: FastAPI) -> None:
    """Errors as short JSON, never a traceback; bad input is the client's (4xx)."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"where": ".".join(str(p) for p in e.get("loc", ())), "problem": e["msg"]}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": problems}, status_code=422)

    @app.exception_handler(BodyTooLarge)
    async def too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        return JSONResponse({"detail": "request body too large"}, status_code=413)

    @app.exception_handler(ConfigError)
    async def refused(request: Request, exc: ConfigError) -> JSONResponse:
        return JSONResponse({"detail": redact(str(exc))}, status_code=409)

    @app.exception_handler(WikiStreamError)
    async def unavailable(request: Request, exc: WikiStreamError) -> JSONResponse:
        log.warning("a view failed", extra={"path": request.url.path, "error": redact(str(exc))})
        return JSONResponse(
            {"detail": f"the lakehouse cannot answer now: {redact(str(exc))}"}, status_code=503
        )

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> JSONResponse:
        where = {"path": request.url.path, "error": type(exc).__name__}
        log.error("request failed", extra=where, exc_info=True)
        return JSONResponse({"detail": "internal error (see the server's log)"}, status_code=500)
