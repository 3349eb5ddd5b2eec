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
    unknown = httpx.post(f"{live_server.url}/api/2.0/mlflow/logged-models", json={})
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
