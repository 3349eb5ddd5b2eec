"""The inference server on a real socket: Shipyard, MLflow-scoring and Open Inference Protocol
endpoints, validation errors, deployments (split, stickiness, shadow), overload, metrics."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import shipyard as sy
from shipyard.serving._app import InferenceServer, build_app
from shipyard.workspace import current_workspace

from ..conftest import _free_port


class Slow(sy.PythonModel):
    def predict(self, inputs: Any) -> Any:
        time.sleep(0.2)
        return np.zeros(len(inputs))


@contextmanager
def serving(server: InferenceServer) -> Iterator[str]:
    import uvicorn

    port = _free_port()
    uv = uvicorn.Server(uvicorn.Config(build_app(server), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def models() -> tuple[pd.DataFrame, dict[int, LogisticRegression]]:
    data = load_breast_cancer(as_frame=True)
    x = data.data.iloc[:, :6].copy()
    x.columns = [c.replace(" ", "_") for c in x.columns]
    fitted = {}
    for version, c in ((1, 1.0), (2, 0.01)):
        model = LogisticRegression(C=c, max_iter=3000).fit(x, data.target)
        with sy.start_run() as run:
            info = run.log_model(model, name="model", input_example=x[:3])
        sy.register_model(info.uri, "cancer")
        fitted[version] = model
    sy.set_alias("cancer", "champion", 1)
    sy.set_alias("cancer", "challenger", 2)
    return x, fitted


def test_model_endpoints_in_every_protocol(models: tuple[pd.DataFrame, dict[int, LogisticRegression]]) -> None:
    x, fitted = models
    rows = x[:5]
    expected = fitted[1].predict(rows).tolist()
    server = InferenceServer(current_workspace(), "default", models=["models:/cancer@champion"])
    with serving(server) as url:
        ours = httpx.post(f"{url}/v1/models/cancer@champion/predict", json={"records": rows.to_dict("records")}).json()
        assert ours["predictions"] == expected and ours["model_version"] == "cancer/1" and len(ours["request_id"]) == 32
        np.testing.assert_allclose(ours["probabilities"], fitted[1].predict_proba(rows), rtol=1e-9)
        as_columns = httpx.post(f"{url}/v1/models/cancer/predict", json={"columns": rows.to_dict("list")}).json()
        as_rows = httpx.post(f"{url}/v1/models/cancer/predict", json={"rows": rows.to_numpy().tolist()}).json()
        assert as_columns["predictions"] == as_rows["predictions"] == expected
        split = {"dataframe_split": {"columns": list(rows.columns), "data": rows.to_numpy().tolist()}}
        for body in (split, {"dataframe_records": rows.to_dict("records")}, {"instances": rows.to_dict("records")},
                     {"inputs": rows.to_dict("list")}):
            assert httpx.post(f"{url}/invocations", json=body).json() == {"predictions": expected}, body
        meta = httpx.get(f"{url}/v2/models/cancer").json()
        assert meta["name"] == "cancer" and [i["name"] for i in meta["inputs"]] == list(x.columns)
        assert httpx.get(f"{url}/v2/models/cancer/ready").json() == {"name": "cancer", "ready": True}
        assert httpx.get(f"{url}/v2/health/live").json() == {"live": True}
        per_column = {"id": "r1", "inputs": [{"name": c, "shape": [5], "datatype": "FP64", "data": rows[c].tolist()}
                                             for c in rows.columns]}
        tensor = {"inputs": [{"name": "x", "shape": [5, 6], "datatype": "FP64", "data": rows.to_numpy().ravel().tolist()}]}
        for body in (per_column, tensor):
            v2 = httpx.post(f"{url}/v2/models/cancer/infer", json=body).json()
            out = {o["name"]: o for o in v2["outputs"]}
            assert out["predict"]["data"] == expected and out["predict_proba"]["shape"] == [5, 2], v2
        assert v2["model_name"] == "cancer" and v2["model_version"] == "1"


def test_bad_payloads_get_422_with_every_problem_by_field(models: tuple[pd.DataFrame, Any]) -> None:
    x, _ = models
    server = InferenceServer(current_workspace(), "default", models=["models:/cancer/1"])
    with serving(server) as url:
        record = x[:1].to_dict("records")[0]
        del record["mean_area"]
        record["mean_radius"] = "large"
        bad = httpx.post(f"{url}/v1/models/cancer/predict", json={"records": [record]})
        assert bad.status_code == 422
        problems = {p["field"]: p["problem"] for p in bad.json()["problems"]}
        assert set(problems) == {"mean_area", "mean_radius"} and "missing" in problems["mean_area"]
        assert httpx.post(f"{url}/v1/models/cancer/predict", content=b"{nope").status_code == 400
        assert httpx.post(f"{url}/v1/models/other/predict", json={"records": []}).status_code == 404
        assert httpx.post(f"{url}/v2/models/cancer/infer", json={"inputs": []}).json()["error"]


def test_a_deployment_splits_sticks_and_shadows(models: tuple[pd.DataFrame, dict[int, LogisticRegression]]) -> None:
    x, _fitted = models
    with sy.start_run() as run:
        info = run.log_model(Slow(), name="slow", input_example=pd.DataFrame({"other": [1.0]}))
    sy.register_model(info.uri, "broken-shadow")
    sy.deploy("prod", routes={"cancer@champion": 80, "cancer@challenger": 20}, shadow=["cancer/2", "broken-shadow/1"],
              sticky_key="user_id")
    server = InferenceServer(current_workspace(), "default", deployments=["prod"])
    with serving(server) as url, httpx.Client(base_url=url) as http:
        seen = Counter()
        for i in range(300):
            record = {**x.iloc[i % 50].to_dict(), "user_id": f"u{i}"}
            answer = http.post("/v1/deployments/prod/predict", json={"records": [record]})
            assert answer.status_code == 200, answer.text
            seen[answer.json()["model_version"]] += 1
        assert 0.12 < seen["cancer/2"] / 300 < 0.28  # 20% of users, by their key
        sticky = {http.post("/v1/deployments/prod/predict",
                            json={"records": [{**x.iloc[0].to_dict(), "user_id": "u7"}]}).json()["model_version"]
                  for _ in range(10)}
        assert len(sticky) == 1
        first = http.post("/v1/deployments/prod/predict", json={"records": [{**x.iloc[0].to_dict(), "user_id": "u1"}]}).json()
        assert http.post("/v1/deployments/prod/feedback", json={"labels": {first["request_id"]: 1}}).json() == {"recorded": 1}
        assert http.post("/v1/deployments/prod/feedback", json={"labels": 3}).status_code == 400
        for i in range(4):  # refused input: counted in the deployment's error log, with the route it reached
            bad = http.post("/v1/deployments/prod/predict", json={"records": [{"user_id": f"u{i}", "nope": 1}]})
            assert bad.status_code == 422
        time.sleep(0.5)
        metrics = http.get("/metrics").text
    server.close()
    from shipyard.monitoring._predictions import traffic

    seen_now = traffic(current_workspace(), "default", "prod", since=time.time() * 1000 - 600_000)
    assert seen_now["requests"] == 311 and seen_now["errors"] == 4  # shadows' rows are not requests
    assert seen_now["error_rate"] == pytest.approx(4 / 315)
    assert set(seen_now["errors_by_route"]) <= {"cancer@champion", "cancer@challenger"}
    assert sum(seen_now["series"]["errors"]) == 4 and sum(seen_now["series"]["requests"]) == 311
    families = {f.name: f for f in text_string_to_metric_families(metrics)}
    variants = {s.labels["variant"] for s in families["shipyard_route_requests"].samples if s.name.endswith("_total")}
    assert {"cancer@champion", "cancer@challenger", "shadow:cancer/2"} <= variants
    assert sum(s.value for s in families["shipyard_shadow_failures"].samples if s.name.endswith("_total")) >= 1
    logged = sy.predictions("prod")
    assert (logged["route"] == "shadow:cancer/2").sum() >= 300 and (~logged["route"].str.startswith("shadow")).sum() == 311
    assert logged.loc[logged["request_id"] == first["request_id"], "label"].tolist() == [1, 1]  # live + shadow row


def test_overload_answers_503_quickly_and_batches_concurrent_requests(models: tuple[pd.DataFrame, Any]) -> None:
    with sy.start_run() as run:
        info = run.log_model(Slow(), name="slow", input_example=pd.DataFrame({"v": [1.0]}))
    sy.register_model(info.uri, "slow")
    server = InferenceServer(current_workspace(), "default", models=["models:/slow/1"], max_queue=2)

    async def burst(url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            return list(await asyncio.gather(*(http.post("/v1/models/slow/predict", json={"records": [{"v": 1.0}]})
                                               for _ in range(24))))

    with serving(server) as url:
        answers = asyncio.run(burst(url))
        codes = Counter(a.status_code for a in answers)
        assert codes[503] > 0 and codes[200] > 0 and set(codes) <= {200, 503}, codes
        refused = next(a for a in answers if a.status_code == 503)
        assert refused.headers["retry-after"] == "1" and refused.json()["error_code"] == "OVERLOADED"
    roomy = InferenceServer(current_workspace(), "default", models=["models:/slow/1"], max_queue=64)
    with serving(roomy) as url:
        answers = asyncio.run(burst(url))
        assert {a.status_code for a in answers} == {200}
        metrics = httpx.get(f"{url}/metrics").text
    sizes = next(f for f in text_string_to_metric_families(metrics) if f.name == "shipyard_batch_size")
    count = sum(s.value for s in sizes.samples if s.name.endswith("_count"))
    total = sum(s.value for s in sizes.samples if s.name.endswith("_sum"))
    assert total == 24 and count < 12  # 24 concurrent single rows, scored together in a few model calls


@pytest.mark.slow
def test_shipyard_serve_cli_with_two_workers(models: tuple[pd.DataFrame, dict[int, LogisticRegression]]) -> None:
    import os
    import subprocess
    import sys

    x, fitted = models
    sy.flush()
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "shipyard.cli", "serve", "models:/cancer@champion", "--port", str(port),
                             "--workers", "2"], env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "shipyard serve did not start"
            time.sleep(0.2)
        for _ in range(4):  # whichever worker answers, the same model
            answer = httpx.post(f"http://127.0.0.1:{port}/v1/models/cancer@champion/predict",
                                json={"records": x[:3].to_dict("records")}).json()
            assert answer["predictions"] == fitted[1].predict(x[:3]).tolist()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_hot_swap_under_load_fails_no_request(models: tuple[pd.DataFrame, dict[int, LogisticRegression]]) -> None:
    x, _fitted = models
    sy.deploy("live", routes={"cancer@champion": 100})
    server = InferenceServer(current_workspace(), "default", models=["models:/cancer@champion"], deployments=["live"],
                             reload_seconds=0.2)
    seen: list[tuple[int, str, str]] = []
    stop = threading.Event()

    def load(url: str, path: str) -> None:
        with httpx.Client(base_url=url, timeout=10) as http:
            while not stop.is_set():
                answer = http.post(path, json={"records": x[:2].to_dict("records")})
                seen.append((answer.status_code, path, answer.json().get("model_version", answer.text)))

    with serving(server) as url:
        workers = [threading.Thread(target=load, args=(url, p)) for p in
                   ("/v1/models/cancer@champion/predict", "/v1/deployments/live/predict")]
        for w in workers:
            w.start()
        time.sleep(0.5)
        sy.set_alias("cancer", "champion", 2)  # both the model route and the deployment follow the alias
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not all(
                any(v == "cancer/2" and p == path for _c, p, v in seen[-20:]) for path in
                ("/v1/models/cancer@champion/predict", "/v1/deployments/live/predict")):
            time.sleep(0.1)
        time.sleep(0.3)
        stop.set()
        for w in workers:
            w.join()
    assert seen and all(code == 200 for code, _p, _v in seen), [s for s in seen if s[0] != 200][:5]
    for path in ("/v1/models/cancer@champion/predict", "/v1/deployments/live/predict"):
        versions = [v for _c, p, v in seen if p == path]
        assert versions[0] == "cancer/1" and versions[-1] == "cancer/2"
        assert versions == sorted(versions)  # once swapped, never back


def test_a_real_v2_client_round_trip(models: tuple[pd.DataFrame, dict[int, LogisticRegression]]) -> None:
    """tritonclient (a KServe V2 / Open Inference Protocol client) talks to the server unchanged."""
    import tritonclient.http as triton

    x, fitted = models
    rows = x[:4]
    server = InferenceServer(current_workspace(), "default", models=["models:/cancer@champion"])
    with serving(server) as url:
        client = triton.InferenceServerClient(url.removeprefix("http://"))
        assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("cancer")
        assert [i["name"] for i in client.get_model_metadata("cancer")["inputs"]] == list(rows.columns)
        tensor = triton.InferInput("x", list(rows.shape), "FP64")
        tensor.set_data_from_numpy(rows.to_numpy())
        result = client.infer("cancer", [tensor], outputs=[triton.InferRequestedOutput("predict", binary_data=False),
                                                             triton.InferRequestedOutput("predict_proba", binary_data=False)])
        assert result.as_numpy("predict").tolist() == fitted[1].predict(rows).tolist()
        np.testing.assert_allclose(result.as_numpy("predict_proba"), fitted[1].predict_proba(rows), rtol=1e-9)
        client.close()


def test_auth_and_body_limit(models: tuple[pd.DataFrame, dict[int, LogisticRegression]]) -> None:
    from shipyard.access import issue_token
    from shipyard.entities import Role

    x, _ = models
    store = current_workspace().metadata
    store.create_user("ana")  # type: ignore[attr-defined]
    store.create_user("bo")  # type: ignore[attr-defined]
    mine = issue_token(store, "ana", "default", Role.VIEWER)[1]  # type: ignore[arg-type]
    other = issue_token(store, "bo", "elsewhere", Role.EDITOR)[1]  # type: ignore[arg-type]
    sy.init(server_max_body_bytes=20_000)
    server = InferenceServer(current_workspace(), "default", models=["models:/cancer/1"], auth=True)
    body = {"records": x[:2].to_dict("records")}
    with serving(server) as url:
        path = f"{url}/v1/models/cancer/predict"
        assert httpx.post(path, json=body).status_code == 401
        assert httpx.post(path, json=body, headers={"authorization": "Bearer nonsense"}).status_code == 401
        assert httpx.post(path, json=body, headers={"authorization": f"Bearer {other}"}).status_code == 403
        assert httpx.post(path, json=body, headers={"authorization": f"Bearer {mine}"}).status_code == 200
        huge = {"records": x.to_dict("records") * 3}
        too_big = httpx.post(path, json=huge, headers={"authorization": f"Bearer {mine}"})
        assert too_big.status_code == 413 and too_big.json()["error_code"] == "REQUEST_TOO_LARGE"
        assert httpx.get(f"{url}/healthz").status_code == 200  # probes stay open


def test_rate_limit_per_caller_answers_429_with_retry_after(models: tuple[pd.DataFrame, Any]) -> None:
    x, _ = models
    server = InferenceServer(current_workspace(), "default", models=["models:/cancer/1"], rate_limit=2.0, burst=3)
    body = {"records": x[:1].to_dict("records")}
    with serving(server) as url, httpx.Client(base_url=url) as http:
        codes = [http.post("/v1/models/cancer/predict", json=body, headers={"authorization": "Bearer a"}).status_code
                 for _ in range(8)]
        assert codes[:3] == [200, 200, 200] and 429 in codes[3:]
        limited = http.post("/v1/models/cancer/predict", json=body, headers={"authorization": "Bearer a"})
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert limited.json()["error_code"] == "RATE_LIMITED"
        assert http.post("/v1/models/cancer/predict", json=body, headers={"authorization": "Bearer b"}).status_code == 200
        time.sleep(1.1)  # the bucket refills at 2 requests/s
        assert http.post("/v1/models/cancer/predict", json=body, headers={"authorization": "Bearer a"}).status_code == 200
