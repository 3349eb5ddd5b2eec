"""The inference server: models and deployments behind Shipyard's own endpoints, the Open Inference
Protocol (KServe V2) and MLflow's scoring protocol, with micro-batching, request validation against
the model signature, traffic splitting, shadow traffic, a response cache, the prediction log and
Prometheus metrics. The HTTP layer is :mod:`shipyard.serving._http`.

Per request: decode (orjson) → route (deployment weights, sticky key) → validate against the chosen
model's signature (a numeric signature goes straight to a float matrix, see ``_codec.Plan``; anything
else through a DataFrame and ``enforce``, 422 listing every problem) → response cache → the model's
micro-batch queue (503 with Retry-After when full) → encode. Off the path: shadow calls, the
prediction-log append (O(1): the request is kept as it came), metrics.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard.entities import ModelVersion
from shipyard.exceptions import InvalidParameter, NotFound, RateLimited, ShipyardError
from shipyard.models._signature import enforce, input_columns
from shipyard.serving import _codec
from shipyard.serving._batch import _argmax_labels
from shipyard.serving._batcher import Batcher
from shipyard.serving._cache import ResponseCache, input_key
from shipyard.serving._deployments import Deployments, model_ref
from shipyard.serving._http import ServingApp, build_app
from shipyard.serving._metrics import Metrics
from shipyard.serving._routing import Router

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from shipyard.models import LoadedModel
    from shipyard.monitoring import PredictionLog
    from shipyard.workspace import Workspace

__all__ = ["InferenceServer", "Served", "Target", "app_from_settings", "build_app"]

_DECODERS = {"shipyard": _codec.decode_shipyard, "mlflow": _codec.decode_mlflow, "v2": _codec.decode_v2}
_RECORD_KEYS = ("records", "dataframe_records", "instances", "inputs")


@dataclass
class Served:
    """One loaded model version with its batch queue."""

    ref: str
    version: ModelVersion
    model: LoadedModel
    batcher: Batcher
    columns: list[str] | None
    plan: _codec.Plan | None = None

    @property
    def label(self) -> str:
        return f"{self.version.name}/{self.version.version}"

    def validate_frame(self, frame: Any) -> tuple[Any, Any, list[str] | None]:
        """Like :meth:`validate`, for a request already decoded (and enriched with online features)."""
        return enforce(frame, self.model.signature, self.model.extra), frame, None

    def validate(self, body: Any, protocol: str) -> tuple[Any, Any, list[str] | None]:
        """The request's rows checked against this model's signature, ready for the batch queue,
        and what the prediction log keeps of them: (rows, logged inputs, their column names). The
        log keeps the model's inputs: the validated matrix on the fast path, the decoded request
        (fields the model does not take included) otherwise."""
        if self.plan is not None:
            matrix = self.plan.matrix(body, protocol)
            if matrix is not None:  # logged as the matrix: written column by column, no object per row
                return matrix, matrix, self.plan.columns
        frame = _DECODERS[protocol](body, self.columns)
        return enforce(frame, self.model.signature, self.model.extra), frame, None


def _records_in(body: Any) -> list[dict[str, Any]] | None:
    """The body's list of records, when that is how it came."""
    if isinstance(body, dict):
        body = next((body[k] for k in _RECORD_KEYS if k in body), None)
    return body if isinstance(body, list) and body and isinstance(body[0], dict) else None


def _sticky_value(body: Any, key: str, protocol: str, columns: list[str] | None) -> str | None:
    records = _records_in(body)
    if records is not None:
        value = records[0].get(key)
        return None if value is None else str(value)
    try:
        frame = _DECODERS[protocol](body, columns)
    except Exception:  # noqa: BLE001 - an undecodable body fails properly in validation
        return None
    return str(frame[key].iloc[0]) if key in frame.columns and len(frame) else None


class FeatureLookup:
    """A deployment's online features: the request's entity keys (and request fields) in, the feature
    columns read from the online store added — what the model sees and the prediction log keeps."""

    def __init__(self, workspace: Workspace, project: str, refs: list[str]) -> None:
        from shipyard.features._online import OnlineReader

        self.workspace, self.refs = workspace, refs
        self.reader = OnlineReader(project, store=workspace.metadata)

    def enrich(self, frame: Any, at_ms: int | None) -> Any:
        entities = {str(c): frame[c].tolist() for c in frame.columns}
        result = self.reader.read(self.refs, entities, at_ms=at_ms, store=self.workspace.online)
        added = {name: values for name, values in zip(result.names, result.values, strict=True)
                 if name not in entities}
        return frame.assign(**added)


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
    cache: ResponseCache | None = None
    features: FeatureLookup | None = None


