"""The inference server: models and deployments behind Shipyard's own endpoints, the Open Inference
Protocol (KServe V2) and MLflow's scoring protocol, with micro-batching, request validation against
the model signature, traffic splitting, shadow traffic, the prediction log and Prometheus metrics.

Per request: decode (orjson) → validate against the signature (422 listing every problem) → route
(deployment weights, sticky key) → the model's micro-batch queue (503 with Retry-After when full) →
encode. Off the path: shadow calls, the prediction-log append, metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as HttpRoute

from shipyard._internal._version import VERSION
from shipyard.entities import ModelVersion
from shipyard.exceptions import (
    ContractViolation,
    InvalidParameter,
    NotFound,
    Overloaded,
    RateLimited,
    ShipyardError,
)
from shipyard.models._signature import enforce, input_columns
from shipyard.serving import _codec
from shipyard.serving._batch import _argmax_labels
from shipyard.serving._batcher import Batcher
from shipyard.serving._deployments import Deployments, model_ref
from shipyard.serving._metrics import Metrics
from shipyard.serving._routing import Router

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from shipyard.models import LoadedModel
    from shipyard.monitoring import PredictionLog
    from shipyard.workspace import Workspace


@dataclass
class Served:
    """One loaded model version with its batch queue."""

    ref: str
    version: ModelVersion
    model: LoadedModel
    batcher: Batcher
    columns: list[str] | None

    @property
    def label(self) -> str:
        return f"{self.version.name}/{self.version.version}"


@dataclass
class Target:
    """What a name answers with: one model, or a deployment's routes (+ shadows)."""

    name: str
    routes: dict[str, Served]
    router: Router
    sticky_key: str | None = None
    shadow: list[Served] = field(default_factory=list)
    log: PredictionLog | None = None
    deployment: bool = False


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


