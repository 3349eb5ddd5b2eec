"""`shipyard server` as a real process, and the unchanged SDK pointed at it by SHIPYARD_URI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

SDK_FLOW = r'''
import os, numpy as np, shipyard as sy
if os.environ.get("VIA_CONNECT"):
    sy.connect(os.environ.pop("VIA_CONNECT"))
from sklearn.linear_model import LogisticRegression
sy.set_project("team")
X = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.9, 0.1]]); y = np.array([0, 1, 0, 1])
with sy.start_run(experiment="remote", tags={"via": "server"}) as run:
    run.log_params({"C": 1.0})
    for step in range(50):
        run.log_metric("loss", 1 / (step + 1), step=step)
    run.log_text("hello over http", "notes/readme.txt")
    info = run.log_model(LogisticRegression().fit(X, y), input_example=X[:2])
mv = sy.register_model(info.uri, "remote-model")
sy.set_alias("remote-model", "champion", mv.version)
model = sy.load_model("models:/remote-model@champion")
assert (model.predict(X) == LogisticRegression().fit(X, y).predict(X)).all()
df = sy.search_runs(experiment="remote", filter="metrics.loss < 0.1 and tags.via = 'server'")
assert list(df["run_id"]) == [run.id], df
assert len(sy.get_metric_history(run.id, "loss")) == 50
client = sy.TrackingClient(__import__("shipyard.workspace").workspace.current_workspace())
assert client.read_artifact(run.id, "notes/readme.txt") == b"hello over http"
print("OK", run.id, run.artifact_uri)
'''


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = _port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "shipyard.cli", "server", "--store", f"sqlite:///{tmp_path / 'srv.db'}",
         "--artifacts", (tmp_path / "srv-artifacts").as_uri(), "--port", str(port), "--workers", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read() if proc.stderr else "server died")
        assert time.monotonic() - started < 30, "server did not become ready"
        time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=20)
    for stream in (proc.stdout, proc.stderr):
        if stream:
            stream.close()


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SHIPYARD_URI", "sy.connect"])
def test_unchanged_sdk_code_runs_against_the_server(server: str, tmp_path: Path, how: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.update(SHIPYARD_HOME=str(tmp_path / "client-home"))
    env.update({"SHIPYARD_URI": server} if how == "SHIPYARD_URI" else {"VIA_CONNECT": server})
    out = subprocess.run([sys.executable, "-c", SDK_FLOW], env=env, capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-4000:]
    assert out.stdout.startswith("OK")
    assert "shipyard-artifacts:/team/" in out.stdout
    home = tmp_path / "client-home"
    # Records and artifacts live on the server; the client only caches the verified model it loaded.
    assert sorted(p.name for p in home.iterdir()) == ["cache"] and list((home / "cache" / "models").iterdir())
    assert list((tmp_path / "srv-artifacts" / "team").rglob("MODEL.json"))  # the server holds the package


def test_openapi_and_health(server: str) -> None:
    schema = httpx.get(f"{server}/openapi.json").json()
    assert schema["info"]["title"] == "Shipyard"
    assert "/api/v1/store/search_runs" in schema["paths"] and "/api/v1/artifacts/{path}" in schema["paths"]
    body = schema["paths"]["/api/v1/store/create_run"]["post"]["requestBody"]
    assert body["required"]
    assert httpx.get(f"{server}/docs").status_code == 200
    assert httpx.get(f"{server}/healthz").json() == {"status": "ok"}
    info = httpx.get(f"{server}/api/v1/info").json()
    assert info["backend"] == "sqlite" and info["schema_revision"] == info["schema_expected"]


def test_errors_are_json_with_a_code(server: str) -> None:
    missing = httpx.post(f"{server}/api/v1/store/get_run", json={"run_id": "nope"})
    assert missing.status_code == 404 and missing.json()["error_code"] == "NOT_FOUND"
    bad = httpx.post(f"{server}/api/v1/store/search_runs", json={"project": "p", "filter": "metrics.a >>"})
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_FILTER" and "position" in bad.json()
    invalid = httpx.post(f"{server}/api/v1/store/get_run", json={})
    assert invalid.status_code == 422 and invalid.json()["error_code"] == "INVALID_PARAMETER"


def test_non_loopback_bind_refused_without_insecure(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    out = subprocess.run(
        [sys.executable, "-m", "shipyard.cli", "server", "--store", f"sqlite:///{tmp_path / 'x.db'}", "--host", "0.0.0.0",
         "--port", str(_port())], env=env, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 2 and "Refusing to bind" in out.stderr


def test_auth_server_bootstraps_an_admin_token_once(tmp_path: Path) -> None:
    import re

    port = _port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["COLUMNS"] = "300"
    args = [sys.executable, "-m", "shipyard.cli", "server", "--store", f"sqlite:///{tmp_path / 'a.db'}",
            "--artifacts", (tmp_path / "art").as_uri(), "--port", str(port), "--auth"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        assert httpx.post(f"{url}/api/v1/store/list_projects", json={}).status_code == 401
    finally:
        proc.terminate()
        out, _err = proc.communicate(timeout=20)
    token = re.search(r"sy_[0-9a-f]{16}_[A-Za-z0-9_\-]+", out)
    assert token, out
    from shipyard.storage._sql import SqlStore

    store = SqlStore(f"sqlite:///{tmp_path / 'a.db'}")
    assert [u.name for u in store.list_users()] == ["admin"]
    assert token.group(0) not in (tmp_path / "a.db").read_bytes().decode("latin-1")  # only a salted hash is stored
    store.close()
    from shipyard.access import authenticate

    store = SqlStore(f"sqlite:///{tmp_path / 'a.db'}")
    assert authenticate(store, token.group(0)).is_admin
    store.close()


def test_growing_lists_come_a_page_at_a_time(live_server: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """A paged operation answers at most one page per response, with the next offset in a header; the
    SDK follows the pages, so callers still get the whole list (or just the window they asked for)."""
    import uuid

    from shipyard.entities import Metric
    from shipyard.storage import _rest_protocol as proto
    from shipyard.storage._rest import RestStore

    monkeypatch.setattr(proto, "DEFAULT_PAGE_SIZE", 3)
    monkeypatch.setitem(proto.PAGE_SIZE, "get_metric_history", 4)
    url = live_server.url  # type: ignore[attr-defined]
    project = f"paged-{uuid.uuid4().hex[:6]}"
    store = RestStore(url)
    exps = [store.create_experiment(project, f"e{i}").id for i in range(8)]
    raw = httpx.post(f"{url}/api/v1/store/list_experiments", json={"project": project})
    assert len(raw.json()) == 3 and raw.headers[proto.NEXT_OFFSET] == "3"
    last = httpx.post(f"{url}/api/v1/store/list_experiments", json={"project": project, "offset": 6})
    assert len(last.json()) == 2 and proto.NEXT_OFFSET not in last.headers
    assert [e.id for e in store.list_experiments(project)] == exps
    assert [e.id for e in store.list_experiments(project, offset=2, limit=5)] == exps[2:7]
    run = uuid.uuid4().hex
    store.create_run(project, exps[0], run_id=run, name="r", start_time=1, artifact_uri="file:///tmp/r")
    store.log_batch(run, metrics=[Metric("loss", float(i), i, 1000 + i) for i in range(10)])
    assert [m.step for m in store.get_metric_history(run, "loss")] == list(range(10))
    store.close()


def test_prediction_log_through_the_server(live_server: object) -> None:
    """Through a server the log's parts go through the artifact proxy and are read back for DuckDB."""
    from shipyard.config import Settings
    from shipyard.monitoring import PredictionLog, read_predictions, record_feedback
    from shipyard.workspace import build_workspace

    ws = build_workspace(Settings(store_uri=live_server.url))  # type: ignore[attr-defined]
    with PredictionLog(ws, "default", "remote-prod", redact={"user": "hash"}, flush_seconds=60) as log:
        log.log("q1", route="m/1", model_version="m/1", inputs=[{"x": 1.0, "user": "ana"}], predictions=[1])
    record_feedback(ws, "default", "remote-prod", {"q1": 1})
    frame = read_predictions(ws, "default", "remote-prod")
    assert list(frame["request_id"]) == ["q1"] and frame["label"][0] == 1 and frame["in_user"][0] != "ana"
    ws.close()


def test_shipyard_ui_serves_the_embedded_store_and_prints_its_url(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["SHIPYARD_HOME"] = str(tmp_path / "home")
    seed = ("import shipyard as sy\nwith sy.start_run(experiment='e', run_name='seen-in-the-ui') as r:\n"
            "    r.log_metric('auc', 0.75)\n")
    subprocess.run([sys.executable, "-c", seed], env=env, check=True, timeout=120)
    refused = subprocess.run([sys.executable, "-m", "shipyard.cli", "ui", "--host", "0.0.0.0"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "Refusing to bind" in refused.stderr
    port = _port()
    proc = subprocess.Popen([sys.executable, "-m", "shipyard.cli", "ui", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/ui/" in line
        deadline = time.monotonic() + 30
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/ui/", follow_redirects=True, timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "shipyard ui did not start"
                time.sleep(0.2)
        assert page.status_code == 200 and "seen-in-the-ui" in page.text and "0.75" in page.text
    finally:
        proc.terminate()
        proc.wait(timeout=20)
