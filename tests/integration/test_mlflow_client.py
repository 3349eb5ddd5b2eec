"""The real ``mlflow`` client (a test-only dependency) logging to a live Shipyard server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow  # noqa: F401, E402 - a test-only dependency: its absence must fail, never skip
import pytest

from shipyard.config import Settings
from shipyard.tracking import TrackingClient
from shipyard.workspace import build_workspace

from ..conftest import LiveServer

FLOW = r'''
import sys
import mlflow
from mlflow.tracking import MlflowClient
mlflow.set_tracking_uri(sys.argv[1])
mlflow.set_experiment("mlflow-compat")
with mlflow.start_run(run_name="from-mlflow") as run:
    mlflow.log_param("alpha", 0.5)
    mlflow.log_params({"l1": 0.1, "model": "enet"})
    for i in range(10):
        mlflow.log_metric("rmse", 1.0 / (i + 1), step=i)
    mlflow.log_metrics({"mae": 0.3, "r2": 0.8})
    mlflow.set_tag("team", "ops")
    open("notes.txt", "w").write("hello from mlflow")
    mlflow.log_artifact("notes.txt", artifact_path="docs")
    mlflow.log_dict({"a": 1}, "conf.json")
with mlflow.start_run(run_name="second"):
    mlflow.log_metric("rmse", 0.9)
client = MlflowClient()
r = client.get_run(run.info.run_id)
assert r.info.status == "FINISHED" and r.info.run_name == "from-mlflow"
assert r.data.params == {"alpha": "0.5", "l1": "0.1", "model": "enet"}, r.data.params
assert r.data.metrics == {"mae": 0.3, "r2": 0.8, "rmse": 0.1}, r.data.metrics
assert r.data.tags["team"] == "ops"
assert [m.step for m in client.get_metric_history(run.info.run_id, "rmse")] == list(range(10))
assert sorted(f.path for f in client.list_artifacts(run.info.run_id)) == ["conf.json", "docs"]
assert [f.path for f in client.list_artifacts(run.info.run_id, "docs")] == ["docs/notes.txt"]
found = mlflow.search_runs(experiment_names=["mlflow-compat"], filter_string="metrics.rmse < 0.5 and params.model = 'enet'",
                           order_by=["metrics.rmse ASC"])
assert list(found["run_id"]) == [run.info.run_id], found
assert len(mlflow.search_runs(experiment_names=["mlflow-compat"])) == 2
path = client.download_artifacts(run.info.run_id, "docs/notes.txt", sys.argv[2])
assert open(path).read() == "hello from mlflow"
exp = client.get_experiment_by_name("mlflow-compat")
client.rename_experiment(exp.experiment_id, "mlflow-compat-renamed")
assert client.get_experiment(exp.experiment_id).name == "mlflow-compat-renamed"
client.delete_run(run.info.run_id)
assert client.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
client.restore_run(run.info.run_id)
print("OK", run.info.run_id)
'''


@pytest.mark.slow
def test_mlflow_client_tracks_into_shipyard(tmp_path: Path) -> None:
    ws = build_workspace(Settings(store_uri=f"sqlite:///{tmp_path / 's.db'}", artifact_uri=(tmp_path / "art").as_uri()))
    with LiveServer(ws) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPYARD_", "MLFLOW_"))}
        out = subprocess.run([sys.executable, "-c", FLOW, server.url, str(tmp_path / "dl")], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=180)
        assert out.returncode == 0, out.stderr[-4000:]
        run_id = out.stdout.split()[-1]
    # The same run through Shipyard's own SDK: records and artifacts
    client = TrackingClient(ws, "default")
    run = client.get_run(run_id)
    assert run.name == "from-mlflow" and run.params["model"] == "enet" and run.metrics["rmse"] == 0.1
    assert [a.path for a in client.list_artifacts(run_id)] == ["conf.json", "docs/notes.txt"]
    assert client.read_artifact(run_id, "docs/notes.txt") == b"hello from mlflow"
    assert len(client.metric_history(run_id, "rmse")) == 10
    ws.close()


def test_mlflow_error_shape(live_server: LiveServer) -> None:
    import httpx

    response = httpx.get(f"{live_server.url}/api/2.0/mlflow/runs/get", params={"run_id": "0" * 32})
    assert response.status_code == 404
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    bad = httpx.post(f"{live_server.url}/api/2.0/mlflow/runs/search", json={"filter": "metrics.a >> 1"})
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    missing = httpx.post(f"{live_server.url}/api/2.0/mlflow/logged-models", json={})
    assert missing.status_code == 400 and "experiment_id" in missing.json()["message"]
    gone = httpx.get(f"{live_server.url}/api/2.0/mlflow/logged-models/m-{'0' * 32}")
    assert gone.status_code == 404 and gone.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    unknown = httpx.post(f"{live_server.url}/api/2.0/mlflow/traces", json={})
    assert unknown.status_code == 404 and unknown.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    assert "does not serve" in unknown.json()["message"]


@pytest.mark.slow
def test_mlflow_client_with_a_token_and_workspace_header(tmp_path: Path) -> None:
    from shipyard.access import issue_token
    from shipyard.entities import Role

    ws = build_workspace(Settings(store_uri=f"sqlite:///{tmp_path / 's.db'}", artifact_uri=(tmp_path / "art").as_uri()))
    ws.metadata.create_user("ana")  # type: ignore[attr-defined]
    _record, token = issue_token(ws.metadata, "ana", "flights", Role.EDITOR)  # type: ignore[arg-type]
    script = r'''
import sys, mlflow
mlflow.set_tracking_uri(sys.argv[1])
mlflow.set_experiment("team-exp")
with mlflow.start_run() as run:
    mlflow.log_metric("auc", 0.9)
print(run.info.run_id)
'''
    with LiveServer(ws, auth=True) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPYARD_", "MLFLOW_"))}
        denied = subprocess.run([sys.executable, "-c", script, server.url], env=env, capture_output=True, text=True, timeout=120)
        assert denied.returncode != 0 and "UNAUTHENTICATED" in denied.stderr
        env["MLFLOW_TRACKING_TOKEN"] = token
        ok = subprocess.run([sys.executable, "-c", script, server.url], env=env, capture_output=True, text=True, timeout=120)
        assert ok.returncode == 0, ok.stderr[-3000:]
        run_id = ok.stdout.split()[-1]
    run = TrackingClient(ws, "flights").get_run(run_id)
    assert run.project == "flights" and run.metrics["auc"] == 0.9  # the token's project is the workspace
    events = ws.metadata.search_audit(actor="ana", action="mlflow.create_run")  # type: ignore[attr-defined]
    assert events and events[0].project == "flights"
    ws.close()


REGISTRY_FLOW = r'''
import sys
import mlflow
import numpy as np
from mlflow import MlflowClient
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
mlflow.set_tracking_uri(sys.argv[1])
mlflow.set_experiment("registry")
X, y = load_iris(return_X_y=True)
model = LogisticRegression(max_iter=500).fit(X, y)
with mlflow.start_run() as run:
    mlflow.log_param("C", 1.0)
    info = mlflow.sklearn.log_model(model, name="model", input_example=X[:2], pip_requirements=["scikit-learn"])
client = MlflowClient()
assert info.model_id.startswith("m-"), info.model_id
lm = client.get_logged_model(info.model_id)
assert str(lm.status) == "READY" and lm.source_run_id == run.info.run_id, (lm, lm.status)
assert lm.params == {"C": "1.0"}, lm.params
found = client.search_logged_models(experiment_ids=[run.info.experiment_id], filter_string="name = 'model'")
assert [m.model_id for m in found] == [info.model_id], found
mv1 = mlflow.register_model(f"runs:/{run.info.run_id}/model", "iris")
mv2 = mlflow.register_model(info.model_uri, "iris")
assert (mv1.version, mv2.version) == ("1", "2") and mv1.status == "READY" and mv1.run_id == run.info.run_id
client.set_registered_model_alias("iris", "champion", "1")
client.set_model_version_tag("iris", "1", "validated", "yes")
client.set_registered_model_tag("iris", "team", "ops")
client.update_model_version("iris", "1", description="first")
got = client.get_model_version_by_alias("iris", "champion")
assert got.version == "1" and got.tags == {"validated": "yes"} and got.description == "first", got
assert client.get_registered_model("iris").aliases == {"champion": "1"}
assert client.get_registered_model("iris").tags == {"team": "ops"}
loaded = mlflow.pyfunc.load_model("models:/iris@champion")
assert (loaded.predict(X[:5]) == model.predict(X[:5])).all()
assert (mlflow.sklearn.load_model("models:/iris/2").predict(X) == model.predict(X)).all()
assert sorted(v.version for v in client.search_model_versions("name='iris'")) == ["1", "2"]
assert [r.name for r in client.search_registered_models(filter_string="name LIKE 'ir%'")] == ["iris"]
client.delete_model_version_tag("iris", "1", "validated")
client.delete_registered_model_alias("iris", "champion")
client.delete_model_version("iris", "2")
assert client.get_model_version("iris", "2").current_stage == "Archived"
try:
    client.delete_registered_model("iris")
    raise SystemExit("deleting a registered model must be refused")
except mlflow.exceptions.MlflowException as exc:
    assert "lineage" in str(exc), exc
print("OK", run.info.run_id, info.model_id)
'''


@pytest.mark.slow
def test_mlflow_client_logs_registers_and_loads_models(tmp_path: Path) -> None:
    ws = build_workspace(Settings(store_uri=f"sqlite:///{tmp_path / 's.db'}", artifact_uri=(tmp_path / "art").as_uri()))
    with LiveServer(ws) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPYARD_", "MLFLOW_"))}
        out = subprocess.run([sys.executable, "-c", REGISTRY_FLOW, server.url], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-4000:]
        run_id, model_id = out.stdout.split()[-2:]
    # The same records through Shipyard: a logged model, two verified versions, alias history
    store = ws.metadata
    lm = store.get_logged_model(model_id)
    assert lm.run_id == run_id and lm.status.value == "READY" and lm.project == "default"
    v1 = store.get_model_version("default", "iris", 1)
    assert v1.flavor == "mlflow:sklearn" and v1.run_id == run_id and v1.status.value == "READY"
    assert "MLmodel" in v1.manifest["files"] and any(f.startswith("model.") for f in v1.manifest["files"]) and v1.manifest["verified"] is True
    assert store.get_model_version("default", "iris", 2).manifest["mlflow_model_id"] == model_id
    assert store.get_model_version("default", "iris", 2).status.value == "ARCHIVED"
    assert [(e.alias, e.version) for e in store.alias_history("default", "iris")] == [("champion", 1), ("champion", None)]
    from shipyard.exceptions import InvalidParameter
    from shipyard.registry import Registry

    with pytest.raises(InvalidParameter, match=r"mlflow.pyfunc.load_model\('models:/iris/1'\)"):
        Registry(ws, "default").load_model("models:/iris/1")
    ws.close()