class InferenceServer:
    def __init__(self, workspace: Workspace, project: str, *, models: list[str] = (), deployments: list[str] = (),  # type: ignore[assignment]
                 max_queue: int = 1024, log_predictions: bool = True, reload_seconds: float = 2.0,
                 auth: bool = False, rate_limit: float | None = None, burst: int | None = None) -> None:
        self.workspace, self.project = workspace, project
        self.auth = auth
        self.rate_limit = rate_limit
        self.burst = float(burst if burst is not None else max(1, int(rate_limit or 1)))
        self._buckets: dict[str, tuple[float, float]] = {}
        self._granted: dict[str, float] = {}
        self.deps = Deployments(workspace, project)
        self.metrics = Metrics()
        self.max_queue = max_queue
        self.reload_seconds = reload_seconds
        self._log_predictions = log_predictions
        self._by_version: dict[str, Served] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._models = [model_ref(r) for r in models]
        self._deployments = list(deployments)
        self._state: dict[str, Any] = {}
        self.targets: dict[str, Target] = {}
        self.refresh()
        if not self.targets:
            raise InvalidParameter("Serve at least one model (models:/name@alias) or deployment (--deployment NAME).")
        self.default = next(iter(self.targets.values()))

    # -- loading and hot swap ------------------------------------------------------------------------
    def refresh(self) -> list[str]:
        """Re-resolve every served reference (aliases move, deployments change); load and warm what
        changed, then swap it in with one assignment, so requests never see a half-loaded model.
        Returns the names swapped."""
        swapped = []
        for ref in self._models:
            version = self.deps.registry.resolve_version(f"models:/{ref}")
            if self._state.get(ref) != (version.name, version.version):
                served = self._load(ref, 64, 2)
                target = Target(served.version.name, {served.ref: served}, Router([_route(served.ref)]))
                self.targets[served.version.name] = target
                self.targets[served.ref] = target
                self._state[ref] = (version.name, version.version)
                swapped.append(ref)
        for name in self._deployments:
            d = self.deps.store.get_deployment(self.project, name)
            refs = [r.model for r in d.routes] + list(d.shadow)
            resolved = (d.revision, tuple(self.deps.registry.resolve_version(f"models:/{r}").version for r in refs))
            if self._state.get(name) != resolved:
                old = self.targets.get(name)
                self.targets[name] = self._deployment(name, self._log_predictions, old.log if old else None)
                self._state[name] = resolved
                swapped.append(name)
        if swapped:
            live = {s.label for t in self.targets.values() for s in [*t.routes.values(), *t.shadow]}
            for key in [k for k in self._by_version if k not in live]:
                del self._by_version[key]  # queued work still completes: the batcher's task holds it
        return swapped

    def _load(self, ref: str, max_batch: int, max_wait_ms: float) -> Served:
        version = self.deps.registry.resolve_version(f"models:/{ref}")
        key = f"{version.name}/{version.version}"
        if key in self._by_version:  # one load and one queue per version, whatever names reach it
            return dataclasses.replace(self._by_version[key], ref=ref)
        started = time.perf_counter()
        model = self.deps.registry.load_model(f"models:/{key}")
        example = model.input_example()
        if example is not None:
            model.predict(example)  # warm: the first real request does not pay for lazy initialisation
        self.metrics.model_loaded(version.name, str(version.version), time.perf_counter() - started)
        labels = (version.name, str(version.version))

        def score(frame: Any) -> tuple[Any, Any]:
            probas = model.predict_proba(frame) if model.has_proba else None
            classes = _argmax_labels(model, probas)
            if classes is not None and probas is not None:
                return classes[probas.argmax(axis=1)], probas
            return model.predict(frame), probas

        batcher = Batcher(score, max_batch_size=max_batch, max_wait_ms=max_wait_ms, max_queue=self.max_queue,
                          observe=lambda rows, waited, reason: self.metrics.batch(labels, rows, waited, reason))
        self.metrics.queue_depth(labels, lambda: batcher.depth)
        served = Served(ref, version, model, batcher, input_columns(model.signature) if model.signature else None)
        self._by_version[key] = served
        return served

    def _deployment(self, name: str, log_predictions: bool, log: PredictionLog | None = None) -> Target:
        from shipyard.monitoring import PredictionLog

        d = self.deps.store.get_deployment(self.project, name)
        batch, wait = int(d.config.get("max_batch_size", 64)), float(d.config.get("max_wait_ms", 2))
        routes = {r.model: self._load(r.model, batch, wait) for r in d.routes if r.weight > 0}
        shadow = [self._load(s, batch, wait) for s in d.shadow]
        if log is None and log_predictions:
            log = PredictionLog(self.workspace, self.project, name)
        return Target(name, routes, Router(d.routes), d.sticky_key, shadow, log, deployment=True)

    # -- the request path -------------------------------------------------------------------------------
    def target(self, name: str) -> Target:
        target = self.targets.get(name)
        if target is None:
            raise NotFound(f"This server does not serve {name!r}; it serves {', '.join(sorted(self.targets))}.")
        return target

    async def answer(self, target: Target, frame: Any, request_id: str) -> tuple[Served, Any, Any]:
        key = None
        if target.sticky_key is not None and target.sticky_key in frame.columns and len(frame):
            key = str(frame[target.sticky_key].iloc[0])
        served = target.routes[target.router.choose(key)]
        validated = enforce(frame, served.model.signature, served.model.extra)
        started = time.perf_counter()
        preds, probas = await served.batcher.submit(validated)
        if target.deployment:
            self.metrics.route(target.name, served.ref)
            if target.log is not None:
                target.log.log(request_id, route=served.ref, model_version=served.label,
                               inputs=frame.to_dict("records"), predictions=_codec.plain(preds),
                               probabilities=None if probas is None else _codec.plain(probas),
                               latency_ms=(time.perf_counter() - started) * 1000)
            for shadow in target.shadow:
                task = asyncio.get_running_loop().create_task(self._shadow(target, shadow, frame, request_id))
                self._background.add(task)  # the loop keeps only weak references to tasks
                task.add_done_callback(self._background.discard)
        return served, preds, probas

    async def _shadow(self, target: Target, served: Served, frame: Any, request_id: str) -> None:
        """Mirror a request to a shadow model: logged, never returned; its failures touch nothing live."""
        try:
            preds, probas = await served.batcher.submit(enforce(frame, served.model.signature, served.model.extra))
            self.metrics.route(target.name, f"shadow:{served.ref}")
            if target.log is not None:
                target.log.log(request_id, route=f"shadow:{served.ref}", model_version=served.label,
                               inputs=frame.to_dict("records"), predictions=_codec.plain(preds),
                               probabilities=None if probas is None else _codec.plain(probas))
        except Exception:  # noqa: BLE001 - a shadow's failure is counted, never raised
            self.metrics.shadow_failed(target.name, served.ref)

    def throttle(self, caller: str) -> None:
        """Per-caller token bucket: ``rate_limit`` requests/s with bursts of ``burst``; over it,
        RateLimited (429) with the seconds until the next request is allowed."""
        if self.rate_limit is None:
            return
        now = time.monotonic()
        tokens, last = self._buckets.get(caller, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate_limit)
        if tokens < 1.0:
            self._buckets[caller] = (tokens, now)
            wait = (1.0 - tokens) / self.rate_limit
            raise RateLimited(f"Over the rate limit of {self.rate_limit:g} requests/s for this caller.", retry_after=wait)
        if len(self._buckets) > 100_000:
            self._buckets.clear()
        self._buckets[caller] = (tokens - 1.0, now)

    def authorize(self, header: str) -> None:
        """With auth on, a viewer (or better) token of the served project is needed. Granted tokens are
        remembered for 30 s (a revoked token is refused within that time)."""
        from shipyard.access import authenticate
        from shipyard.entities import Role

        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        now = time.monotonic()
        if self._granted.get(token or "", 0.0) > now:
            return
        principal = authenticate(self.workspace.metadata, token)  # type: ignore[arg-type]
        principal.require(self.project, Role.VIEWER)
        if len(self._granted) > 10_000:
            self._granted.clear()
        self._granted[token or ""] = now + 30.0

    def close(self) -> None:
        for target in self.targets.values():
            if target.log is not None:
                target.log.close()