class InferenceServer:
    def __init__(self, workspace: Workspace, project: str, *, models: list[str] = (), deployments: list[str] = (),  # type: ignore[assignment]
                 max_queue: int = 1024, log_predictions: bool = True, reload_seconds: float = 2.0,
                 auth: bool = False, rate_limit: float | None = None, burst: int | None = None,
                 runtime: str = "auto", clock: Callable[[], int] | None = None) -> None:
        """``clock``: the time (epoch ms) the prediction log records for each request — for replays of
        past traffic and tests; the wall clock when None."""
        if runtime not in ("auto", "native", "onnx"):
            raise InvalidParameter(f"runtime must be auto, native or onnx; got {runtime!r}.")
        self.workspace, self.project = workspace, project
        self.auth = auth
        self.rate_limit = rate_limit
        self.burst = float(burst if burst is not None else max(1, int(rate_limit or 1)))
        self._buckets: dict[str, tuple[float, float]] = {}
        self._granted: dict[str, float] = {}
        self._refused: dict[str, tuple[float, ShipyardError]] = {}
        self.runtime = runtime
        self.deps = Deployments(workspace, project)
        self.metrics = Metrics()
        self.max_queue = max_queue
        self.reload_seconds = reload_seconds
        self._log_predictions = log_predictions
        self.clock = clock
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
                served = self._load(ref, 64, 0)
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
        model = self._load_model(version)
        example = model.input_example()
        warm = time.perf_counter()
        if example is not None:
            model.predict(example)  # warm: the first real request does not pay for lazy initialisation
        warm = time.perf_counter() - warm
        self.metrics.model_loaded(version.name, str(version.version), time.perf_counter() - started)
        labels = (version.name, str(version.version))
        plan = _codec.Plan.of(model.signature, model.extra)
        matrix_ok = model.takes_matrix

        known: dict[str, Any] = {}  # the class labels, when a prediction is the most probable class

        def score(rows: Any) -> tuple[Any, Any]:
            if isinstance(rows, np.ndarray) and not matrix_ok and plan is not None:
                rows = plan.frame(rows)
            if not model.has_proba:
                return model.run(rows), None
            classes = known.get("classes")
            if classes is None:
                preds, probas = model.run_both(rows)
                if "classes" not in known:
                    known["classes"] = _argmax_labels(model, probas)
                return preds, probas
            probas = model.run(rows, proba=True)
            return classes[probas.argmax(axis=1)], probas

        batcher = Batcher(score, max_batch_size=max_batch, max_wait_ms=max_wait_ms, max_queue=self.max_queue,
                          observe=lambda rows, waited, reason: self.metrics.batch(labels, rows, waited, reason),
                          expected_cost_ms=warm * 1000)
        self.metrics.queue_depth(labels, lambda: batcher.depth)
        served = Served(ref, version, model, batcher, input_columns(model.signature) if model.signature else None, plan)
        self._by_version[key] = served
        return served

    def _load_model(self, version: ModelVersion) -> LoadedModel:
        """The version's proven ONNX form when it has one and onnxruntime is installed (faster, and
        proven to agree within its recorded tolerance), else the native model."""
        if version.manifest.get("forms", {}).get("onnx") and self.runtime != "native":
            import importlib.util

            if importlib.util.find_spec("onnxruntime") is not None or self.runtime == "onnx":
                return self.deps.registry.load_model(f"models:/{version.name}/{version.version}", form="onnx")
        return self.deps.registry.load_model(f"models:/{version.name}/{version.version}")

    def _deployment(self, name: str, log_predictions: bool, log: PredictionLog | None = None) -> Target:
        from shipyard.monitoring import PredictionLog

        d = self.deps.store.get_deployment(self.project, name)
        batch, wait = int(d.config.get("max_batch_size", 64)), float(d.config.get("max_wait_ms", 0))
        routes = {r.model: self._load(r.model, batch, wait) for r in d.routes if r.weight > 0}
        shadow = [self._load(s, batch, wait) for s in d.shadow]
        if log is None and log_predictions:
            log = PredictionLog(self.workspace, self.project, name)
        size = int(d.config.get("cache_size", 0))
        cache = ResponseCache(size, float(d.config.get("cache_ttl_s", 60))) if size > 0 else None
        refs = list(d.config.get("features") or [])
        lookup = FeatureLookup(self.workspace, self.project, refs) if refs else None
        return Target(name, routes, Router(d.routes), d.sticky_key, shadow, log, deployment=True, cache=cache,
                      features=lookup)

    # -- the request path -------------------------------------------------------------------------------
    def target(self, name: str) -> Target:
        target = self.targets.get(name)
        if target is None:
            raise NotFound(f"This server does not serve {name!r}; it serves {', '.join(sorted(self.targets))}.")
        return target

    async def answer(self, target: Target, body: Any, protocol: str, request_id: str,
                     trace: dict[str, Any] | None = None) -> tuple[Served, Any, Any]:
        """Route, validate, score (batched), log; ``trace`` learns how far it got (``answering``, then
        the ``route``), for the error log of a request that fails."""
        if trace is not None:
            trace["answering"] = True
        key = None
        if target.sticky_key is not None:
            key = _sticky_value(body, target.sticky_key, protocol, next(iter(target.routes.values())).columns)
        served = target.routes[target.router.choose(key)]
        if trace is not None:
            trace["route"] = served.ref
        frame = None
        if target.features is not None:  # entity keys in, the features read from the online store added
            frame = target.features.enrich(_DECODERS[protocol](body, None), self.clock() if self.clock else None)
            rows, logged, columns = served.validate_frame(frame)
        else:
            rows, logged, columns = served.validate(body, protocol)
        started = time.perf_counter()
        cache_key, hit = None, None
        if target.cache is not None:
            cache_key = served.label.encode() + input_key(rows)
            hit = target.cache.get(cache_key)
            self.metrics.cache_lookup(target.name, hit is not None)
        if hit is not None:
            preds, probas = hit
        else:
            preds, probas = await served.batcher.submit(rows)
            if cache_key is not None:
                target.cache.put(cache_key, (preds, probas))  # type: ignore[union-attr]
        if target.deployment:
            self.metrics.route(target.name, served.ref)
            if target.log is not None:
                target.log.log(request_id, route=served.ref, model_version=served.label, inputs=logged, columns=columns,
                               predictions=preds, probabilities=probas,
                               latency_ms=(time.perf_counter() - started) * 1000,
                               ts=self.clock() if self.clock is not None else None)
            for shadow in target.shadow:
                task = asyncio.get_running_loop().create_task(self._shadow(target, shadow, body, protocol, request_id,
                                                                           frame))
                self._background.add(task)  # the loop keeps only weak references to tasks
                task.add_done_callback(self._background.discard)
        return served, preds, probas

    async def _shadow(self, target: Target, served: Served, body: Any, protocol: str, request_id: str,
                      frame: Any = None) -> None:
        """Mirror a request to a shadow model: logged, never returned; its failures touch nothing live."""
        try:
            rows, logged, columns = served.validate_frame(frame) if frame is not None else served.validate(body, protocol)
            preds, probas = await served.batcher.submit(rows)
            self.metrics.route(target.name, f"shadow:{served.ref}")
            if target.log is not None:
                target.log.log(request_id, route=f"shadow:{served.ref}", model_version=served.label, inputs=logged,
                               columns=columns, predictions=preds, probabilities=probas,
                               ts=self.clock() if self.clock is not None else None)
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

    def authorized(self, header: str) -> bool:
        """Whether ``header`` carries a token granted in the last 30 s (checked on the event loop, no
        thread hop); else :meth:`authorize` decides."""
        return self._granted.get(_bearer(header) or "", 0.0) > time.monotonic()

    def authorize(self, header: str) -> None:
        """With auth on, a viewer (or better) token of the served project is needed. Granted tokens are
        remembered for 30 s (a revoked token is refused within that time); refused ones for 5 s, so a
        flood of bad tokens costs a dictionary lookup each, not a hash."""
        from shipyard.access import authenticate
        from shipyard.entities import Role

        token = _bearer(header)
        now = time.monotonic()
        refused = self._refused.get(token or "")
        if refused is not None and refused[0] > now:
            raise refused[1].with_traceback(None)
        try:
            principal = authenticate(self.workspace.metadata, token)  # type: ignore[arg-type]
            principal.require(self.project, Role.VIEWER)
        except ShipyardError as exc:
            if len(self._refused) > 10_000:
                self._refused.clear()
            self._refused[token or ""] = (now + 5.0, exc)
            raise
        if len(self._granted) > 10_000:
            self._granted.clear()
        self._granted[token or ""] = now + 30.0

    def close(self) -> None:
        for target in self.targets.values():
            if target.log is not None:
                target.log.close()


def _bearer(header: str) -> str | None:
    return header[7:].strip() if header[:7].lower() == "bearer " else None


def _route(ref: str) -> Any:
    from shipyard.entities import Route

    return Route(ref, 100)


def app_from_settings() -> ServingApp:
    """Factory for ``uvicorn --factory`` (each worker process loads its own models)."""
    import json

    from shipyard.config import get_settings
    from shipyard.workspace import build_workspace

    settings = get_settings()
    spec = json.loads(settings.serve_targets or "{}")
    server = InferenceServer(build_workspace(settings), settings.project, models=spec.get("models", []),
                             deployments=spec.get("deployments", []), max_queue=int(spec.get("max_queue", 1024)),
                             reload_seconds=float(spec.get("reload_seconds", 2.0)), auth=settings.server_auth,
                             rate_limit=spec.get("rate_limit"), burst=spec.get("burst"),
                             runtime=str(spec.get("runtime", "auto")))
    return build_app(server)
