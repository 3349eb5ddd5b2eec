"""The MLflow-compatible REST API (tracking and the artifact proxy; the registry and logged models are
in :mod:`._mlflow_models`), mapped onto Shipyard records.

A run logged by the ``mlflow`` client is a Shipyard run: same store, same artifacts, visible to the
Shipyard SDK, CLI and search. The project comes from the ``X-MLFLOW-WORKSPACE`` header, else from
the token's project, else ``default``. MLflow's experiment "0" is the project's "Default" experiment.
Errors use MLflow's shape: ``{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": ...}``.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from shipyard._internal._hashing import CHUNK
from shipyard._internal._time import now_ms
from shipyard.access import Principal
from shipyard.entities import LifecycleStage, Metric, Param, Role, Run, RunStatus, RunTag
from shipyard.exceptions import AlreadyExists, InvalidParameter, NotFound, ShipyardError
from shipyard.server._limits import charged_write

log = logging.getLogger(__name__)
PREFIX = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
_CODES = {
    "NOT_FOUND": "RESOURCE_DOES_NOT_EXIST", "ALREADY_EXISTS": "RESOURCE_ALREADY_EXISTS",
    "INVALID_PARAMETER": "INVALID_PARAMETER_VALUE", "INVALID_FILTER": "INVALID_PARAMETER_VALUE",
    "PERMISSION_DENIED": "PERMISSION_DENIED", "UNAUTHENTICATED": "UNAUTHENTICATED",
    "QUOTA_EXCEEDED": "QUOTA_EXCEEDED", "REQUEST_TOO_LARGE": "REQUEST_LIMIT_EXCEEDED",
    "REQUEST_TIMEOUT": "TEMPORARILY_UNAVAILABLE", "OVERLOADED": "TEMPORARILY_UNAVAILABLE",
    "BACKEND_UNAVAILABLE": "TEMPORARILY_UNAVAILABLE",
}
_DEFAULT = "Default"
#: Request fields that are lists or objects; every other field is a single value.
_STRUCTURED = frozenset({"tags", "params", "metrics", "datasets", "models", "experiment_ids", "order_by", "stages"})


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, allow_nan=True), status_code=status, media_type="application/json")


def _error(exc: ShipyardError) -> Response:
    body = {"error_code": _CODES.get(exc.error_code, "INTERNAL_ERROR"), "message": str(exc), "hint": exc.hint}
    return _json(body, exc.http_status)


class _Ctx:
    """One request: the caller, the project, and the stores."""

    def __init__(self, request: Request, body: dict[str, Any]) -> None:
        from shipyard.server._app import principal_of

        self.request = request
        self.body = body
        self.principal: Principal = principal_of(request)
        header = request.headers.get("x-mlflow-workspace")
        self.project = header or self.principal.project or "default"
        self.ws = request.app.state.workspace
        self.store = self.ws.metadata

    def arg(self, name: str, default: Any = None) -> Any:
        if name in self.body:
            value = self.body[name]
            if isinstance(value, (list, dict)) and name not in _STRUCTURED:
                raise InvalidParameter(f"Field {name!r} must be a single value, got {type(value).__name__}.")
            return value
        if name in self.request.path_params:
            return self.request.path_params[name]
        return self.request.query_params.get(name, default)

    def args(self, name: str) -> list[Any]:
        """A repeated argument: a JSON list in the body, or repeated query parameters."""
        if name in self.body:
            value = self.body[name]
            return list(value) if isinstance(value, list) else [value]
        return list(self.request.query_params.getlist(name))

    def need(self, role: Role) -> None:
        self.principal.require(self.project, role)

    def audit(self, action: str, target: str | None) -> None:
        from shipyard.server._app import audit

        audit(self.request, self.principal, f"mlflow.{action}", self.project, target, 200)

    # -- mapping ----------------------------------------------------------------------------------
    def exp_id(self, mlflow_id: str) -> str:
        if str(mlflow_id) == "0":
            return str(self.default_experiment().id)
        return str(mlflow_id)

    def default_experiment(self) -> Any:
        try:
            return self.store.get_experiment(self.project, name=_DEFAULT)
        except NotFound:
            try:
                return self.store.create_experiment(self.project, _DEFAULT)
            except AlreadyExists:
                return self.store.get_experiment(self.project, name=_DEFAULT)

    def experiment(self, exp: Any) -> dict[str, Any]:
        return {
            "experiment_id": "0" if exp.name == _DEFAULT else exp.id,
            "name": exp.name,
            "artifact_location": f"mlflow-artifacts:/{self.project}/{exp.id}",
            "lifecycle_stage": exp.lifecycle.value,
            "creation_time": exp.created_at,
            "last_update_time": exp.updated_at,
            "tags": [{"key": k, "value": v} for k, v in exp.tags.items()],
        }

    def run_ref(self, run_id: str, role: Role) -> str:
        """Check access to a run without loading it (the write paths); returns its id."""
        from shipyard.server._authz import run_project

        project = run_project(self.store, run_id)
        if project != self.project or not self.principal.can(project, Role.VIEWER):
            raise NotFound(f"Run '{run_id}' not found.")
        self.principal.require(project, role)
        return run_id

    def run_of(self, run_id: str, role: Role = Role.VIEWER) -> Run:
        run: Run = self.store.get_run(run_id)
        if run.project != self.project or not self.principal.can(run.project, Role.VIEWER):
            raise NotFound(f"Run '{run_id}' not found.")
        self.principal.require(run.project, role)
        return run

    def run(self, run: Run) -> dict[str, Any]:
        exp_id = run.experiment_id
        try:
            if self.store.get_experiment(self.project, id=exp_id).name == _DEFAULT:
                exp_id = "0"
        except NotFound:
            pass
        tags = dict(run.tags)
        tags.setdefault("mlflow.runName", run.name)
        if run.user:
            tags.setdefault("mlflow.user", run.user)
        return {
            "info": {
                "run_id": run.id, "run_uuid": run.id, "run_name": run.name, "experiment_id": exp_id,
                "user_id": run.user or "", "status": run.status.value, "start_time": run.start_time,
                "end_time": run.end_time, "artifact_uri": _to_mlflow_uri(run.artifact_uri),
                "lifecycle_stage": run.lifecycle.value,
            },
            "data": {
                "metrics": [{"key": k, "value": v, "timestamp": run.end_time or run.start_time, "step": 0}
                            for k, v in run.metrics.items()],
                "params": [{"key": k, "value": v} for k, v in run.params.items()],
                "tags": [{"key": k, "value": v} for k, v in tags.items()],
            },
            "inputs": {"dataset_inputs": []},
        }


def _to_mlflow_uri(uri: str) -> str:
    return "mlflow-artifacts:/" + uri[len("shipyard-artifacts:/"):] if uri.startswith("shipyard-artifacts:/") else uri


def _value(v: Any) -> float:
    if isinstance(v, str):
        return float({"NaN": "nan", "Infinity": "inf", "-Infinity": "-inf"}.get(v, v))
    return float(v)


# -- handlers -------------------------------------------------------------------------------------------

def create_experiment(c: _Ctx) -> dict[str, Any]:
    c.need(Role.EDITOR)
    tags = {t["key"]: t["value"] for t in c.arg("tags", []) or []}
    exp = c.store.create_experiment(c.project, c.arg("name"), tags)
    c.audit("create_experiment", exp.name)
    return {"experiment_id": exp.id}


def get_experiment(c: _Ctx) -> dict[str, Any]:
    c.need(Role.VIEWER)
    return {"experiment": c.experiment(c.store.get_experiment(c.project, id=c.exp_id(c.arg("experiment_id"))))}


def get_experiment_by_name(c: _Ctx) -> dict[str, Any]:
    c.need(Role.VIEWER)
    name = c.arg("experiment_name")
    try:
        exp = c.store.get_experiment(c.project, name=name)
    except NotFound:
        raise NotFound(f"Could not find experiment with name '{name}'") from None
    return {"experiment": c.experiment(exp)}


def search_experiments(c: _Ctx) -> dict[str, Any]:
    c.need(Role.VIEWER)
    view = c.arg("view_type", "ACTIVE_ONLY")
    lifecycle = {"ACTIVE_ONLY": LifecycleStage.ACTIVE, "DELETED_ONLY": LifecycleStage.DELETED}.get(view)
    exps = c.store.list_experiments(c.project, lifecycle)
    if not any(e.name == _DEFAULT for e in c.store.list_experiments(c.project, None)) and view != "DELETED_ONLY":
        exps = [c.default_experiment(), *exps]
    name_filter = c.arg("filter")
    if name_filter and "name" in name_filter:
        wanted = name_filter.split("=", 1)[1].strip().strip("'\"")
        exps = [e for e in exps if e.name == wanted]
    return {"experiments": [c.experiment(e) for e in exps]}


def update_experiment(c: _Ctx) -> dict[str, Any]:
    c.need(Role.EDITOR)
    c.store.update_experiment(c.project, c.exp_id(c.arg("experiment_id")), name=c.arg("new_name"))
    c.audit("update_experiment", c.arg("experiment_id"))
    return {}


def _lifecycle(stage: LifecycleStage) -> Callable[[_Ctx], dict[str, Any]]:
    def handler(c: _Ctx) -> dict[str, Any]:
        c.need(Role.EDITOR)
        c.store.update_experiment(c.project, c.exp_id(c.arg("experiment_id")), lifecycle=stage)
        c.audit(f"{stage.value}_experiment", c.arg("experiment_id"))
        return {}
    return handler


def create_run(c: _Ctx) -> dict[str, Any]:
    c.need(Role.EDITOR)
    exp_id = c.exp_id(c.arg("experiment_id", "0"))
    tags = {t["key"]: t["value"] for t in c.arg("tags", []) or []}
    run_id = uuid.uuid4().hex
    name = c.arg("run_name") or tags.get("mlflow.runName") or f"mlflow-{run_id[:8]}"
    run = c.store.create_run(
        c.project, exp_id, run_id=run_id, name=name, start_time=int(c.arg("start_time") or now_ms()),
        artifact_uri=f"shipyard-artifacts:/{c.project}/{exp_id}/{run_id}/artifacts", user=c.arg("user_id") or tags.get("mlflow.user"),
        source=tags.get("mlflow.source.name"), git_commit=tags.get("mlflow.source.git.commit"), tags=tags,
        environment={"client": "mlflow"},
    )
    c.audit("create_run", run_id)
    return {"run": c.run(run)}


def get_run(c: _Ctx) -> dict[str, Any]:
    return {"run": c.run(c.run_of(c.arg("run_id") or c.arg("run_uuid")))}


def update_run(c: _Ctx) -> dict[str, Any]:
    run = c.run_of(c.arg("run_id") or c.arg("run_uuid"), Role.EDITOR)
    status = c.arg("status")
    c.store.update_run(run.id, status=RunStatus(status) if status and status != "SCHEDULED" else None,
                       end_time=c.arg("end_time"), name=c.arg("run_name"))
    c.audit("update_run", run.id)
    return {"run_info": c.run(c.store.get_run(run.id))["info"]}


def _run_lifecycle(stage: LifecycleStage) -> Callable[[_Ctx], dict[str, Any]]:
    def handler(c: _Ctx) -> dict[str, Any]:
        run = c.run_of(c.arg("run_id"), Role.EDITOR)
        c.store.update_run(run.id, lifecycle=stage)
        c.audit(f"{stage.value}_run", run.id)
        return {}
    return handler


def log_metric(c: _Ctx) -> dict[str, Any]:
    run_id = c.run_ref(c.arg("run_id") or c.arg("run_uuid"), Role.EDITOR)
    metric = Metric(c.arg("key"), _value(c.arg("value")), int(c.arg("step") or 0), int(c.arg("timestamp") or now_ms()))
    c.store.log_batch(run_id, metrics=[metric])
    return {}


def log_param(c: _Ctx) -> dict[str, Any]:
    run_id = c.run_ref(c.arg("run_id") or c.arg("run_uuid"), Role.EDITOR)
    c.store.log_batch(run_id, params=[Param(c.arg("key"), str(c.arg("value")))])
    return {}


def set_tag(c: _Ctx) -> dict[str, Any]:
    run_id = c.run_ref(c.arg("run_id") or c.arg("run_uuid"), Role.EDITOR)
    key, value = c.arg("key"), str(c.arg("value"))
    if key == "mlflow.runName":
        c.store.update_run(run_id, name=value)
    c.store.log_batch(run_id, tags=[RunTag(key, value)])
    return {}


def log_batch(c: _Ctx) -> dict[str, Any]:
    run_id = c.run_ref(c.arg("run_id"), Role.EDITOR)
    metrics = [Metric(m["key"], _value(m["value"]), int(m.get("step") or 0), int(m.get("timestamp") or now_ms()))
               for m in c.arg("metrics", []) or []]
    params = [Param(p["key"], str(p["value"])) for p in c.arg("params", []) or []]
    tags = [RunTag(t["key"], str(t["value"])) for t in c.arg("tags", []) or []]
    if len(metrics) > 1000 or len(params) > 100 or len(tags) > 100:
        raise InvalidParameter("A batch may hold at most 1000 metrics, 100 params and 100 tags.")
    c.store.log_batch(run_id, metrics, params, tags)
    return {}


def search_runs(c: _Ctx) -> dict[str, Any]:
    c.need(Role.VIEWER)
    view = c.arg("run_view_type", "ACTIVE_ONLY")
    lifecycle = {"ACTIVE_ONLY": LifecycleStage.ACTIVE, "DELETED_ONLY": LifecycleStage.DELETED}.get(view)
    ids = [c.exp_id(e) for e in c.arg("experiment_ids", []) or []]
    page = c.store.search_runs(c.project, ids or None, c.arg("filter") or None, c.arg("order_by") or None,
                               int(c.arg("max_results") or 1000), c.arg("page_token") or None, lifecycle)
    out: dict[str, Any] = {"runs": [c.run(r) for r in page.runs]}
    if page.next_page_token:
        out["next_page_token"] = page.next_page_token
    return out


def metric_history(c: _Ctx) -> dict[str, Any]:
    run = c.run_of(c.arg("run_id") or c.arg("run_uuid"))
    token = c.arg("page_token")
    offset = int(token) if token and str(token).isdigit() else 0
    if token and not str(token).isdigit():
        raise InvalidParameter(f"Invalid page token {token!r}: pass back next_page_token unchanged.")
    size = min(int(c.arg("max_results") or 25_000), 25_000)
    history = c.store.get_metric_history(run.id, c.arg("metric_key"), offset=offset, limit=size + 1)
    out: dict[str, Any] = {"metrics": [{"key": m.key, "value": m.value, "timestamp": m.timestamp, "step": m.step}
                                       for m in history[:size]]}
    if len(history) > size:
        out["next_page_token"] = str(offset + size)
    return out


def list_artifacts(c: _Ctx) -> dict[str, Any]:
    run = c.run_of(c.arg("run_id") or c.arg("run_uuid"))
    prefix = (c.arg("path") or "").strip("/")
    records = c.store.list_artifacts(run.id, prefix or None)
    entries: dict[str, dict[str, Any]] = {}
    for r in records:
        rest = r.path[len(prefix) + 1:] if prefix else r.path
        head, _, tail = rest.partition("/")
        path = f"{prefix}/{head}" if prefix else head
        entries[path] = {"path": path, "is_dir": True} if tail else {"path": path, "is_dir": False, "file_size": r.size}
    return {"root_uri": _to_mlflow_uri(run.artifact_uri), "files": sorted(entries.values(), key=lambda e: e["path"])}


def log_inputs(c: _Ctx) -> dict[str, Any]:
    run = c.run_of(c.arg("run_id"), Role.EDITOR)
    for item in c.arg("datasets", []) or []:
        ds = item.get("dataset", {})
        schema = json.loads(ds["schema"]) if ds.get("schema") else {}
        profile = json.loads(ds["profile"]) if ds.get("profile") else {}
        rows = int(profile.get("num_rows", 0)) if isinstance(profile, dict) else 0
        digest = (ds.get("digest") or uuid.uuid4().hex).ljust(8, "0")[:64]
        record = c.store.log_dataset(c.project, name=ds.get("name") or "dataset", digest=digest, num_rows=rows,
                                     schema=schema if isinstance(schema, dict) else {}, profile=profile if isinstance(profile, dict) else {},
                                     source=ds.get("source"))
        context = next((t["value"] for t in item.get("tags", []) if t.get("key") == "mlflow.data.context"), "input")
        c.store.link_dataset(run.id, record.id, context or "input", "input")
    return {}


ROUTES: list[tuple[str, str, Callable[[_Ctx], dict[str, Any]]]] = [
    ("POST", "/experiments/create", create_experiment),
    ("GET", "/experiments/get", get_experiment),
    ("GET", "/experiments/get-by-name", get_experiment_by_name),
    ("GET", "/experiments/search", search_experiments),
    ("POST", "/experiments/search", search_experiments),
    ("POST", "/experiments/update", update_experiment),
    ("POST", "/experiments/delete", _lifecycle(LifecycleStage.DELETED)),
    ("POST", "/experiments/restore", _lifecycle(LifecycleStage.ACTIVE)),
    ("POST", "/runs/create", create_run),
    ("GET", "/runs/get", get_run),
    ("POST", "/runs/update", update_run),
    ("POST", "/runs/delete", _run_lifecycle(LifecycleStage.DELETED)),
    ("POST", "/runs/restore", _run_lifecycle(LifecycleStage.ACTIVE)),
    ("POST", "/runs/log-metric", log_metric),
    ("POST", "/runs/log-parameter", log_param),
    ("POST", "/runs/set-tag", set_tag),
    ("POST", "/runs/log-batch", log_batch),
    ("POST", "/runs/log-inputs", log_inputs),
    ("POST", "/runs/search", search_runs),
    ("GET", "/metrics/get-history", metric_history),
    ("GET", "/artifacts/list", list_artifacts),
]


def _endpoint(handler: Callable[[_Ctx], dict[str, Any]]) -> Callable[..., Any]:
    async def endpoint(request: Request) -> Response:
        body: dict[str, Any] = {}
        try:
            raw = await request.body() if request.method in ("POST", "PATCH", "DELETE") else b""
            if raw:
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    return _error(InvalidParameter("The request body is not valid JSON."))
                if not isinstance(body, dict):
                    return _error(InvalidParameter("The request body must be a JSON object."))
            return _json(await run_in_threadpool(_handle, handler, request, body))
        except ShipyardError as exc:
            return _error(exc)
    return endpoint


def _handle(handler: Callable[[_Ctx], dict[str, Any]], request: Request, body: dict[str, Any]) -> dict[str, Any]:
    """Run a handler; a field of the wrong type or shape (the MLflow routes take free-form JSON) is
    the caller's error, answered 400 naming the route, not a server error."""
    try:
        return handler(_Ctx(request, body))
    except ShipyardError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        log.info("Malformed MLflow request to %s", request.url.path, exc_info=True)
        raise InvalidParameter(
            f"Malformed request to {request.url.path}: a field has the wrong type or shape "
            f"({type(exc).__name__}: {exc}).",
            hint="Send the fields MLflow's REST API documents for this endpoint, with their types "
                 "(numbers as numbers or numeric strings, tags and params as lists of {key, value}).",
        ) from None


