"""The ASGI app: the store API (one route per store operation, generated from the interface), the
artifact proxy, health and info. Store calls are synchronous and run in the thread pool."""

from __future__ import annotations

import contextlib
import inspect
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, create_model
from starlette.exceptions import HTTPException as StarletteHTTPException

from shipyard._internal._wire import error_body
from shipyard.access import Principal, authenticate
from shipyard.access._tokens import ANONYMOUS
from shipyard.exceptions import InvalidParameter, NotFound, PermissionDenied, ShipyardError
from shipyard.server._authz import authorize, is_mutation, target
from shipyard.storage import _rest_protocol as proto

if TYPE_CHECKING:
    from shipyard.workspace import Workspace


class ErrorBody(BaseModel):
    """Every error of the platform API: what went wrong (a stable code and a message) and how to fix it."""

    error_code: str = Field(description="Stable machine-readable code, e.g. NOT_FOUND, QUOTA_EXCEEDED.")
    message: str = Field(description="What happened, what was expected.")
    hint: str | None = Field(None, description="How to fix it.")
    text: str | None = Field(None, description="Search filters: the filter that failed to parse.")
    position: int | None = Field(None, description="Search filters: where in `text` parsing failed.")


_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": what}
    for status, what in ((400, "Invalid input"), (401, "No or bad token"), (403, "Role too low, other project, or quota"),
                         (404, "No such record (or not visible to the caller)"), (409, "Already exists"),
                         (413, "Request body too large"), (422, "Request does not match the schema"),
                         (503, "Store unavailable or server busy"))
}


