"""Tokens, roles and tenant isolation on a live authenticated server, family by family."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipyard.access import issue_token
from shipyard.artifacts._rest import RestArtifactStore
from shipyard.config import Settings
from shipyard.entities import Metric, ModelVersionStatus, Role
from shipyard.exceptions import AuthenticationError, NotFound, PermissionDenied
from shipyard.storage._rest import RestStore
from shipyard.workspace import build_workspace

from ..conftest import LiveServer


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root: Path = tmp_path_factory.mktemp("auth")
    ws = build_workspace(Settings(store_uri=f"sqlite:///{root / 'auth.db'}", artifact_uri=(root / "art").as_uri()))
    store = ws.metadata
    for name in ("root", "ana", "bo", "cy"):
        store.create_user(name, is_admin=name == "root")  # type: ignore[attr-defined]
    tokens = {
        "admin": issue_token(store, "root", None, Role.ADMIN)[1],  # type: ignore[arg-type]
        "editor_a": issue_token(store, "ana", "A", Role.EDITOR)[1],  # type: ignore[arg-type]
        "viewer_a": issue_token(store, "bo", "A", Role.VIEWER)[1],  # type: ignore[arg-type]
        "editor_b": issue_token(store, "cy", "B", Role.EDITOR)[1],  # type: ignore[arg-type]
    }
    with LiveServer(ws, auth=True) as server:
        clients = {who: RestStore(server.url, token=tok) for who, tok in tokens.items()}
        yield {"server": server, "tokens": tokens, "clients": clients, "store": store}
        for c in clients.values():
            c.close()
    ws.close()


def _run(client: RestStore, project: str) -> str:
    exp = client.create_experiment(project, f"e-{uuid.uuid4().hex[:6]}")
    run_id = uuid.uuid4().hex
    client.create_run(project, exp.id, run_id=run_id, name="r", start_time=1, artifact_uri=f"shipyard-artifacts:/{project}/x")
    return run_id


def test_no_bad_revoked_or_expired_token_is_401(setup: dict[str, Any]) -> None:
    url = setup["server"].url
    assert httpx.post(f"{url}/api/v1/store/list_projects", json={}).status_code == 401
    for bad in ("nonsense", "sy_deadbeef_secret", setup["tokens"]["editor_a"][:-2] + "xx"):
        with pytest.raises(AuthenticationError):
            RestStore(url, token=bad).list_projects()
    store = setup["store"]
    record, secret = issue_token(store, "ana", "A", Role.EDITOR)
    RestStore(url, token=secret).list_experiments("A")
    store.revoke_token(record.id)
    with pytest.raises(AuthenticationError, match="revoked"):
        RestStore(url, token=secret).list_experiments("A")
    record, secret = issue_token(store, "ana", "A", Role.EDITOR, expires_in_days=1e-9)
    time.sleep(0.01)
    with pytest.raises(AuthenticationError, match="expired"):
        RestStore(url, token=secret).list_experiments("A")
    assert httpx.get(f"{url}/healthz").status_code == 200  # health stays open


def test_roles_within_a_project(setup: dict[str, Any]) -> None:
    c = setup["clients"]
    run_id = _run(c["editor_a"], "A")
    c["editor_a"].log_batch(run_id, metrics=[Metric("m", 1.0, 0, 1)])
    assert c["viewer_a"].get_run(run_id).metrics["m"] == 1.0
    assert [r.id for r in c["viewer_a"].search_runs("A").runs].count(run_id) == 1
    assert len(c["viewer_a"].get_metric_history(run_id, "m")) == 1
    with pytest.raises(PermissionDenied, match="needs editor"):
        c["viewer_a"].log_batch(run_id, metrics=[Metric("m", 2.0, 1, 1)])
    with pytest.raises(PermissionDenied):
        c["viewer_a"].create_experiment("A", "nope")
    with pytest.raises(PermissionDenied, match="for admins"):
        c["editor_a"].delete_runs_permanently([run_id])


def test_tenant_isolation_for_every_family(setup: dict[str, Any]) -> None:
    c = setup["clients"]
    run_a = _run(c["editor_a"], "A")
    exp_a = c["editor_a"].get_run(run_a).experiment_id
    intruder = c["editor_b"]
    # experiments and runs: project-named calls are refused, id-based calls see nothing
    for call in (lambda: intruder.list_experiments("A"), lambda: intruder.create_experiment("A", "x"),
                 lambda: intruder.get_experiment("A", id=exp_a), lambda: intruder.search_runs("A"),
                 lambda: intruder.create_run("A", exp_a, run_id=uuid.uuid4().hex, name="x", start_time=1, artifact_uri="x")):
        with pytest.raises(PermissionDenied):
            call()
    for call in (lambda: intruder.get_run(run_a), lambda: intruder.log_batch(run_a, metrics=[Metric("x", 1.0, 0, 1)]),
                 lambda: intruder.get_metric_history(run_a, "m"), lambda: intruder.update_run(run_a, name="pwned"),
                 lambda: intruder.list_artifacts(run_a), lambda: intruder.record_artifact(run_a, "x", 1, "a" * 64),
                 lambda: intruder.list_run_datasets(run_a)):
        with pytest.raises(NotFound, match="No run"):
            call()
    # lineage and registry
    with pytest.raises(PermissionDenied):
        intruder.log_dataset("A", name="d", digest="d" * 64, num_rows=1, schema={}, profile={})
    c["editor_a"].create_model_version("A", "m", source="s", storage_uri="u", run_id=run_a, flavor="sklearn",
                                       manifest={}, manifest_sha256="a" * 64, signature={},
                                       status=ModelVersionStatus.READY)
    for call in (lambda: intruder.get_registered_model("A", "m"), lambda: intruder.search_model_versions("A"),
                 lambda: intruder.set_alias("A", "m", "champion", 1), lambda: intruder.alias_history("A", "m")):
        with pytest.raises(PermissionDenied):
            call()
    # logged models: project-named calls refused, id-based calls see nothing
    mid = f"m-{uuid.uuid4().hex}"
    c["editor_a"].create_logged_model("A", exp_a, model_id=mid, name="model", artifact_uri="shipyard-artifacts:/A/m",
                                      run_id=run_a)
    for call in (lambda: intruder.search_logged_models("A"),
                 lambda: intruder.create_logged_model("A", exp_a, model_id=f"m-{uuid.uuid4().hex}", name="x", artifact_uri="x")):
        with pytest.raises(PermissionDenied):
            call()
    for call in (lambda: intruder.get_logged_model(mid), lambda: intruder.update_logged_model(mid, set_tags={"x": "1"}),
                 lambda: intruder.delete_logged_model(mid)):
        with pytest.raises(NotFound, match="No logged model"):
            call()
    with pytest.raises(PermissionDenied, match="needs editor"):
        c["viewer_a"].update_logged_model(mid, set_tags={"x": "1"})
    assert c["viewer_a"].get_logged_model(mid).run_id == run_a
    # deployments
    from shipyard.entities import DeploymentState, Route

    c["editor_a"].create_deployment("A", "prod", routes=[Route("m/1", 100)])
    for call in (lambda: intruder.get_deployment("A", "prod"), lambda: intruder.list_deployments("A"),
                 lambda: intruder.deployment_history("A", "prod"),
                 lambda: intruder.create_deployment("A", "x", routes=[Route("m/1", 100)]),
                 lambda: intruder.update_deployment("A", "prod", action="update", routes=[Route("m/1", 100)], shadow=(),
                                                    sticky_key=None, config={}, state=DeploymentState.STOPPED)):
        with pytest.raises(PermissionDenied):
            call()
    assert len(c["viewer_a"].deployment_history("A", "prod")) == 1
    with pytest.raises(PermissionDenied, match="needs editor"):
        c["viewer_a"].update_deployment("A", "prod", action="stop", routes=[Route("m/1", 100)], shadow=(),
                                        sticky_key=None, config={}, state=DeploymentState.STOPPED)
    # quotas are for admins
    with pytest.raises(PermissionDenied, match="for admins"):
        c["editor_a"].set_quota("A", "artifact_bytes", 10**12)
    with pytest.raises(PermissionDenied, match="for admins"):
        c["editor_a"].charge_quota("A", "artifact_bytes", -10**12)
    # listing projects shows only one's own
    assert {p.name for p in intruder.list_projects()} <= {"B"}
    assert "A" in {p.name for p in c["admin"].list_projects()}
    # artifacts
    a_store = RestArtifactStore("shipyard-artifacts:/A/files", c["editor_a"].http)
    a_store.write("secret.txt", b"project A only")
    b_view = RestArtifactStore("shipyard-artifacts:/A/files", intruder.http)
    for call in (lambda: b_view.open_reader("secret.txt"), lambda: b_view.list(), lambda: b_view.write("x.txt", b"x")):
        with pytest.raises(NotFound):
            call()
    assert RestArtifactStore("shipyard-artifacts:/A/files", c["viewer_a"].http).open_reader("secret.txt").read() == b"project A only"
    with pytest.raises(PermissionDenied):
        RestArtifactStore("shipyard-artifacts:/A/files", c["viewer_a"].http).write("y.txt", b"y")


def test_admin_routes_and_audit(setup: dict[str, Any]) -> None:
    c = setup["clients"]
    with pytest.raises(PermissionDenied):
        c["editor_a"].list_users()
    with pytest.raises(PermissionDenied):
        c["editor_a"].search_audit()
    record, secret = issue_token(c["admin"], "ana", "A", Role.VIEWER, description="through the API")
    assert RestStore(setup["server"].url, token=secret).list_experiments("A") is not None
    assert record.id in {t.id for t in c["admin"].list_tokens("ana")}
    run_id = _run(c["editor_a"], "A")
    with pytest.raises(PermissionDenied):
        c["viewer_a"].update_run(run_id, name="x")
    events = c["admin"].search_audit(actor="ana", action="create_run")
    assert events and events[0].project == "A" and events[0].status == 200 and events[0].remote_addr == "127.0.0.1"
    assert f"run_id={run_id}" in (events[0].target or "")
    assert c["admin"].search_audit(action="create_token")[0].actor == "root"
    assert not any(e.action == "get_run" for e in c["admin"].search_audit(limit=1000))  # reads are not audited
    # paging back in time with before_id walks the whole log once, newest first
    for _ in range(4):
        c["editor_a"].create_experiment("A", f"audit-{uuid.uuid4().hex[:6]}")
    everything = c["admin"].search_audit(limit=10_000)
    paged, before = [], None
    while page := c["admin"].search_audit(limit=3, before_id=before):
        paged += page
        before = page[-1].id
    assert [e.id for e in paged] == [e.id for e in everything] and len(paged) > 3


def test_mlflow_api_isolates_projects(setup: dict[str, Any]) -> None:
    """The MLflow endpoints: a project-B token cannot read or change project A's registry, logged models
    or runs, whatever workspace header it sends."""
    c, url, tokens = setup["clients"], setup["server"].url, setup["tokens"]
    run_a = _run(c["editor_a"], "A")
    c["editor_a"].create_model_version("A", "iso", source="s", storage_uri="u", run_id=run_a, flavor="sklearn",
                                       manifest={}, manifest_sha256="a" * 64, signature={}, status=ModelVersionStatus.READY)
    mid = f"m-{uuid.uuid4().hex}"
    c["editor_a"].create_logged_model("A", c["editor_a"].get_run(run_a).experiment_id, model_id=mid, name="model",
                                      artifact_uri="shipyard-artifacts:/A/m")
    api = f"{url}/api/2.0/mlflow"
    for headers in ({}, {"x-mlflow-workspace": "A"}):
        h = {"authorization": f"Bearer {tokens['editor_b']}", **headers}
        reads = [httpx.get(f"{api}/registered-models/get", params={"name": "iso"}, headers=h),
                 httpx.get(f"{api}/model-versions/get", params={"name": "iso", "version": "1"}, headers=h),
                 httpx.get(f"{api}/logged-models/{mid}", headers=h),
                 httpx.get(f"{api}/runs/get", params={"run_id": run_a}, headers=h)]
        assert all(r.status_code in (403, 404) for r in reads), [r.text for r in reads]
        writes = [httpx.post(f"{api}/registered-models/alias", json={"name": "iso", "alias": "x", "version": "1"}, headers=h),
                  httpx.patch(f"{api}/logged-models/{mid}", json={"status": "LOGGED_MODEL_READY"}, headers=h),
                  httpx.post(f"{api}/model-versions/create", json={"name": "iso", "source": f"models:/{mid}", "model_id": mid},
                             headers=h)]
        assert all(r.status_code in (403, 404) for r in writes), [r.text for r in writes]
    own = {"authorization": f"Bearer {tokens['viewer_a']}"}
    assert httpx.get(f"{api}/registered-models/get", params={"name": "iso"}, headers=own).status_code == 200
    denied = httpx.post(f"{api}/registered-models/alias", json={"name": "iso", "alias": "x", "version": "1"}, headers=own)
    assert denied.status_code == 403 and denied.json()["error_code"] == "PERMISSION_DENIED"