def _artifact_path(request: Request, path: str, role: Role) -> tuple[_Ctx, str]:
    ctx = _Ctx(request, {})
    project = path.strip("/").split("/", 1)[0]
    if project == ".shipyard-uploads" or (project != ctx.project and not ctx.principal.is_admin):
        raise NotFound(f"No artifact at {path}.")
    ctx.project = project
    ctx.need(role)
    return ctx, path.strip("/")


def install(app: FastAPI) -> None:
    """Mount the MLflow-compatible routes on ``app``."""
    from shipyard.server import _mlflow_models

    router = APIRouter(tags=["mlflow"])
    for method, path, handler in ROUTES + _mlflow_models.ROUTES:
        for base in (PREFIX, "/ajax-api/2.0/mlflow"):
            router.add_api_route(base + path, _endpoint(handler), methods=[method], include_in_schema=base == PREFIX,
                                 summary=f"MLflow {path}")
    app.include_router(router)
    ws = app.state.workspace

    @app.api_route(PREFIX + "/{rest:path}", methods=["GET", "POST", "PATCH", "DELETE", "PUT"], include_in_schema=False)
    def not_served(rest: str) -> Response:
        return _json({"error_code": "ENDPOINT_NOT_FOUND", "message": (
            f"Shipyard does not serve the MLflow endpoint /{rest} (tracing, prompts, evaluation and gateway "
            "endpoints are not part of Shipyard's MLflow API); tracking, artifacts, the model registry and "
            "logged models are served.")}, 404)

    @app.put(ARTIFACTS + "/{path:path}", tags=["mlflow"], summary="MLflow artifact upload")
    async def upload(path: str, request: Request) -> Response:
        import tempfile

        try:
            ctx, key = await run_in_threadpool(_artifact_path, request, path, Role.EDITOR)
            with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
                async for chunk in request.stream():
                    spool.write(chunk)
                length = spool.tell()
                spool.seek(0)
                size, sha = await run_in_threadpool(charged_write, ws, ctx.project, key, spool, length)
            await run_in_threadpool(_record, ws, key, size, sha)
            await run_in_threadpool(ctx.audit, "upload_artifact", key)
        except ShipyardError as exc:
            return _error(exc)
        return _json({})

    @app.get(ARTIFACTS + "/{path:path}", tags=["mlflow"], summary="MLflow artifact download")
    def download(path: str, request: Request) -> Response:
        try:
            _ctx, key = _artifact_path(request, path, Role.VIEWER)
            reader = ws.artifacts.open_reader(key)
        except ShipyardError as exc:
            return _error(exc)

        def chunks() -> Any:
            with reader:
                while block := reader.read(CHUNK):
                    yield block

        return StreamingResponse(chunks(), media_type="application/octet-stream")

    @app.get(ARTIFACTS, tags=["mlflow"], summary="MLflow artifact listing")
    def listing(request: Request, path: str = "") -> Response:
        try:
            _ctx, key = _artifact_path(request, path, Role.VIEWER)
        except ShipyardError as exc:
            return _error(exc)
        files: dict[str, dict[str, Any]] = {}
        for rel in ws.artifacts.list(key):
            rest = rel[len(key) + 1:]
            head, _, tail = rest.partition("/")
            files[head] = {"path": head, "is_dir": True} if tail else {"path": head, "is_dir": False, "file_size": 0}
        return _json({"files": sorted(files.values(), key=lambda f: f["path"])})


def _record(ws: Any, key: str, size: int, sha: str) -> None:
    """Files under a run's artifact root get an artifact record, so the Shipyard SDK sees them."""
    parts = key.split("/")
    if len(parts) >= 5 and parts[3] == "artifacts" and len(parts[2]) == 32:
        try:
            ws.metadata.record_artifact(parts[2], "/".join(parts[4:]), size, sha)
        except NotFound:
            pass


__all__ = ["install"]