class NanJSONResponse(JSONResponse):
    """JSON that keeps NaN and ±Infinity (metric values can be non-finite)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, allow_nan=True, separators=(",", ":")).encode()


def _body_model(op: str) -> type[BaseModel]:
    sig, hints = proto.signature(op)
    fields: dict[str, Any] = {}
    for name, param in sig.parameters.items():
        if name == "self":
            continue
        annotation = hints.get(name, Any)
        default = ... if param.default is inspect.Parameter.empty else param.default
        if hasattr(BaseModel, name):  # e.g. "schema": keep the wire name, rename the attribute
            fields[f"{name}_"] = (annotation, Field(default, alias=name))
        else:
            fields[name] = (annotation, default)
    model = create_model(f"{''.join(p.title() for p in op.split('_'))}Request", **fields)
    model.model_config["populate_by_name"] = True
    return model  # type: ignore[no-any-return]


def _kwargs(body: BaseModel) -> dict[str, Any]:
    out = {}
    for name, info in type(body).model_fields.items():
        out[info.alias or name] = getattr(body, name)
    return out


def principal_of(request: Request) -> Principal:
    """The caller: anonymous admin on an open server, else from the bearer token."""
    if not request.app.state.auth:
        return ANONYMOUS
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("x-shipyard-token")
    return authenticate(request.app.state.workspace.metadata, token)


def audit(request: Request, principal: Principal, action: str, project: str | None, target_: str | None, status: int) -> None:
    store = request.app.state.workspace.metadata
    client = request.client.host if request.client else None
    store.append_audit(actor=principal.user, action=action, project=project, target=target_, status=status,
                       remote_addr=client, detail={"token": principal.token_id} if principal.token_id else None)


def _store_route(app: FastAPI, workspace: Workspace, op: str, admin: bool = False) -> None:
    model = _body_model(op)
    store = workspace.metadata
    method = getattr(store, op)

    def endpoint(request: Request, body: Any) -> Response:
        principal = principal_of(request)
        kwargs = _kwargs(body)
        if admin:
            if not principal.is_admin:
                raise PermissionDenied(f"{op} is for admins.")
            project = kwargs.get("project")
        else:
            project = authorize(store, principal, op, kwargs)
        mutation = admin and not op.startswith(("get_", "list_", "search_")) or (not admin and is_mutation(op))
        page = proto.page_size(op)
        if page is not None:  # at most one page per response; one extra row tells whether more remain
            limit = kwargs.get("limit")
            kwargs["limit"] = min(page if limit is None else limit, page) + 1 if limit != 0 else 0
        try:
            result = method(**kwargs)
        except ShipyardError as exc:
            if mutation:
                audit(request, principal, op, project, target(kwargs), exc.http_status)
            raise
        if mutation:
            audit(request, principal, op, project, target(kwargs), 200)
        if op == "list_projects" and principal.project is not None:
            result = [p for p in result if p.name == principal.project]
        headers = {}
        if page is not None and len(result) >= kwargs["limit"]:
            result = result[:-1]
            headers[proto.NEXT_OFFSET] = str(kwargs.get("offset", 0) + len(result))
        return NanJSONResponse(proto.encode(result), headers=headers)

    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
         inspect.Parameter("body", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=model)]
    )
    owner = type(store)
    doc = (getattr(owner, op).__doc__ or "").strip()
    prefix = proto.ADMIN_PREFIX if admin else proto.STORE_PREFIX
    app.post(f"{prefix}/{op}", name=op, summary=op.replace("_", " "), description=doc,
             tags=["admin" if admin else "store"], response_class=NanJSONResponse)(endpoint)


def create_app(workspace: Workspace | None = None, auth: bool = False) -> FastAPI:
    """The server app over ``workspace`` (default: the one the settings describe). With ``auth``,
    every call needs a token (``Authorization: Bearer sy_…``) and is checked against its role."""
    from shipyard._internal._version import VERSION as __version__
    from shipyard.workspace import build_workspace

    ws = workspace or build_workspace()
    if ws.remote:
        raise InvalidParameter("A Shipyard server needs a database store, not another server.")
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        scheduler = None
        if ws.settings.server_monitors:
            from shipyard.server._scheduler import MonitorScheduler

            scheduler = MonitorScheduler(ws, ws.settings.monitor_interval)
            scheduler.start()
        app.state.monitor_scheduler = scheduler
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="Shipyard",
        version=__version__,
        summary="The Shipyard platform API: experiments, runs, artifacts, models.",
        docs_url="/docs",
        openapi_url="/openapi.json",
        responses=_ERRORS,
    )
    app.state.workspace = ws
    app.state.auth = auth
    from shipyard.server._limits import RequestLimits, is_streaming

    app.add_middleware(RequestLimits, max_body_bytes=ws.settings.server_max_body_bytes,  # type: ignore[arg-type]
                       body_timeout=ws.settings.server_body_timeout, streaming=is_streaming)

    @app.exception_handler(ShipyardError)
    async def shipyard_error(request: Request, exc: ShipyardError) -> Response:
        return NanJSONResponse(error_body(exc), status_code=exc.http_status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """The framework's own errors (unparsable JSON, unknown route, wrong method) in the same model."""
        codes = {400: "INVALID_PARAMETER", 404: "ENDPOINT_NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}
        hints = {400: "Send a JSON object matching the request schema (see /docs).",
                 404: "Check the path against /docs.", 405: "Check the HTTP method against /docs."}
        body = {"error_code": codes.get(exc.status_code, "HTTP_ERROR"), "message": str(exc.detail),
                "hint": hints.get(exc.status_code)}
        return NanJSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return NanJSONResponse({"error_code": "INVALID_PARAMETER", "message": f"Invalid request: {problems}",
                                "hint": "Fix the fields listed; the request schemas are at /docs."}, status_code=422)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> Response:
        try:
            ws.metadata.list_projects()
        except ShipyardError as exc:
            return NanJSONResponse({"status": "unavailable", "reason": str(exc)}, status_code=503)
        return NanJSONResponse({"status": "ready"})

    @app.get(f"{proto.API_PREFIX}/info", tags=["store"])
    def info(request: Request) -> Response:
        principal_of(request)
        data = ws.metadata.info()
        data["server_version"] = __version__
        data["artifact_root"] = ws.artifacts.root_uri
        return NanJSONResponse(data)

    for op in proto.operations():
        _store_route(app, ws, op)
    for op in proto.admin_operations():
        _store_route(app, ws, op, admin=True)
    from shipyard.server._artifacts import _artifact_routes

    _artifact_routes(app, ws)
    from shipyard.server._mlflow import install

    install(app)
    from shipyard.server import _features

    _features.install(app, ws)
    from shipyard.ui import install as install_ui

    install_ui(app)

    @app.exception_handler(FileNotFoundError)
    async def missing(request: Request, exc: FileNotFoundError) -> Response:
        return NanJSONResponse(error_body(NotFound(str(exc))), status_code=404)

    return app


def app_from_settings() -> FastAPI:
    """Factory for ``uvicorn --factory`` (each worker process builds its own workspace)."""
    from shipyard.config import get_settings

    return create_app(auth=get_settings().server_auth)