def _route(ref: str) -> Any:
    from shipyard.entities import Route

    return Route(ref, 100)


# -- HTTP ------------------------------------------------------------------------------------------------

async def _body_of(request: Request) -> Any:
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


def build_app(server: InferenceServer) -> Starlette:
    """The ASGI app of ``server``."""

    async def handle(request: Request, name: str | None, protocol: str, endpoint: str) -> Response:
        started = time.perf_counter()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        model, version, code = name or "", "", 200
        try:
            header = request.headers.get("authorization", "")
            if server.auth:
                await asyncio.to_thread(server.authorize, header)
            server.throttle(header or (request.client.host if request.client else ""))
            target = server.target(name) if name is not None else server.default
            model = target.name
            body = await _body_of(request)
            columns = next(iter(target.routes.values())).columns
            decode = {"shipyard": _codec.decode_shipyard, "mlflow": _codec.decode_mlflow, "v2": _codec.decode_v2}[protocol]
            frame = decode(body, columns)
            served, preds, probas = await server.answer(target, frame, request_id)
            version = served.label
            return _json(_payload(protocol, target, served, body, request_id, preds, probas),
                         headers={"x-request-id": request_id})
        except ShipyardError as exc:
            code = exc.http_status
            return _error(exc, protocol)
        finally:
            server.metrics.request(model, version, endpoint, protocol, code, time.perf_counter() - started)

    async def predict_model(request: Request) -> Response:
        return await handle(request, request.path_params["ref"], "shipyard", "predict")

    async def predict_deployment(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in server.targets or not server.targets[name].deployment:
            return _error(NotFound(f"This server does not serve the deployment {name!r}."), "shipyard")
        return await handle(request, name, "shipyard", "predict")

    async def feedback(request: Request) -> Response:
        """Ground-truth labels for earlier requests: ``{"labels": {"<request id>": label, ...}}`` or
        ``[{"request_id": ..., "label": ...}, ...]``; written to the deployment's prediction log."""
        from shipyard.monitoring import record_feedback

        name = request.path_params["name"]
        try:
            if server.auth:
                await asyncio.to_thread(server.authorize, request.headers.get("authorization", ""))
            target = server.target(name)
            if not target.deployment:
                raise NotFound(f"This server does not serve the deployment {name!r}.")
            labels = _labels(await _body_of(request))
            count = await asyncio.to_thread(record_feedback, server.workspace, server.project, name, labels)
        except ShipyardError as exc:
            return _error(exc, "shipyard")
        return _json({"recorded": count})

    async def invocations(request: Request) -> Response:
        return await handle(request, None, "mlflow", "invocations")

    async def v2_infer(request: Request) -> Response:
        return await handle(request, request.path_params["name"], "v2", "infer")

    async def v2_live(request: Request) -> Response:
        return _json({"live": True})

    async def v2_ready(request: Request) -> Response:
        return _json({"ready": True})

    async def v2_server(request: Request) -> Response:
        return _json({"name": "shipyard", "version": VERSION, "extensions": []})

    async def v2_model(request: Request) -> Response:
        try:
            return _json(_v2_metadata(server.target(request.path_params["name"])))
        except ShipyardError as exc:
            return _error(exc, "v2")

    async def v2_model_ready(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in server.targets:
            return _json({"error": f"Model {name} is not served here."}, 404)
        return _json({"name": name, "ready": True})

    async def healthz(request: Request) -> Response:
        return _json({"status": "ok"})

    async def metrics(request: Request) -> Response:
        data, content_type = server.metrics.render()
        return Response(data, media_type=content_type)

    routes = [
        HttpRoute("/v1/models/{ref:path}/predict", predict_model, methods=["POST"]),
        HttpRoute("/v1/deployments/{name}/predict", predict_deployment, methods=["POST"]),
        HttpRoute("/v1/deployments/{name}/feedback", feedback, methods=["POST"]),
        HttpRoute("/invocations", invocations, methods=["POST"]),
        HttpRoute("/v2", v2_server, methods=["GET"]),
        HttpRoute("/v2/health/live", v2_live, methods=["GET"]),
        HttpRoute("/v2/health/ready", v2_ready, methods=["GET"]),
        HttpRoute("/v2/models/{name}", v2_model, methods=["GET"]),
        HttpRoute("/v2/models/{name}/versions/{version}", v2_model, methods=["GET"]),
        HttpRoute("/v2/models/{name}/ready", v2_model_ready, methods=["GET"]),
        HttpRoute("/v2/models/{name}/versions/{version}/ready", v2_model_ready, methods=["GET"]),
        HttpRoute("/v2/models/{name}/infer", v2_infer, methods=["POST"]),
        HttpRoute("/v2/models/{name}/versions/{version}/infer", v2_infer, methods=["POST"]),
        HttpRoute("/healthz", healthz, methods=["GET"]),
        HttpRoute("/readyz", healthz, methods=["GET"]),
        HttpRoute("/ping", healthz, methods=["GET"]),
        HttpRoute("/metrics", metrics, methods=["GET"]),
    ]
    async def watch() -> None:
        while True:
            await asyncio.sleep(server.reload_seconds)
            try:
                swapped = await asyncio.to_thread(server.refresh)
            except Exception:  # noqa: BLE001 - keep serving what is loaded; try again at the next tick
                log.warning("Could not refresh the served models", exc_info=True)
                continue
            if swapped:
                log.info("Swapped in new models for %s", ", ".join(swapped))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        watcher = asyncio.get_running_loop().create_task(watch()) if server.reload_seconds > 0 else None
        yield
        if watcher is not None:
            watcher.cancel()
        server.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.server = server
    settings = server.workspace.settings
    from shipyard._internal._asgi import RequestLimits

    app.add_middleware(RequestLimits, max_body_bytes=settings.server_max_body_bytes,  # type: ignore[arg-type]
                       body_timeout=settings.server_body_timeout)
    return app


def _v2_type(served: Served, column: str) -> str:
    spec = {c["name"]: c for c in (served.model.signature or {}).get("inputs", {}).get("columns", [])}
    dtype = str(spec.get(column, {}).get("dtype", ""))
    if dtype.startswith("float"):
        return "FP64"
    if dtype.startswith(("int", "uint")):
        return "INT64"
    return "BOOL" if dtype == "bool" else "BYTES"


def app_from_settings() -> Starlette:
    """Factory for ``uvicorn --factory`` (each worker process loads its own models)."""
    import json

    from shipyard.config import get_settings
    from shipyard.workspace import build_workspace

    settings = get_settings()
    spec = json.loads(settings.serve_targets or "{}")
    server = InferenceServer(build_workspace(settings), settings.project, models=spec.get("models", []),
                             deployments=spec.get("deployments", []), max_queue=int(spec.get("max_queue", 1024)),
                             reload_seconds=float(spec.get("reload_seconds", 2.0)), auth=settings.server_auth,
                             rate_limit=spec.get("rate_limit"), burst=spec.get("burst"))
    return build_app(server)
