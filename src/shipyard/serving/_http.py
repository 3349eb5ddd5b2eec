"""The HTTP side of the inference server: Starlette endpoints for Shipyard's own protocol, MLflow's
scoring protocol and the Open Inference Protocol (KServe V2), health, metrics and feedback; one error
shape per protocol."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import os
import re
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson
from starlette.applications import Starlette
from starlette.datastructures import Address
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as HttpRoute

from shipyard._internal._asgi import RequestLimits, read_body
from shipyard._internal._version import VERSION
from shipyard.exceptions import (
    ContractViolation,
    InvalidParameter,
    NotFound,
    Overloaded,
    RateLimited,
    ShipyardError,
)
from shipyard.serving import _codec

if TYPE_CHECKING:
    from shipyard.serving._app import InferenceServer, Served, Target

log = logging.getLogger(__name__)


class ModelFailed(ShipyardError):
    """The model raised on a request that passed validation."""

    http_status = 500
    error_code = "MODEL_ERROR"
    default_hint = "The server log has the traceback (search it for the request id); check the model with this input."


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status, headers=headers,
                    media_type="application/json")


def _problems(exc: ContractViolation) -> list[dict[str, str]]:
    out = []
    for line in str(exc).splitlines():
        if line.startswith("- ") and ": " in line:
            name, problem = line[2:].split(": ", 1)
            out.append({"field": name, "problem": problem})
    return out


def _error(exc: ShipyardError, protocol: str) -> Response:
    headers = {"retry-after": "1"} if isinstance(exc, Overloaded) else None
    if isinstance(exc, RateLimited):
        headers = {"retry-after": str(max(1, math.ceil(exc.retry_after)))}
    if protocol == "v2":
        return _json({"error": str(exc)}, exc.http_status, headers)
    body: dict[str, Any] = {"error_code": exc.error_code, "message": str(exc), "hint": exc.hint}
    if isinstance(exc, ContractViolation):
        body["problems"] = _problems(exc)
    return _json(body, exc.http_status, headers)


async def _body_of(request: Request | _Lite) -> Any:
    raw = await request.body()
    binary = request.headers.get("inference-header-content-length")
    if binary is not None:  # the Open Inference Protocol's binary tensor extension
        if not binary.isdigit():
            raise InvalidParameter("Inference-Header-Content-Length must be a byte count.")
        return _codec.split_v2_binary(raw, int(binary))
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidParameter("The request body is not valid JSON.") from None


def _v2_metadata(target: Target) -> dict[str, Any]:
    served = next(iter(target.routes.values()))
    inputs = [{"name": c, "datatype": _v2_type(served, c), "shape": [-1]} for c in served.columns or []]
    outputs = [{"name": "predict", "datatype": "BYTES", "shape": [-1]}]
    if served.model.has_proba:
        outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, -1]})
    return {"name": target.name, "versions": sorted({str(s.version.version) for s in target.routes.values()}),
            "platform": f"shipyard/{served.model.flavor}", "inputs": inputs, "outputs": outputs}


def _labels(body: Any) -> dict[str, Any]:
    if isinstance(body, list) and all(isinstance(i, dict) and "request_id" in i and "label" in i for i in body):
        return {str(i["request_id"]): i["label"] for i in body}
    if isinstance(body, dict) and isinstance(body.get("labels"), dict):
        return {str(k): v for k, v in body["labels"].items()}
    raise InvalidParameter('Send {"labels": {"<request id>": label}} or [{"request_id": ..., "label": ...}].')


def _payload(protocol: str, target: Target, served: Served, body: Any, request_id: str, preds: Any,
             probas: Any) -> dict[str, Any]:
    if protocol == "v2":
        return _codec.encode_v2(target.name, str(served.version.version), str(body.get("id") or request_id), preds, probas)
    if protocol == "mlflow":
        return {"predictions": _codec.plain(preds)}
    payload = {"predictions": _codec.plain(preds), "model_version": served.label, "request_id": request_id}
    if probas is not None:
        payload["probabilities"] = _codec.plain(probas)
    return payload


def _v2_type(served: Served, column: str) -> str:
    spec = {c["name"]: c for c in (served.model.signature or {}).get("inputs", {}).get("columns", [])}
    dtype = str(spec.get(column, {}).get("dtype", ""))
    if dtype.startswith("float"):
        return "FP64"
    if dtype.startswith(("int", "uint")):
        return "INT64"
    return "BOOL" if dtype == "bool" else "BYTES"


class Handlers:
    """The endpoints of one inference server."""

    def __init__(self, server: InferenceServer) -> None:
        self.server = server

    async def _authenticate(self, request: Request | _Lite) -> str:
        """With auth on, check the bearer token (a remembered grant on the loop, else in a thread);
        returns the Authorization header."""
        header = request.headers.get("authorization", "")
        if self.server.auth and not self.server.authorized(header):
            await asyncio.to_thread(self.server.authorize, header)
        return header

    async def _handle(self, request: Request | _Lite, name: str | None, protocol: str, endpoint: str) -> Response:
        server = self.server
        started = time.perf_counter()
        request_id = request.headers.get("x-request-id") or os.urandom(16).hex()
        model, version, code, error = name or "", "", 500, "MODEL_FAILED"
        target: Target | None = None
        trace: dict[str, Any] = {}  # what answer() got to (the route), for the error log
        try:
            header = await self._authenticate(request)
            server.throttle(header or (request.client.host if request.client else ""))
            target = server.target(name) if name is not None else server.default
            model = target.name
            body = await _body_of(request)
            served, preds, probas = await server.answer(target, body, protocol, request_id, trace)
            version, code = served.label, 200
            return _json(_payload(protocol, target, served, body, request_id, preds, probas),
                         headers={"x-request-id": request_id})
        except ShipyardError as exc:
            code, error = exc.http_status, exc.error_code
            return _error(exc, protocol)
        except Exception as exc:  # noqa: BLE001 - the model itself failed: answered in the protocol's shape
            log.exception("Request %s to %s failed", request_id, model)
            return _error(ModelFailed(f"The model failed on this request: {type(exc).__name__}: {exc}"), protocol)
        finally:
            elapsed = time.perf_counter() - started
            server.metrics.request(model, version, endpoint, protocol, code, elapsed)
            if code != 200 and "answering" in trace and target is not None and target.log is not None:
                # a failure of the request itself (input refused, the model failed, overload), not of
                # access control: counted in the deployment's error log for its error rate
                target.log.log_error(request_id, route=trace.get("route"), status=code, error=error,
                                     latency_ms=elapsed * 1000, ts=server.clock() if server.clock else None)

    async def predict_model(self, request: Request) -> Response:
        return await self._handle(request, request.path_params["ref"], "shipyard", "predict")

    async def predict_deployment(self, request: Request) -> Response:
        return await self._deployment(request, request.path_params["name"])

    async def _deployment(self, request: Any, name: str) -> Response:
        target = self.server.targets.get(name)
        if target is None or not target.deployment:
            return _error(NotFound(f"This server does not serve the deployment {name!r}."), "shipyard")
        return await self._handle(request, name, "shipyard", "predict")

    async def feedback(self, request: Request) -> Response:
        """Ground-truth labels for earlier requests: ``{"labels": {"<request id>": label, ...}}`` or
        ``[{"request_id": ..., "label": ...}, ...]``; written to the deployment's prediction log. A list
        labels a batch request row by row. Answers how many rows were labelled."""
        from shipyard.monitoring import record_feedback

        server = self.server
        name = request.path_params["name"]
        try:
            await self._authenticate(request)
            target = server.target(name)
            if not target.deployment:
                raise NotFound(f"This server does not serve the deployment {name!r}.")
            labels = _labels(await _body_of(request))
            count = await asyncio.to_thread(record_feedback, server.workspace, server.project, name, labels)
        except ShipyardError as exc:
            return _error(exc, "shipyard")
        return _json({"recorded": count})

    async def invocations(self, request: Request) -> Response:
        return await self._handle(request, None, "mlflow", "invocations")

    async def v2_infer(self, request: Request) -> Response:
        return await self._handle(request, request.path_params["name"], "v2", "infer")

    async def v2_live(self, request: Request) -> Response:
        return _json({"live": True})

    async def v2_ready(self, request: Request) -> Response:
        return _json({"ready": True})

    async def v2_server(self, request: Request) -> Response:
        return _json({"name": "shipyard", "version": VERSION, "extensions": ["binary_tensor_data"]})

    async def v2_model(self, request: Request) -> Response:
        try:
            return _json(_v2_metadata(self.server.target(request.path_params["name"])))
        except ShipyardError as exc:
            return _error(exc, "v2")

    async def v2_model_ready(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in self.server.targets:
            return _json({"error": f"Model {name} is not served here."}, 404)
        return _json({"name": name, "ready": True})

    async def healthz(self, request: Request) -> Response:
        return _json({"status": "ok"})

    async def metrics(self, request: Request) -> Response:
        data, content_type = self.server.metrics.render()
        return Response(data, media_type=content_type)

    def routes(self) -> list[HttpRoute]:
        post, get = ["POST"], ["GET"]
        return [
            HttpRoute("/v1/models/{ref:path}/predict", self.predict_model, methods=post),
            HttpRoute("/v1/deployments/{name}/predict", self.predict_deployment, methods=post),
            HttpRoute("/v1/deployments/{name}/feedback", self.feedback, methods=post),
            HttpRoute("/invocations", self.invocations, methods=post),
            HttpRoute("/v2", self.v2_server, methods=get),
            HttpRoute("/v2/health/live", self.v2_live, methods=get),
            HttpRoute("/v2/health/ready", self.v2_ready, methods=get),
            HttpRoute("/v2/models/{name}", self.v2_model, methods=get),
            HttpRoute("/v2/models/{name}/versions/{version}", self.v2_model, methods=get),
            HttpRoute("/v2/models/{name}/ready", self.v2_model_ready, methods=get),
            HttpRoute("/v2/models/{name}/versions/{version}/ready", self.v2_model_ready, methods=get),
            HttpRoute("/v2/models/{name}/infer", self.v2_infer, methods=post),
            HttpRoute("/v2/models/{name}/versions/{version}/infer", self.v2_infer, methods=post),
            HttpRoute("/healthz", self.healthz, methods=get),
            HttpRoute("/readyz", self.healthz, methods=get),
            HttpRoute("/ping", self.healthz, methods=get),
            HttpRoute("/metrics", self.metrics, methods=get),
        ]


_PREDICT = re.compile(r"/v1/deployments/([^/]+)/predict|/v1/models/(.+)/predict|/v2/models/([^/]+)(?:/versions/[^/]+)?/infer"
                      r"|/invocations")


class _Lite:
    """What the predict handlers read of a request, straight from the ASGI scope."""

    __slots__ = ("_body", "client", "headers")

    def __init__(self, scope: dict[str, Any], body: bytes) -> None:
        self.headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        client = scope.get("client")
        self.client = Address(client[0], client[1]) if client else None
        self._body = body

    async def body(self) -> bytes:
        return self._body


class FastPath:
    """The predict endpoints as plain ASGI, ahead of the framework's routing and request objects —
    the hottest path in the project; everything else goes on to the Starlette app."""

    def __init__(self, app: Any, handlers: Handlers) -> None:
        self.app, self.handlers = app, handlers

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        match = _PREDICT.fullmatch(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if match is None:
            await self.app(scope, receive, send)
            return
        raw = await read_body(receive)
        if raw is None:
            return  # the client went away
        request = _Lite(scope, raw)
        deployment, model, v2 = match.groups()
        if deployment is not None:
            response = await self.handlers._deployment(request, deployment)
        elif model is not None:
            response = await self.handlers._handle(request, model, "shipyard", "predict")
        elif v2 is not None:
            response = await self.handlers._handle(request, v2, "v2", "infer")
        else:
            response = await self.handlers._handle(request, None, "mlflow", "invocations")
        await response(scope, receive, send)


def build_app(server: InferenceServer) -> ServingApp:
    """The ASGI app of ``server``: its endpoints, the body-size and idle limits, and a watcher that
    swaps in new models when aliases move or deployments change."""

    async def watch() -> None:
        while True:
            await asyncio.sleep(server.reload_seconds)
            try:
                swapped = await asyncio.to_thread(server.refresh)
            except Exception:  # noqa: BLE001 - keep serving what is loaded; try again at the next tick
                log.warning("Could not refresh the served models", exc_info=True)
                continue
            if swapped:
                gc.freeze()  # the new models' objects join the permanent generation
                log.info("Swapped in new models for %s", ", ".join(swapped))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        watcher = asyncio.get_running_loop().create_task(watch()) if server.reload_seconds > 0 else None
        # Everything loaded so far (libraries, models) lives as long as the server: move it out of the
        # collector's way, so a full collection scans only what requests allocate — no long pauses.
        gc.collect()
        gc.freeze()
        yield
        if watcher is not None:
            watcher.cancel()
        server.close()

    handlers = Handlers(server)
    app = Starlette(routes=handlers.routes(), lifespan=lifespan)
    app.state.server = server
    settings = server.workspace.settings
    # The limits and the predict fast path wrap the Starlette app from outside, so a prediction skips
    # Starlette's middleware stack (its error middleware wraps every send) as well as its routing.
    return ServingApp(FastPath(app, handlers), state=app.state, max_body_bytes=settings.server_max_body_bytes,
                      body_timeout=settings.server_body_timeout)


class ServingApp(RequestLimits):
    """The inference server's ASGI app: body-size and idle limits, then the predict fast path, then
    the Starlette app (health, metrics, metadata, feedback) — whose ``state`` it exposes."""

    def __init__(self, app: Any, *, state: Any, max_body_bytes: int, body_timeout: float) -> None:
        super().__init__(app, max_body_bytes=max_body_bytes, body_timeout=body_timeout)
        self.state = state
