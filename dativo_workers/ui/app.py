"""`dativo ui`: the read-only runs dashboard, a Starlette app rendered on the server (Jinja2).

GET only: the ledger and the catalog are read, never written. Bound beyond loopback, every request
needs the token (`Authorization: Bearer <token>`, or `?token=` once in a browser, which sets a
cookie); tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from jinja2 import DictLoader, Environment, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from dativo_workers.ledger import RUN_STATES
from dativo_workers.ui import svg
from dativo_workers.ui.data import Dashboard
from dativo_workers.ui.templates import TEMPLATES

COOKIE = "dativo_ui_token"
REFRESH_SECONDS = 3


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: may resolve to anything


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0.0, float(seconds))
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


class TokenAuth:
    """Refuse every request without the token (401); a right `?token=` sets a cookie and redirects
    to the same page without it, so the token does not stay in the address bar or history."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    def _ok(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(candidate.encode(), self.token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        header = request.headers.get("authorization", "")
        bearer = header[7:].strip() if header[:7].lower() == "bearer " else None
        if self._ok(bearer) or self._ok(request.cookies.get(COOKIE)):
            await self.app(scope, receive, send)
            return
        response: Response
        if self._ok(request.query_params.get("token")):
            rest = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
            response = RedirectResponse(request.url.path + (f"?{rest}" if rest else ""), status_code=303)
            response.set_cookie(COOKIE, request.query_params["token"], httponly=True, samesite="strict")
        else:
            response = Response(
                "401: this dashboard needs its token (Authorization: Bearer <token>, or ?token=<token>)\n",
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
                media_type="text/plain",
            )
        await response(scope, receive, send)


class ReadOnly:
    """GET and HEAD only: anything else is 405 before it reaches a route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD"):
            response = Response("405: the dashboard is read-only\n", status_code=405, headers={"Allow": "GET, HEAD"})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_app(dashboard: Dashboard, token: str | None = None) -> Starlette:
    env = Environment(loader=DictLoader(TEMPLATES), autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["duration"] = _duration

    def page(name: str, code: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("refresh", None)
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        html = env.get_template(name).render(tenant_scope=dashboard.tenant, now=now, **context)
        return HTMLResponse(html, status_code=code)

    def not_found(message: str) -> HTMLResponse:
        return page("error.html", 404, title="404 not found", message=message)

    def filters(request: Request) -> dict[str, Any]:
        found: dict[str, Any] = {k: request.query_params.get(k) or None for k in ("tenant", "job", "state")}
        limit = request.query_params.get("limit", "")
        found["limit"] = min(int(limit), 1000) if limit.isdigit() and int(limit) > 0 else 50
        return found

    def runs_page(request: Request) -> Response:
        found = dashboard.runs(**filters(request))
        refresh = REFRESH_SECONDS if any(r["active"] for r in found) else None
        return page("runs.html", runs=found, filters=filters(request), states=sorted(RUN_STATES), refresh=refresh)

    def runs_json(request: Request) -> Response:
        return JSONResponse({"runs": dashboard.runs(**filters(request))})

    def run_page(request: Request) -> Response:
        run = dashboard.run(request.path_params["run_id"])
        if run is None:
            return not_found(f"no run {request.path_params['run_id']} in the ledger")
        timeline = svg.timeline(run["partitions"], run["created_at"])
        refresh = REFRESH_SECONDS if run["state"] in ("pending", "running", "committing") else None
        return page("run.html", run=run, timeline=timeline, refresh=refresh)

    def run_json(request: Request) -> Response:
        run = dashboard.run(request.path_params["run_id"])
        if run is None:
            return JSONResponse({"error": "unknown run"}, status_code=404)
        return JSONResponse({k: v for k, v in run.items() if k not in ("partition_rows", "schema_rows")})

    def job_page(request: Request) -> Response:
        tenant, job = request.path_params["tenant"], request.path_params["job"]
        found = dashboard.job(tenant, job)
        return page(
            "job.html",
            tenant=tenant,
            job=job,
            runs=found,
            throughput=svg.series(found, "rows_per_s", "throughput (rows/s) per run", "rows/s"),
            durations=svg.series(found, "duration_s", "duration (s) per run", "s"),
        )

    routes = [
        Route("/", runs_page, methods=["GET"]),
        Route("/api/runs", runs_json, methods=["GET"]),
        Route("/runs/{run_id}", run_page, methods=["GET"]),
        Route("/api/runs/{run_id}", run_json, methods=["GET"]),
        Route("/jobs/{tenant}/{job}", job_page, methods=["GET"]),
    ]
    middleware = [Middleware(ReadOnly)]
    if token:
        middleware.append(Middleware(TokenAuth, token=token))
    return Starlette(routes=routes, middleware=middleware)
