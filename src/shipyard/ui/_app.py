"""The UI's frame: mounting, the caller (cookie login), CSRF, rendering, errors.

Pages are plain functions ``(request, ctx) -> Response`` registered with :func:`page`; ``ctx`` is the
:class:`Ctx` of the call (workspace, principal, the project asked for). They call domain functions
(``TrackingClient``, ``Registry`` ...) and hand plain values to a template; no business logic lives in
handlers or templates.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, Router
from starlette.staticfiles import StaticFiles

from shipyard.access import Principal, authenticate
from shipyard.access._tokens import ANONYMOUS
from shipyard.entities import Role
from shipyard.exceptions import (
    AuthenticationError,
    InvalidParameter,
    NotFound,
    PermissionDenied,
    ShipyardError,
)

if TYPE_CHECKING:
    from jinja2 import Environment

    from shipyard.workspace import Workspace

PREFIX = "/ui"
COOKIE = "shipyard_token"
HERE = Path(__file__).resolve().parent
_SECRET = secrets.token_bytes(32)  # CSRF key of an open server (per process: a restart asks forms again)

Handler = Callable[[Request, "Ctx"], Any]
F = TypeVar("F", bound=Callable[..., Any])
_PAGES: list[tuple[str, Handler, tuple[str, ...], str]] = []


def page(path: str, methods: tuple[str, ...] = ("GET",), name: str | None = None) -> Callable[[F], F]:
    """Register a page handler at ``/ui<path>``."""

    def deco(fn: F) -> F:
        _PAGES.append((path, fn, methods, name or fn.__name__))
        return fn

    return deco


@dataclass
class Ctx:
    """What a handler knows about its call."""

    request: Request
    workspace: Workspace
    principal: Principal
    auth: bool

    def require(self, project: str, role: Role = Role.VIEWER) -> None:
        """Refuse the call unless the caller holds ``role`` in ``project`` (a project it cannot see is
        reported as missing, as the REST API does)."""
        if not self.principal.can(project, Role.VIEWER):
            raise NotFound(f"No project {project!r} that you can see.")
        self.principal.require(project, role)

    def can_edit(self, project: str) -> bool:
        return self.principal.can(project, Role.EDITOR)

    def projects(self) -> list[str]:
        names = [p.name for p in self.workspace.metadata.list_projects()]
        return [n for n in names if self.principal.can(n, Role.VIEWER)]

    def audit(self, action: str, project: str, target: str, status: int, detail: dict[str, Any] | None) -> None:
        """Append a UI change to the audit log (on an authenticated server, like the REST API's)."""
        if not self.auth:
            return
        store: Any = self.workspace.metadata
        client = self.request.client.host if self.request.client else None
        store.append_audit(actor=self.principal.user, action=action, project=project, target=target, status=status,
                           remote_addr=client, detail=detail)

    @contextlib.contextmanager
    def change(self, action: str, project: str, target: str, *, reason: str | None = None,
               role: Role = Role.EDITOR, why: str = "Say why (the reason is kept in the history).") -> Iterator[None]:
        """Around a change made from a form: the caller needs ``role`` in ``project`` (and, unless
        ``reason`` is None, a non-empty reason: ``why`` says what for); the attempt is audited, refused
        ones included."""
        status = 200
        try:
            self.require(project, role)
            if reason is not None and not reason:
                raise InvalidParameter(why)
            yield
        except ShipyardError as exc:
            status = exc.http_status
            raise
        finally:
            self.audit(action, project, target, status, {"reason": reason} if reason else None)

    @property
    def csrf(self) -> str:
        """The form token of this caller: a MAC of its bearer token (or of nothing, on an open server)."""
        return _csrf(self.request.cookies.get(COOKIE, ""))

    def check_csrf(self, form: Any) -> None:
        if not hmac.compare_digest(str(form.get("csrf", "")), self.csrf):
            raise PermissionDenied("The form is stale or came from another site: reload the page and try again.")


def _csrf(token: str) -> str:
    return hmac.new(_SECRET, f"csrf:{token}".encode(), hashlib.sha256).hexdigest()[:32]


def url(path: str, **query: Any) -> str:
    """``/ui<path>?query`` (None values dropped, lists repeated)."""
    pairs = [(k, v) for k, v in query.items() if v is not None and v != "" and v != []]
    qs = urllib.parse.urlencode(pairs, doseq=True)
    return f"{PREFIX}{path}" + (f"?{qs}" if qs else "")


def render(ctx: Ctx, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    env: Environment = ctx.request.app.state.ui_templates
    html = env.get_template(template).render(ctx=ctx, url=url, **values)
    return HTMLResponse(html, status_code=status_code)


def _templates() -> Environment:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    from shipyard.ui import _format

    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(_format.FILTERS)
    return env


async def read_form(request: Request) -> dict[str, str]:
    """A URL-encoded form's fields (the UI's forms post nothing else; the last value of a repeated
    field wins)."""
    body = await request.body()
    if len(body) > 64 * 1024:
        raise InvalidParameter("The form is too large.")
    return dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def _principal(request: Request) -> tuple[Principal, bool]:
    auth = bool(request.app.state.auth)
    if not auth:
        return ANONYMOUS, False
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else request.cookies.get(COOKIE)
    return authenticate(request.app.state.workspace.metadata, token), True


def _wrap(fn: Handler) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        try:
            principal, auth = _principal(request)
        except AuthenticationError:
            back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(url("/login", next=back), status_code=303)
        ctx = Ctx(request, request.app.state.workspace, principal, auth)
        try:
            if request.method == "POST":
                request.state.form = await read_form(request)
            result = await run_in_threadpool(fn, request, ctx)
        except ShipyardError as exc:
            return render(ctx, "error.html", status_code=exc.http_status, error=exc)
        return result  # type: ignore[no-any-return]

    return endpoint


def _login(request: Request) -> Response:
    """GET: the form; POST: check the token and keep it in a cookie."""
    env: Environment = request.app.state.ui_templates
    nxt = request.query_params.get("next") or f"{PREFIX}/"
    if not nxt.startswith(f"{PREFIX}/"):
        nxt = f"{PREFIX}/"  # never redirect off the UI
    return HTMLResponse(env.get_template("login.html").render(next=nxt, error=None, url=url))


async def _login_post(request: Request) -> Response:
    form = await read_form(request)
    token = str(form.get("token", "")).strip()
    nxt = str(form.get("next") or f"{PREFIX}/")
    if not nxt.startswith(f"{PREFIX}/"):
        nxt = f"{PREFIX}/"
    env: Environment = request.app.state.ui_templates
    try:
        authenticate(request.app.state.workspace.metadata, token)
    except AuthenticationError as exc:
        html = env.get_template("login.html").render(next=nxt, error=str(exc), url=url)
        return HTMLResponse(html, status_code=401)
    response = RedirectResponse(nxt, status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", max_age=14 * 86400,
                        secure=request.url.scheme == "https", path="/")
    return response


def _logout(request: Request) -> Response:
    response = RedirectResponse(url("/login"), status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


class _Static(StaticFiles):
    """The package's static files, cached by browsers for a day (their names change with the vendored
    version)."""

    async def get_response(self, path: str, scope: Any) -> Response:
        response = await super().get_response(path, scope)
        response.headers.setdefault("cache-control", "public, max-age=86400")
        return response


def build_router() -> Router:
    from shipyard.ui import _admin, _deployments, _features, _models, _monitors, _runs  # noqa: F401 - registers pages

    routes: list[Any] = [
        Route("/login", _login, methods=["GET"], name="login"),
        Route("/login", _login_post, methods=["POST"]),
        Route("/logout", _logout, methods=["GET", "POST"], name="logout"),
        Mount("/static", _Static(directory=HERE / "static"), name="static"),
    ]
    routes += [Route(path, _wrap(fn), methods=list(methods), name=name) for path, fn, methods, name in _PAGES]
    return Router(routes=routes)


def install(app: Any) -> None:
    """Mount the UI at ``/ui`` of ``app`` (a server app from ``shipyard.server.create_app``) and send
    ``/`` there."""
    app.state.ui_templates = _templates()
    app.state.ui_started = time.time()
    app.mount(PREFIX, build_router(), name="ui")

    async def root(request: Request) -> Response:
        return RedirectResponse(f"{PREFIX}/", status_code=307)

    app.add_route("/", root, methods=["GET"], include_in_schema=False)
