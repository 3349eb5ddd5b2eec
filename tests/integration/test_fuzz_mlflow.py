"""Property-based fuzzing of the MLflow-compatible routes, which take free-form JSON (no body schema
for schemathesis to follow): any JSON body or query answers with MLflow's error shape, never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipyard.config import Settings
from shipyard.server._mlflow import PREFIX, ROUTES
from shipyard.server._mlflow_models import ROUTES as MODEL_ROUTES
from shipyard.workspace import build_workspace

from ..conftest import LiveServer

FIELDS = ["name", "experiment_id", "experiment_ids", "run_id", "run_uuid", "key", "value", "step", "timestamp",
          "metrics", "params", "tags", "status", "end_time", "start_time", "max_results", "page_token", "filter",
          "order_by", "version", "alias", "source", "model_id", "description", "stages", "stage", "models",
          "datasets", "run_view_type", "view_type", "new_name", "user_id", "run_name", "model_json", "metric_key",
          "path", "source_run_id", "model_type", "artifact_directory_path", "experiment_name"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12), st.sampled_from(["0", "1", "NaN", "READY", "m-x"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.sampled_from(["key", "value", "step", "model_id",
                                                                                        "dataset", "tags", "timestamp"]),
                                                                       inner, max_size=3)), max_leaves=6)
bodies = st.dictionaries(st.sampled_from(FIELDS), values, max_size=6)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    root: Path = tmp_path_factory.mktemp("fuzz-mlflow")
    ws = build_workspace(Settings(store_uri=f"sqlite:///{root / 's.db'}", artifact_uri=(root / "art").as_uri()))
    with LiveServer(ws) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        run = http.post(f"{PREFIX}/runs/create", json={"experiment_id": "0"}).json()["run"]["info"]["run_id"]
        http.post(f"{PREFIX}/registered-models/create", json={"name": "m"})
        yield http, {"run_id": run, "name": "m"}
    ws.close()


@pytest.mark.slow
@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p, _h in ROUTES + MODEL_ROUTES])
@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=bodies, seeded=st.booleans(), model_id=st.text(max_size=8))
def test_mlflow_routes_never_answer_5xx(client: tuple[httpx.Client, dict[str, str]], method: str, path: str,
                                        body: dict[str, Any], seeded: bool, model_id: str) -> None:
    http, seed = client
    if seeded:  # reach past "not found" into the handlers
        body = {**body, **seed}
    url = PREFIX + path.replace("{model_id}", quote(model_id, safe="") or "m-x").replace("{tag_key}", "k")
    if method == "GET":
        query = {k: v if isinstance(v, str) else str(v) for k, v in body.items()}
        answer = http.get(url, params=query)
    else:
        answer = http.request(method, url, json=body)
    assert answer.status_code < 500, (method, url, body, answer.text[:500])
    assert "error_code" in answer.json() if answer.status_code >= 400 else True
