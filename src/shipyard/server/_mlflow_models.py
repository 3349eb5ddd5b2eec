"""The MLflow model registry and MLflow 3 logged-model endpoints, mapped onto Shipyard's registry.

* A **logged model** (``POST /logged-models``, created by ``mlflow.<flavor>.log_model``) is a
  :class:`~shipyard.entities.LoggedModel`; its files go through the artifact proxy to
  ``<project>/<experiment>/models/<model id>/artifacts``.
* A **registered model / model version** is Shipyard's own: ``create_model_version`` hashes every file
  of the package into the version's manifest (so Shipyard verifies it like its own packages), records
  the MLmodel flavors, and makes the version READY in one write. Aliases are Shipyard aliases (with
  history). Deleting a version archives it (Shipyard keeps versions for lineage); deleting or renaming
  a registered model is refused with the reason. Stages are MLflow's deprecated mechanism: only the
  move to ``Archived`` is honoured; use aliases.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from collections.abc import Callable
from typing import Any

from shipyard.entities import (
    LoggedModel,
    LoggedModelStatus,
    ModelVersion,
    ModelVersionStatus,
    RegisteredModel,
    Role,
)
from shipyard.exceptions import AlreadyExists, InvalidParameter, NotFound
from shipyard.server._mlflow import _DEFAULT, _Ctx, _to_mlflow_uri

_MV_STATUS = {
    ModelVersionStatus.REGISTERING: "PENDING_REGISTRATION", ModelVersionStatus.READY: "READY",
    ModelVersionStatus.FAILED: "FAILED_REGISTRATION", ModelVersionStatus.ARCHIVED: "READY",
}
_LM_STATUS = {
    LoggedModelStatus.PENDING: "LOGGED_MODEL_PENDING", LoggedModelStatus.READY: "LOGGED_MODEL_READY",
    LoggedModelStatus.FAILED: "LOGGED_MODEL_UPLOAD_FAILED",
}
_LM_STATUS_IN = {v: k for k, v in _LM_STATUS.items()}
_CONDITION = re.compile(
    r"\s*(?P<key>[A-Za-z_][\w]*(?:\.(?:`[^`]+`|\"[^\"]+\"|[\w.\-]+))?)\s*(?P<op>=|!=|(?i:i?like))\s*"
    r"(?P<value>'(?:[^']|'')*'|\"[^\"]*\"|-?\d+)\s*(?P<tail>(?i:and)\b|$)"
)


# -- small helpers ---------------------------------------------------------------------------------

def conditions(text: str | None) -> list[tuple[str, str, str]]:
    """``key op 'value' [AND ...]`` as triples; anything else is refused, pointing at the problem."""
    out: list[tuple[str, str, str]] = []
    text = (text or "").strip()
    pos = 0
    while pos < len(text):
        match = _CONDITION.match(text, pos)
        if match is None:
            raise InvalidParameter(
                f"Cannot parse the filter {text!r} at character {pos}: Shipyard's MLflow API takes conditions "
                "`key = 'value'` (also !=, LIKE, ILIKE) joined by AND.")
        key, value = match["key"], match["value"]
        value = value[1:-1].replace("''", "'") if value[0] in "'\"" else value
        out.append((key.replace("`", "").replace('"', ""), match["op"].upper(), value))
        pos = match.end()
    return out


def _page(items: list[Any], max_results: Any, token: str | None, limit: int = 1000) -> tuple[list[Any], str | None]:
    size = int(max_results or limit)
    if not 1 <= size <= limit:
        raise InvalidParameter(f"max_results must be between 1 and {limit}, got {size}.")
    offset = 0
    if token:
        try:
            offset = int(json.loads(base64.urlsafe_b64decode(token))["offset"])
        except Exception:  # noqa: BLE001 - any malformed token is the caller's error
            raise InvalidParameter(f"Invalid page token {token!r}: pass back next_page_token unchanged.") from None
    chunk = items[offset:offset + size]
    more = offset + size < len(items)
    return chunk, base64.urlsafe_b64encode(json.dumps({"offset": offset + size}).encode()).decode() if more else None


def _kv(pairs: Any) -> dict[str, str]:
    return {str(p["key"]): str(p.get("value", "")) for p in pairs or []}


def _pairs(mapping: Any) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in mapping.items()]


def _exp_out(c: _Ctx, exp_id: str) -> str:
    try:
        return "0" if c.store.get_experiment(c.project, id=exp_id).name == _DEFAULT else exp_id
    except NotFound:
        return exp_id


def _version_arg(c: _Ctx) -> int:
    raw = c.arg("version")
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise InvalidParameter(f"version must be an integer, got {raw!r}.") from None


# -- JSON shapes ---------------------------------------------------------------------------------------

def version_json(mv: ModelVersion) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": mv.name, "version": str(mv.version), "creation_timestamp": mv.created_at,
        "last_updated_timestamp": mv.updated_at, "user_id": mv.created_by or "",
        "current_stage": "Archived" if mv.status is ModelVersionStatus.ARCHIVED else "None",
        "description": mv.description or "", "source": _to_mlflow_uri(mv.source), "run_id": mv.run_id or "",
        "status": _MV_STATUS[mv.status], "status_message": mv.status_message or "", "tags": _pairs(mv.tags),
        "aliases": list(mv.aliases),
    }
    if model_id := mv.manifest.get("mlflow_model_id"):
        out["model_id"] = model_id
    return out


def model_json(c: _Ctx, rm: RegisteredModel) -> dict[str, Any]:
    latest = []
    if rm.latest_version is not None:
        latest = [version_json(c.store.get_model_version(c.project, rm.name, rm.latest_version))]
    return {
        "name": rm.name, "creation_timestamp": rm.created_at, "last_updated_timestamp": rm.updated_at,
        "description": rm.description or "", "latest_versions": latest, "tags": _pairs(rm.tags),
        "aliases": [{"alias": a, "version": str(v)} for a, v in sorted(rm.aliases.items())],
    }


def logged_json(c: _Ctx, lm: LoggedModel) -> dict[str, Any]:
    return {
        "info": {
            "model_id": lm.id, "experiment_id": _exp_out(c, lm.experiment_id), "name": lm.name,
            "artifact_uri": _to_mlflow_uri(lm.artifact_uri), "creation_timestamp_ms": lm.created_at,
            "last_updated_timestamp_ms": lm.updated_at, "status": _LM_STATUS[lm.status],
            "status_message": lm.status_message or "",
            "model_type": lm.model_type or "", "source_run_id": lm.run_id or "",
            "tags": _pairs(lm.tags),
        },
        "data": {"params": _pairs(lm.params), "metrics": []},
    }


# -- registered models ---------------------------------------------------------------------------------

def create_registered_model(c: _Ctx) -> dict[str, Any]:
    c.need(Role.EDITOR)
    rm = c.store.create_registered_model(c.project, c.arg("name"), c.arg("description") or None, _kv(c.arg("tags")))
    c.audit("create_registered_model", rm.name)
    return {"registered_model": model_json(c, rm)}


def get_registered_model(c: _Ctx) -> dict[str, Any]:
    c.need(Role.VIEWER)
    return {"registered_model": model_json(c, c.store.get_registered_model(c.project, c.arg("name")))}


def update_registered_model(c: _Ctx) -> dict[str, Any]:
    c.need(Role.EDITOR)
    rm = c.store.update_registered_model(c.project, c.arg("name"), description=c.arg("description"))
    c.audit("update_registered_model", rm.name)
    return {"registered_model": model_json(c, rm)}


def refuse_model_removal(c: _Ctx) -> dict[str, Any]:
    c.need(Role.EDITOR)
    c.store.get_registered_model(c.project, c.arg("name"))
    raise InvalidParameter(
        f"Shipyard keeps registered models for lineage, so {c.arg('name')!r} cannot be deleted or renamed. "
        "Archive its versions instead (MlflowClient.delete_model_version archives), or register under a new name.")


def _tag_key(key: str) -> str | None:
    for prefix in ("tags.", "tag."):
        if key.startswith(prefix):
            return key[len(prefix):]
    return None


def _keeps(conds: list[tuple[str, str, str]], name: str, tags: Any) -> bool:
    """Exact evaluation of the conditions the store cannot express (``!=``, exact names)."""
    for key, op, value in conds:
        tag = _tag_key(key)
        have = tags.get(tag) if tag is not None else name
        if (op == "=" and have != value) or (op == "!=" and have == value):
            return False
    return True


def search_registered_models(c: _Ctx) -> dict[str, Any]:
    c.need(Role.VIEWER)
    conds = conditions(c.arg("filter"))
    name_like, tags = None, {}
    for key, op, value in conds:
        tag = _tag_key(key)
        if key == "name" and op in ("=", "LIKE", "ILIKE"):
            name_like = value if op != "=" else value.replace("%", "_")
        elif tag is not None and op in ("=", "!="):
            if op == "=":
                tags[tag] = value
        else:
            raise InvalidParameter(f"Unsupported registered-model filter {key} {op}: use name =/LIKE and tags.<key> =/!=.")
    models = [m for m in c.store.search_registered_models(c.project, name_like, tags or None)
              if _keeps([x for x in conds if x[1] in ("=", "!=")], m.name, m.tags)]
    page, token = _page(models, c.arg("max_results") or 100, c.arg("page_token"))
    out: dict[str, Any] = {"registered_models": [model_json(c, m) for m in page]}
    if token:
        out["next_page_token"] = token
    return out


def set_registered_model_tag(c: _Ctx) -> dict[str, Any]:
    c.need(Role.EDITOR)
    c.store.update_registered_model(c.project, c.arg("name"), set_tags={c.arg("key"): str(c.arg("value"))})
    c.audit("set_registered_model_tag", c.arg("name"))
    return {}


def delete_registered_model_tag(c: _Ctx) -> dict[str, Any]:
    c.need(Role.EDITOR)
    c.store.update_registered_model(c.project, c.arg("name"), delete_tags=[c.arg("key")])
    c.audit("delete_registered_model_tag", c.arg("name"))
    return {}


def get_latest_versions(c: _Ctx) -> dict[str, Any]:
    c.need(Role.VIEWER)
    stages = {s.lower() for s in c.args("stages")}
    versions = c.store.search_model_versions(c.project, c.store.get_registered_model(c.project, c.arg("name")).name)
    found: dict[str, ModelVersion] = {}
    for mv in versions:  # newest first: the first of each stage is its latest
        stage = "archived" if mv.status is ModelVersionStatus.ARCHIVED else "none"
        found.setdefault(stage, mv)
    return {"model_versions": [version_json(mv) for s, mv in found.items() if not stages or s in stages]}


def set_alias(c: _Ctx) -> dict[str, Any]:
    c.need(Role.EDITOR)
    c.store.set_alias(c.project, c.arg("name"), c.arg("alias"), _version_arg(c), actor=c.principal.user,
                      reason="mlflow client")
    c.audit("set_alias", f"{c.arg('name')}@{c.arg('alias')}")
    return {}


def delete_alias(c: _Ctx) -> dict[str, Any]:
    c.need(Role.EDITOR)
    c.store.set_alias(c.project, c.arg("name"), c.arg("alias"), None, actor=c.principal.user, reason="mlflow client")
    c.audit("delete_alias", f"{c.arg('name')}@{c.arg('alias')}")
    return {}


def get_by_alias(c: _Ctx) -> dict[str, Any]:
    c.need(Role.VIEWER)
    name, alias = c.arg("name"), c.arg("alias")
    rm = c.store.get_registered_model(c.project, name)
    if alias not in rm.aliases:
        raise NotFound(f"Registered model alias {alias} not found on {name!r} (aliases: {sorted(rm.aliases) or 'none'}).")
    return {"model_version": version_json(c.store.get_model_version(c.project, name, rm.aliases[alias]))}


# -- model versions -------------------------------------------------------------------------------------

def _package(c: _Ctx, source: str, model_id: str | None) -> tuple[str, str | None, dict[str, Any]]:
    """Where the package is (storage URI), its source run and its manifest (every file hashed)."""
    run_id = None
    if model_id:
        lm = _logged(c, model_id)
        uri, run_id = lm.artifact_uri, lm.run_id
    elif source.startswith(("mlflow-artifacts:", "shipyard-artifacts:")):
        uri = "shipyard-artifacts:/" + source.split(":", 1)[1].lstrip("/")
    else:
        return source, None, {"format": "mlflow", "files": {}, "verified": False}
    key = uri.split(":", 1)[1].lstrip("/")
    if key.split("/", 1)[0] != c.project:
        raise NotFound(f"No model files at {source} in project {c.project!r}.")
    files: dict[str, str] = {}
    flavors: list[str] = []
    store = c.ws.artifacts
    for path in store.list(key):
        digest = hashlib.sha256()
        with store.open_reader(path) as reader:
            while block := reader.read(1 << 20):
                digest.update(block)
                if path.endswith("/MLmodel") and path == f"{key}/MLmodel":
                    flavors = _flavors(block)
        files[path[len(key) + 1:]] = digest.hexdigest()
    if "MLmodel" not in files:
        raise InvalidParameter(f"{source} holds no MLmodel file: log the model with mlflow.<flavor>.log_model first.")
    manifest = {"format": "mlflow", "files": files, "mlflow_flavors": flavors, "verified": True}
    if model_id:
        manifest["mlflow_model_id"] = model_id
    return uri, run_id, manifest


def _flavors(mlmodel: bytes) -> list[str]:
    """The flavor names of an MLmodel file (YAML; its ``flavors:`` block is read line by line)."""
    names, inside = [], False
    for line in mlmodel.decode(errors="replace").splitlines():
        if not line.startswith(" "):
            inside = line.startswith("flavors:")
        elif inside and line.startswith("  ") and not line.startswith("   ") and line.rstrip().endswith(":"):
            names.append(line.strip()[:-1])
    return names


def create_model_version(c: _Ctx) -> dict[str, Any]:
    c.need(Role.EDITOR)
    name, source = c.arg("name"), str(c.arg("source") or "")
    uri, run_id, manifest = _package(c, source, c.arg("model_id") or None)
    run_id = c.arg("run_id") or run_id
    if run_id:
        c.run_of(run_id)
    flavors = manifest.get("mlflow_flavors") or []
    mv = c.store.create_model_version(
        c.project, name, source=source, storage_uri=uri, run_id=run_id or None,
        flavor="mlflow:" + next((f for f in flavors if f != "python_function"), flavors[0] if flavors else "unknown"),
        manifest=manifest, manifest_sha256=hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest(),
        signature={}, created_by=c.principal.user, description=c.arg("description") or None, tags=_kv(c.arg("tags")),
        status=ModelVersionStatus.READY,
        status_message=None if manifest["verified"] else "files outside the server's artifact store: not verified",
    )
    c.audit("create_model_version", f"{name}/{mv.version}")
    return {"model_version": version_json(mv)}


def get_model_version(c: _Ctx) -> dict[str, Any]:
    c.need(Role.VIEWER)
    return {"model_version": version_json(c.store.get_model_version(c.project, c.arg("name"), _version_arg(c)))}


def update_model_version(c: _Ctx) -> dict[str, Any]:
    c.need(Role.EDITOR)
    mv = c.store.update_model_version(c.project, c.arg("name"), _version_arg(c), description=c.arg("description"))
    c.audit("update_model_version", f"{mv.name}/{mv.version}")
    return {"model_version": version_json(mv)}


def archive_model_version(c: _Ctx) -> dict[str, Any]:
    c.need(Role.EDITOR)
    c.store.update_model_version(c.project, c.arg("name"), _version_arg(c), status=ModelVersionStatus.ARCHIVED)
    c.audit("archive_model_version", f"{c.arg('name')}/{c.arg('version')}")
    return {}


def transition_stage(c: _Ctx) -> dict[str, Any]:
    if str(c.arg("stage", "")).lower() != "archived":
        raise InvalidParameter(
            f"Stage {c.arg('stage')!r}: stages are deprecated in MLflow and Shipyard keeps none but Archived. "
            "Use aliases: MlflowClient.set_registered_model_alias(name, 'champion', version).")
    archive_model_version(c)
    return get_model_version(c)


def set_version_tag(c: _Ctx) -> dict[str, Any]:
    c.need(Role.EDITOR)
    c.store.update_model_version(c.project, c.arg("name"), _version_arg(c), set_tags={c.arg("key"): str(c.arg("value"))})
    c.audit("set_model_version_tag", f"{c.arg('name')}/{c.arg('version')}")
    return {}


def delete_version_tag(c: _Ctx) -> dict[str, Any]:
    c.need(Role.EDITOR)
    c.store.update_model_version(c.project, c.arg("name"), _version_arg(c), delete_tags=[c.arg("key")])
    c.audit("delete_model_version_tag", f"{c.arg('name')}/{c.arg('version')}")
    return {}


def search_model_versions(c: _Ctx) -> dict[str, Any]:
    c.need(Role.VIEWER)
    conds = conditions(c.arg("filter"))
    name = run_id = None
    tags: dict[str, str] = {}
    for key, op, value in conds:
        tag = _tag_key(key)
        if key == "name" and op == "=":
            name = value
        elif key == "run_id" and op == "=":
            run_id = value
        elif tag is not None and op in ("=", "!="):
            if op == "=":
                tags[tag] = value
        else:
            raise InvalidParameter(f"Unsupported model-version filter {key} {op}: use name =, run_id = and tags.<key> =/!=.")
    tag_conds = [x for x in conds if _tag_key(x[0]) is not None]
    versions = [v for v in c.store.search_model_versions(c.project, name, tags or None, None, run_id)
                if _keeps(tag_conds, v.name, v.tags)]
    page, token = _page(versions, c.arg("max_results") or 1000, c.arg("page_token"), limit=200_000)
    out: dict[str, Any] = {"model_versions": [version_json(v) for v in page]}
    if token:
        out["next_page_token"] = token
    return out


def download_uri(c: _Ctx) -> dict[str, Any]:
    c.need(Role.VIEWER)
    return {"artifact_uri": _to_mlflow_uri(c.store.get_model_version(c.project, c.arg("name"), _version_arg(c)).storage_uri)}


# -- logged models ------------------------------------------------------------------------------------

def _logged(c: _Ctx, model_id: str, role: Role = Role.VIEWER) -> LoggedModel:
    lm: LoggedModel = c.store.get_logged_model(model_id)
    if lm.project != c.project or not c.principal.can(lm.project, Role.VIEWER):
        raise NotFound(f"Logged model with ID '{model_id}' not found.")
    c.principal.require(lm.project, role)
    return lm


def create_logged_model(c: _Ctx) -> dict[str, Any]:
    c.need(Role.EDITOR)
    if c.arg("experiment_id") in (None, ""):
        raise InvalidParameter("Missing value for required parameter 'experiment_id'.")
    exp_id = c.exp_id(c.arg("experiment_id"))
    run_id = c.arg("source_run_id") or None
    if run_id:
        c.run_of(run_id, Role.EDITOR)
    model_id = f"m-{uuid.uuid4().hex}"
    try:
        lm = c.store.create_logged_model(
            c.project, exp_id, model_id=model_id, name=c.arg("name") or "model",
            artifact_uri=f"shipyard-artifacts:/{c.project}/{exp_id}/models/{model_id}/artifacts", run_id=run_id,
            model_type=c.arg("model_type") or None, created_by=c.principal.user, tags=_kv(c.arg("tags")),
            params=_kv(c.arg("params")),
        )
    except AlreadyExists:  # a uuid4 collision: practically impossible, but never a 500
        raise InvalidParameter("Model id collision: retry the request.") from None
    c.audit("create_logged_model", model_id)
    return {"model": logged_json(c, lm)}


def get_logged_model(c: _Ctx) -> dict[str, Any]:
    return {"model": logged_json(c, _logged(c, c.arg("model_id")))}


def finalize_logged_model(c: _Ctx) -> dict[str, Any]:
    lm = _logged(c, c.arg("model_id"), Role.EDITOR)
    status = _LM_STATUS_IN.get(str(c.arg("status")))
    if status is None:
        raise InvalidParameter(f"status must be one of {sorted(_LM_STATUS_IN)}, got {c.arg('status')!r}.")
    lm = c.store.update_logged_model(lm.id, status=status)
    c.audit("finalize_logged_model", lm.id)
    return {"model": logged_json(c, lm)}


def delete_logged_model(c: _Ctx) -> dict[str, Any]:
    lm = _logged(c, c.arg("model_id"), Role.EDITOR)
    c.store.delete_logged_model(lm.id)
    if lm.artifact_uri.startswith("shipyard-artifacts:"):
        c.ws.artifacts.delete(lm.artifact_uri.split(":", 1)[1].lstrip("/"))
    c.audit("delete_logged_model", lm.id)
    return {}


def set_logged_model_tags(c: _Ctx) -> dict[str, Any]:
    lm = _logged(c, c.arg("model_id"), Role.EDITOR)
    c.store.update_logged_model(lm.id, set_tags=_kv(c.arg("tags")))
    return {}


def delete_logged_model_tag(c: _Ctx) -> dict[str, Any]:
    lm = _logged(c, c.arg("model_id"), Role.EDITOR)
    c.store.update_logged_model(lm.id, delete_tags=[c.arg("tag_key")])
    return {}


def log_logged_model_params(c: _Ctx) -> dict[str, Any]:
    lm = _logged(c, c.arg("model_id"), Role.EDITOR)
    c.store.update_logged_model(lm.id, set_params=_kv(c.arg("params")))
    return {}


def search_logged_models(c: _Ctx) -> dict[str, Any]:
    c.need(Role.VIEWER)
    if c.arg("datasets"):
        raise InvalidParameter("Searching logged models by dataset is not supported by Shipyard's MLflow API.")
    kw: dict[str, Any] = {}
    for key, op, value in conditions(c.arg("filter")):
        if op != "=" or key not in ("name", "source_run_id", "status"):
            raise InvalidParameter(f"Unsupported logged-model filter {key} {op}: use name =, source_run_id = and status =.")
        if key == "status":
            kw["statuses"] = [_LM_STATUS_IN.get(value) or LoggedModelStatus(value)]
        else:
            kw["name" if key == "name" else "run_id"] = value
    ids = [c.exp_id(e) for e in c.args("experiment_ids")]
    models, token = c.store.search_logged_models(c.project, ids or None, max_results=int(c.arg("max_results") or 100),
                                                 page_token=c.arg("page_token") or None, **kw)
    out: dict[str, Any] = {"models": [logged_json(c, m) for m in models]}
    if token:
        out["next_page_token"] = token
    return out


def list_logged_model_artifacts(c: _Ctx) -> dict[str, Any]:
    lm = _logged(c, c.arg("model_id"))
    key = lm.artifact_uri.split(":", 1)[1].lstrip("/")
    prefix = (c.arg("artifact_directory_path") or "").strip("/")
    root = f"{key}/{prefix}" if prefix else key
    entries: dict[str, dict[str, Any]] = {}
    for path in c.ws.artifacts.list(root):
        rest = path[len(root) + 1:]
        head, _, tail = rest.partition("/")
        rel = f"{prefix}/{head}" if prefix else head
        entries[rel] = {"path": rel, "is_dir": True} if tail else {"path": rel, "is_dir": False}
    return {"root_uri": _to_mlflow_uri(lm.artifact_uri), "files": sorted(entries.values(), key=lambda e: e["path"])}


def log_outputs(c: _Ctx) -> dict[str, Any]:
    run = c.run_of(c.arg("run_id"), Role.EDITOR)
    for output in c.arg("models", []) or []:
        lm = _logged(c, output.get("model_id", ""))
        if lm.run_id not in (None, run.id):
            raise InvalidParameter(f"Logged model {lm.id} comes from run {lm.run_id}, not {run.id}.")
    return {}


def log_model_history(c: _Ctx) -> dict[str, Any]:
    """MLflow 2's ``runs/log-model``: the model's MLmodel JSON appended to the run's history tag."""
    from shipyard.entities import RunTag

    run = c.run_of(c.arg("run_id"), Role.EDITOR)
    history = json.loads(run.tags.get("mlflow.log-model.history", "[]"))
    history.append(json.loads(c.arg("model_json") or "{}"))
    c.store.log_batch(run.id, tags=[RunTag("mlflow.log-model.history", json.dumps(history))])
    return {}


