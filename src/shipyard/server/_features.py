"""Online feature reads over HTTP: ``POST /v1/features/online`` and, for existing Feast clients (e.g.
KServe's Feast transformer), the same at ``POST /get-online-features`` — Feast's request and
response shapes (column-oriented results with a status and an event time per value)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import FastAPI, Request
from pydantic import BaseModel, Field

from shipyard._internal._asgi import read_body
from shipyard._internal._time import parse_when
from shipyard._internal._wire import error_body
from shipyard.entities import Role
from shipyard.exceptions import InvalidParameter, ShipyardError

if TYPE_CHECKING:
    from shipyard.workspace import Workspace


class OnlineFeaturesRequest(BaseModel):
    """Feature references and the entities' join keys (column-wise), as Feast's feature server takes them."""

    features: list[str] = Field(description="'view:feature' references ('view:*' for all of a view's features).")
    entities: dict[str, list[Any]] = Field(description="Join-key (and request-field) columns, e.g. "
                                                       "{\"origin\": [\"JFK\", \"LGA\"]}.")
    full_feature_names: bool = Field(False, description="Name features 'view__feature'.")
    project: str | None = Field(None, description="Project of the feature views (default: the server's).")
    at: str | None = Field(None, description="Judge TTLs at this ISO-8601 time instead of now.")
    feature_service: str | None = Field(None, description="Not supported: list the features instead.")


class OnlineFeatureResult(BaseModel):
    values: list[Any]
    statuses: list[str] = Field(description="PRESENT, NULL_VALUE, NOT_FOUND or OUTSIDE_MAX_AGE per value.")
    event_timestamps: list[str | None]


class OnlineFeaturesResponse(BaseModel):
    metadata: dict[str, list[str]] = Field(description="{\"feature_names\": [join keys..., features...]}")
    results: list[OnlineFeatureResult]


PATHS = ("/v1/features/online", "/get-online-features")
_AUTH_CACHE_S = 30.0


class OnlineFeatureService:
    """Answers an online-features request (raw JSON in, status and JSON out) for one server: one reader
    per project (definitions cached), and tokens granted remembered for 30 s."""

    def __init__(self, ws: Workspace, auth: bool) -> None:
        from shipyard.features._online import OnlineReader

        self.ws, self.auth = ws, auth
        self.readers: dict[str, OnlineReader] = {}
        self.granted: dict[tuple[str, str], float] = {}

    def answer(self, scope: Mapping[str, Any], raw: bytes) -> tuple[int, bytes]:
        from shipyard.features._online import OnlineReader

        try:
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise InvalidParameter(f"The body is not JSON: {exc}") from None
            request = _checked(body)
            project = request.get("project") or self.ws.settings.project
            self.authorize(scope, project)
            reader = self.readers.get(project)
            if reader is None:
                reader = self.readers[project] = OnlineReader(project, store=self.ws.metadata)
            at = request.get("at")
            result = reader.read(request["features"], request["entities"], at_ms=parse_when(at) if at else None,
                                 full_names=bool(request.get("full_feature_names")), store=self.ws.online)
            return 200, orjson.dumps(result.to_response(), option=orjson.OPT_SERIALIZE_NUMPY)
        except ShipyardError as exc:
            return exc.http_status, orjson.dumps(error_body(exc))

    def authorize(self, scope: Mapping[str, Any], project: str) -> None:
        """A viewer (or better) of ``project`` when the server requires tokens."""
        import time

        from shipyard.access import authenticate

        if not self.auth:
            return
        headers = dict(scope.get("headers") or [])
        header = headers.get(b"authorization", b"").decode("latin-1")
        token = header[7:].strip() if header.lower().startswith("bearer ") else \
            headers.get(b"x-shipyard-token", b"").decode("latin-1")
        now = time.monotonic()
        if self.granted.get((token, project), 0.0) > now:
            return
        authenticate(self.ws.metadata, token or None).require(project, Role.VIEWER)  # type: ignore[arg-type]
        if len(self.granted) > 10_000:
            self.granted.clear()
        self.granted[(token, project)] = now + _AUTH_CACHE_S


class OnlineFastPath:
    """``POST /v1/features/online`` as plain ASGI, ahead of the framework's routing, validation and
    thread pool (an online read is a few dozen microseconds; the framework around it was most of the
    latency). Sits inside the server's request limits. The FastAPI route documents the same shapes in
    the OpenAPI schema and calls the same :class:`OnlineFeatureService` if it is ever reached."""

    def __init__(self, app: Any, service: OnlineFeatureService) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in PATHS:
            await self.app(scope, receive, send)
            return
        raw = await read_body(receive)
        if raw is None:
            return  # the client went away
        status, payload = self.service.answer(scope, raw)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})


def _checked(body: Any) -> dict[str, Any]:
    """The request body, or 422 naming what is wrong (the shapes of :class:`OnlineFeaturesRequest`)."""
    problems = []
    if not isinstance(body, dict):
        raise InvalidParameter("Invalid request: the body must be a JSON object with 'features' and 'entities'.")
    features, entities = body.get("features"), body.get("entities")
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        problems.append("features: a list of 'view:feature' strings is required")
    if not isinstance(entities, dict) or not all(isinstance(v, list) for v in entities.values()):
        problems.append("entities: an object of join-key columns (lists) is required")
    if body.get("feature_service") is not None:
        problems.append("feature_service: not supported, list the features instead")
    for key in ("project", "at"):
        if body.get(key) is not None and not isinstance(body[key], str):
            problems.append(f"{key}: a string is expected")
    if problems:
        raise _Unprocessable(f"Invalid request: {'; '.join(problems)}")
    return body


class _Unprocessable(InvalidParameter):
    http_status = 422


def install(app: FastAPI, ws: Workspace) -> None:
    from fastapi.responses import Response
    from starlette.middleware import Middleware

    service = OnlineFeatureService(ws, app.state.auth)

    async def online_features(request: Request, body: OnlineFeaturesRequest) -> Any:
        status, payload = service.answer(request.scope, await request.body())
        return Response(payload, status_code=status, media_type="application/json")

    for path, name in (("/v1/features/online", "online_features"), ("/get-online-features", "get_online_features")):
        app.post(path, name=name, tags=["features"], response_model=OnlineFeaturesResponse,
                 summary="Read online feature values" + (" (Feast-compatible path)" if "get" in path else ""))(
            online_features)
    app.user_middleware.append(Middleware(OnlineFastPath, service=service))  # innermost: inside the request limits
