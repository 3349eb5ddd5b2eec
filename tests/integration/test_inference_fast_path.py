"""The inference server's fast path on a real socket: the ONNX form served when proven, missing
values as JSON nulls, the response cache, model failures answered and counted, remembered tokens."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families
from sklearn.linear_model import LogisticRegression

import shipyard as sy
from shipyard.registry import to_onnx
from shipyard.serving._app import InferenceServer
from shipyard.workspace import current_workspace

from .test_inference_server import models, serving

__all__ = ["models"]  # the fixture, used by name


class Picky(sy.PythonModel):
    """Counts missing inputs per row; fails on a negative ``a``."""

    def predict(self, inputs: Any) -> Any:
        if (inputs["a"] < 0).any():
            raise ValueError("a must not be negative")
        return inputs.isna().sum(axis=1).to_numpy()


def _samples(metrics: str, family: str) -> list[Any]:
    found = next(f for f in text_string_to_metric_families(metrics) if f.name == family)
    return [s for s in found.samples if s.name.endswith("_total")]


def test_the_proven_onnx_form_is_served_and_agrees(models: tuple[pd.DataFrame, dict[int, LogisticRegression]]) -> None:
    x, fitted = models
    to_onnx("models:/cancer/1")
    rows = x[:20]
    onnx = InferenceServer(current_workspace(), "default", models=["models:/cancer@champion"], reload_seconds=0)
    native = InferenceServer(current_workspace(), "default", models=["models:/cancer@champion"], reload_seconds=0,
                             runtime="native")
    for server, platform in ((onnx, "shipyard/onnx"), (native, "shipyard/sklearn")):
        with serving(server) as url, httpx.Client(base_url=url) as http:
            assert http.get("/v2/models/cancer").json()["platform"] == platform
            answer = http.post("/v1/models/cancer/predict", json={"records": rows.to_dict("records")}).json()
            assert answer["predictions"] == fitted[1].predict(rows).tolist()
            np.testing.assert_allclose(answer["probabilities"], fitted[1].predict_proba(rows), atol=1e-4)
            split = http.post("/invocations", json={"dataframe_split": rows.to_dict("split")}).json()
            assert split["predictions"] == answer["predictions"]
        server.close()


def test_nulls_are_missing_values_and_model_failures_are_answered_and_counted() -> None:
    example = pd.DataFrame({"a": [1.0, 2.0], "b": [0.5, np.nan]})
    with sy.start_run() as run:
        info = run.log_model(Picky(), name="picky", input_example=example)
    sy.register_model(info.uri, "picky")
    server = InferenceServer(current_workspace(), "default", models=["models:/picky/1"], reload_seconds=0)
    with serving(server) as url, httpx.Client(base_url=url) as http:
        one = http.post("/v1/models/picky/predict", json={"records": [{"a": 1.0, "b": None}]})
        assert one.status_code == 200, one.text
        assert one.json()["predictions"] == [1]
        columns = http.post("/v1/models/picky/predict", json={"columns": {"a": [1.0, 3.0], "b": [None, None]}})
        assert columns.json()["predictions"] == [1, 1]
        failed = http.post("/v1/models/picky/predict", json={"records": [{"a": -1.0, "b": 2.0}]})
        assert failed.status_code == 500 and failed.json()["error_code"] == "MODEL_ERROR"
        assert "a must not be negative" in failed.json()["message"] and failed.json()["hint"]
        v2 = http.post("/v2/models/picky/infer", json={"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [-2.0]},
                                                                   {"name": "b", "shape": [1], "datatype": "FP64", "data": [0.0]}]})
        assert v2.status_code == 500 and "a must not be negative" in v2.json()["error"]
        codes: dict[str, float] = {}
        for sample in _samples(http.get("/metrics").text, "shipyard_inference_requests"):
            codes[sample.labels["code"]] = codes.get(sample.labels["code"], 0.0) + sample.value
    server.close()
    assert codes == {"200": 2.0, "500": 2.0}


def test_the_response_cache_answers_repeats_and_empties_when_the_model_changes(
        models: tuple[pd.DataFrame, dict[int, LogisticRegression]]) -> None:
    x, fitted = models
    sy.deploy("cached", routes={"cancer@champion": 100}, cache_size=100, cache_ttl_s=60)
    server = InferenceServer(current_workspace(), "default", deployments=["cached"], reload_seconds=0)
    body = {"records": x[:3].to_dict("records")}
    with serving(server) as url, httpx.Client(base_url=url) as http:
        answers = [http.post("/v1/deployments/cached/predict", json=body).json() for _ in range(5)]
        assert {tuple(a["predictions"]) for a in answers} == {tuple(fitted[1].predict(x[:3]))}
        assert len({a["request_id"] for a in answers}) == 5
        other = http.post("/v1/deployments/cached/predict", json={"records": x[3:4].to_dict("records")}).json()
        assert other["predictions"] == fitted[1].predict(x[3:4]).tolist()
        sy.set_alias("cancer", "champion", 2)
        assert server.refresh() == ["cached"]
        moved = http.post("/v1/deployments/cached/predict", json=body).json()
        assert moved["model_version"] == "cancer/2" and moved["predictions"] == fitted[2].predict(x[:3]).tolist()
        lookups = {s.labels["result"]: s.value for s in _samples(http.get("/metrics").text, "shipyard_response_cache")}
    server.close()
    assert lookups == {"hit": 4.0, "miss": 3.0}
    logged = sy.predictions("cached")
    assert logged["request_id"].nunique() == 7 and len(logged) == 5 * 3 + 1 + 3  # cached answers are logged too


def test_bad_tokens_are_refused_every_time_and_good_ones_pass(models: tuple[pd.DataFrame, Any]) -> None:
    from shipyard.access import issue_token
    from shipyard.entities import Role

    x, _ = models
    store = current_workspace().metadata
    store.create_user("ana")  # type: ignore[attr-defined]
    token = issue_token(store, "ana", "default", Role.VIEWER)[1]  # type: ignore[arg-type]
    server = InferenceServer(current_workspace(), "default", models=["models:/cancer/1"], auth=True, reload_seconds=0)
    body = {"records": x[:1].to_dict("records")}
    with serving(server) as url, httpx.Client(base_url=url) as http:
        for _ in range(3):
            refused = http.post("/v1/models/cancer/predict", json=body, headers={"authorization": "Bearer sy_wrong"})
            assert refused.status_code == 401 and refused.json()["error_code"] == "UNAUTHENTICATED"
        for _ in range(3):
            assert http.post("/v1/models/cancer/predict", json=body,
                             headers={"authorization": f"Bearer {token}"}).status_code == 200
    server.close()