ROUTES: list[tuple[str, str, Callable[[_Ctx], dict[str, Any]]]] = [
    ("POST", "/registered-models/create", create_registered_model),
    ("GET", "/registered-models/get", get_registered_model),
    ("PATCH", "/registered-models/update", update_registered_model),
    ("POST", "/registered-models/rename", refuse_model_removal),
    ("DELETE", "/registered-models/delete", refuse_model_removal),
    ("GET", "/registered-models/search", search_registered_models),
    ("POST", "/registered-models/get-latest-versions", get_latest_versions),
    ("GET", "/registered-models/get-latest-versions", get_latest_versions),
    ("POST", "/registered-models/set-tag", set_registered_model_tag),
    ("DELETE", "/registered-models/delete-tag", delete_registered_model_tag),
    ("POST", "/registered-models/alias", set_alias),
    ("DELETE", "/registered-models/alias", delete_alias),
    ("GET", "/registered-models/alias", get_by_alias),
    ("POST", "/model-versions/create", create_model_version),
    ("GET", "/model-versions/get", get_model_version),
    ("PATCH", "/model-versions/update", update_model_version),
    ("DELETE", "/model-versions/delete", archive_model_version),
    ("POST", "/model-versions/transition-stage", transition_stage),
    ("POST", "/model-versions/set-tag", set_version_tag),
    ("DELETE", "/model-versions/delete-tag", delete_version_tag),
    ("GET", "/model-versions/search", search_model_versions),
    ("GET", "/model-versions/get-download-uri", download_uri),
    ("POST", "/logged-models", create_logged_model),
    ("POST", "/logged-models/search", search_logged_models),
    ("GET", "/logged-models/{model_id}", get_logged_model),
    ("PATCH", "/logged-models/{model_id}", finalize_logged_model),
    ("DELETE", "/logged-models/{model_id}", delete_logged_model),
    ("PATCH", "/logged-models/{model_id}/tags", set_logged_model_tags),
    ("DELETE", "/logged-models/{model_id}/tags/{tag_key}", delete_logged_model_tag),
    ("POST", "/logged-models/{model_id}/params", log_logged_model_params),
    ("GET", "/logged-models/{model_id}/artifacts/directories", list_logged_model_artifacts),
    ("POST", "/runs/outputs", log_outputs),
    ("POST", "/runs/log-model", log_model_history),
]
