"""The web UI over HTTP (no browser): every page's content against the store, server-side paging,
filtering and sorting, chart data down-sampling, artifact previews, alias moves with their reason and
CSRF check, and logins and roles on an authenticated server. The browser tests are
tests/integration/test_ui_browser.py."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import shipyard as sy
from shipyard.access import issue_token
from shipyard.entities import Role

with warnings.catch_warnings():  # starlette asks for httpx2, which this environment does not have
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient


def _client(auth: bool = False) -> tuple[Any, Any]:
    from shipyard.server._app import create_app
    from shipyard.workspace import build_workspace

    ws = build_workspace()
    return TestClient(create_app(ws, auth=auth), follow_redirects=False), ws


def _text(html: str) -> str:
    """The page's visible text, tags removed and whitespace folded."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture
def seeded(tmp_path: Path) -> dict[str, Any]:
    """Two experiments, 30 runs with params and stepped metrics, artifacts of each preview kind, a
    registered model with two versions and an alias."""
    ids = []
    for i in range(30):
        with sy.start_run(experiment="tuning", run_name=f"trial-{i:02d}") as run:
            run.log_params({"lr": round(0.01 * (i + 1), 2), "model": "lgbm" if i % 2 else "xgb"})
            for step in range(50):
                run.log_metric("loss", 1.0 / (step + 1) + i * 0.001, step=step)
            run.log_metric("auc", 0.5 + i / 100)
            ids.append(run.id)
    art = tmp_path / "art"
    art.mkdir()
    (art / "notes.txt").write_text("hello <b>world</b>")
    pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None]}).to_csv(art / "table.csv", index=False)
    (art / "pic.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32)
    (art / "evil.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>")
    from sklearn.dummy import DummyClassifier

    x = pd.DataFrame({"f1": [0.0, 1.0, 2.0, 3.0], "f2": [1.0, 0.0, 1.0, 0.0]})
    with sy.start_run(experiment="baseline", run_name="baseline-run") as run:
        run.log_param("model", "dummy")
        run.log_metric("auc", 0.45)
        for f in sorted(art.iterdir()):
            run.log_artifact(f)
        info = run.log_model(DummyClassifier().fit(x, [0, 1, 0, 1]), name="model", input_example=x[:2])
        baseline = run.id
    v1 = sy.register_model(info.uri, "churn")
    v2 = sy.register_model(info.uri, "churn")
    sy.set_alias("churn", "champion", v1.version, reason="first")
    return {"runs": ids, "baseline": baseline, "versions": (v1.version, v2.version)}


def test_home_and_root_redirect_to_the_runs_of_the_default_project(seeded: dict[str, Any]) -> None:
    client, _ = _client()
    assert client.get("/").headers["location"] == "/ui/"
    assert client.get("/ui/").headers["location"] == "/ui/p/default/runs"
    static = client.get("/ui/static/uPlot.iife.min.js")
    assert static.status_code == 200 and "uPlot" in static.text and "max-age" in static.headers["cache-control"]
    assert "MIT" in client.get("/ui/static/uPlot.LICENSE").text
    assert "/ui" not in str(client.get("/openapi.json").json()["paths"])  # pages are not API operations


def test_runs_table_pages_sorts_and_filters_on_the_server(seeded: dict[str, Any]) -> None:
    client, ws = _client()
    page = client.get("/ui/p/default/runs", params={"size": 25, "sort": "metrics.auc", "desc": "1"})
    assert page.status_code == 200
    names = re.findall(r">(trial-\d\d|baseline-run)</a>", page.text)
    assert names == [f"trial-{i:02d}" for i in range(29, 4, -1)]  # 25 runs, best AUC first
    text = _text(page.text)
    assert "0.79" in text and "Next page" in text  # trial-29's AUC, as the store has it
    nxt = re.search(r'rel="next" href="([^"]+)"', page.text)
    assert nxt
    second = client.get(nxt.group(1).replace("&amp;", "&"))
    rest = re.findall(r">(trial-\d\d|baseline-run)</a>", second.text)
    assert rest == [f"trial-{i:02d}" for i in range(4, -1, -1)] + ["baseline-run"] and "Next page" not in second.text
    filtered = client.get("/ui/p/default/runs", params={"filter": "params.model = 'lgbm' AND metrics.auc > 0.7"})
    got = sorted(re.findall(r">(trial-\d\d)</a>", filtered.text))
    want = sorted(r.name for r in sy.TrackingClient(ws).search(filter="params.model = 'lgbm' AND metrics.auc > 0.7"))
    assert got == want and len(got) == 5
    assert client.get("/ui/p/default/runs", params={"size": "lots"}).status_code == 400
    bad = client.get("/ui/p/default/runs", params={"filter": "metrics.auc >>> 1"})
    assert bad.status_code == 200 and 'role="alert"' in bad.text and "metrics.auc &gt;&gt;&gt; 1" in bad.text


def test_runs_table_columns_and_experiments(seeded: dict[str, Any]) -> None:
    client, ws = _client()
    tuning = sy.TrackingClient(ws).get_experiment("tuning").id
    page = client.get("/ui/p/default/runs", params={"experiment": tuning, "cols": "params.lr", "size": 100})
    assert "baseline-run" not in page.text and len(re.findall(r">trial-\d\d</a>", page.text)) == 30
    header = page.text.split("<tbody>")[0]
    assert ">lr<" in header.replace(" ", "") or "lr<span" in header
    assert "auc" not in header.split("Columns")[1].split("</details>")[1]  # only the chosen column is shown
    assert 'value="metrics.auc"' in page.text  # ... and the picker offers the others


def test_run_detail_shows_what_the_store_has(seeded: dict[str, Any]) -> None:
    client, ws = _client()
    run = ws.metadata.get_run(seeded["runs"][3])
    page = client.get(f"/ui/runs/{run.id}")
    assert page.status_code == 200
    text = _text(page.text)
    for key, value in run.params.items():
        assert f"{key} {value}" in text
    assert f"auc {run.metrics['auc']:.6g}" in text and 'data-key="loss"' in page.text
    assert client.get("/ui/runs/nope").status_code == 404


def test_chart_data_is_down_sampled_on_the_server(seeded: dict[str, Any]) -> None:
    client, ws = _client()
    a, b = seeded["runs"][:2]
    full = client.get("/ui/api/series", params={"key": "loss", "run": [a, b], "points": 5000}).json()
    assert [len(s["step"]) for s in full["series"]] == [50, 50]
    history = ws.metadata.get_metric_history(a, "loss")
    assert full["series"][0]["value"] == [m.value for m in history]
    small = client.get("/ui/api/series", params={"key": "loss", "run": a, "points": 10}).json()["series"][0]
    assert len(small["step"]) == 10 and small["step"][0] == 0 and small["step"][-1] == 49
    assert set(small["step"]) <= set(range(50)) and small["value"][0] == 1.0  # real points, ends kept
    assert client.get("/ui/api/series", params={"run": a}).status_code == 400


def test_artifact_previews_and_downloads(seeded: dict[str, Any]) -> None:
    client, _ = _client()
    run = seeded["baseline"]
    text = client.get(f"/ui/runs/{run}/artifacts/notes.txt")
    assert "hello &lt;b&gt;world&lt;/b&gt;" in text.text  # escaped, never rendered
    table = _text(client.get(f"/ui/runs/{run}/artifacts/table.csv").text)
    assert "a b" in table and "1 x" in table and "3" in table
    image = client.get(f"/ui/runs/{run}/files/pic.png")
    assert image.headers["content-type"] == "image/png" and image.headers["content-disposition"].startswith("inline")
    svg = client.get(f"/ui/runs/{run}/files/evil.svg")
    assert svg.headers["content-disposition"].startswith("attachment")
    assert svg.headers["content-type"] == "application/octet-stream"
    assert client.get(f"/ui/runs/{run}/artifacts/missing.txt").status_code == 404


def test_compare_view(seeded: dict[str, Any]) -> None:
    client, _ = _client()
    ids = seeded["runs"][:3]
    page = client.get("/ui/compare", params={"run": ids})
    assert page.status_code == 200
    assert page.text.count('class="differs"') == 2  # lr and model differ
    assert "<svg class=\"parallel\"" in page.text and page.text.count("run-line") == 3
    assert page.text.count("data-chart ") == 2  # auc and loss, overlaid across the runs
    assert client.get("/ui/compare", params={"run": ids[0]}).status_code == 400


def test_models_pages_and_alias_moves(seeded: dict[str, Any]) -> None:
    client, ws = _client()
    listing = _text(client.get("/ui/p/default/models").text)
    assert "churn" in listing and "@champion → v1" in listing
    page = client.get("/ui/p/default/models/churn")
    assert page.status_code == 200
    text = _text(page.text)
    assert "v2" in text and "first" in text and "Move an alias" in text
    assert "<svg class=\"lineage\"" in page.text and "baseline-run" in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    form = {"alias": "champion", "version": "2", "reason": "", "csrf": csrf.group(1)}
    refused = client.post("/ui/p/default/models/churn/alias", data=form)
    assert refused.status_code == 400 and "reason" in refused.text  # the reason is required
    assert client.post("/ui/p/default/models/churn/alias", data={**form, "reason": "x", "csrf": "forged"}).status_code == 403
    moved = client.post("/ui/p/default/models/churn/alias", data={**form, "reason": "better AUC"})
    assert moved.status_code == 303
    assert sy.Registry(ws).get_model("churn").aliases["champion"] == 2
    history = sy.Registry(ws).alias_history("churn", "champion")
    assert history[-1].reason == "better AUC" and history[-1].previous_version == 1
    after = _text(client.get(moved.headers["location"]).text)
    assert "now points to version 2" in after and "better AUC" in after


@pytest.fixture
def secured(seeded: dict[str, Any]) -> Iterator[tuple[Any, dict[str, str]]]:
    client, ws = _client(auth=True)
    store = ws.metadata
    for name in ("vi", "ed", "other"):
        store.create_user(name)
    tokens = {"viewer": issue_token(store, "vi", "default", Role.VIEWER)[1],
              "editor": issue_token(store, "ed", "default", Role.EDITOR)[1],
              "other": issue_token(store, "other", "elsewhere", Role.EDITOR)[1]}
    yield client, tokens
    ws.close()


def test_login_roles_and_projects(secured: tuple[Any, dict[str, str]]) -> None:
    client, tokens = secured
    first = client.get("/ui/p/default/runs")
    assert first.status_code == 303 and first.headers["location"].startswith("/ui/login?next=")
    wrong = client.post("/ui/login", data={"token": "sy_bad_token", "next": "/ui/"})
    assert wrong.status_code == 401 and "Unknown token" in wrong.text
    ok = client.post("/ui/login", data={"token": tokens["viewer"], "next": "/ui/p/default/models/churn"})
    assert ok.status_code == 303 and ok.headers["location"] == "/ui/p/default/models/churn"
    assert "httponly" in ok.headers["set-cookie"].lower() and "samesite=strict" in ok.headers["set-cookie"].lower()
    page = client.get("/ui/p/default/models/churn")
    assert page.status_code == 200 and "Move an alias" not in page.text  # a viewer sees no editing form
    csrf = re.search(r'name="csrf"', page.text)
    assert csrf is None
    from shipyard.ui._app import _csrf

    form = {"alias": "champion", "version": "2", "reason": "try", "csrf": _csrf(tokens["viewer"])}
    assert client.post("/ui/p/default/models/churn/alias", data=form).status_code == 403
    assert client.get("/ui/p/elsewhere/runs").status_code == 404  # nothing crosses projects
    client.cookies.clear()
    client.post("/ui/login", data={"token": tokens["editor"], "next": "/ui/"})
    form["csrf"] = _csrf(tokens["editor"])
    assert client.post("/ui/p/default/models/churn/alias", data=form).status_code == 303
    client.cookies.clear()
    client.post("/ui/login", data={"token": tokens["other"], "next": "/ui/"})
    assert client.get("/ui/p/default/runs").status_code == 404
    assert client.get("/ui/p/elsewhere/runs").status_code == 200
    assert client.get("/ui/login", params={"next": "https://evil.example/"}).text.count("evil.example") == 0


def _traffic(deployment: str, n: int, route: str, version: str, latency: float) -> None:
    import time

    from shipyard.monitoring._predictions import PredictionLog
    from shipyard.workspace import current_workspace

    now = int(time.time() * 1000)
    with PredictionLog(current_workspace(), "default", deployment, flush_seconds=60) as log:
        for i in range(n):
            log.log(f"{route}-{i}", route=route, model_version=version, inputs=[{"f1": 1.0, "f2": 0.0}],
                    predictions=[1], latency_ms=latency + i % 3, ts=now - 60_000 + i)
        if route == "churn/2":
            log.log_error("failed-1", route=route, status=500, error="MODEL_FAILED", ts=now - 30_000)
            log.log_error("failed-2", route=None, status=400, error="INVALID_PARAMETER", ts=now - 30_000)


def test_deployments_what_is_live_where(seeded: dict[str, Any]) -> None:
    sy.deploy("churn-prod", {"churn@champion": 90, "churn/2": 10}, reason="launch")
    _traffic("churn-prod", 30, "churn@champion", "churn/1", 2.0)
    _traffic("churn-prod", 10, "churn/2", "churn/2", 5.0)
    client, ws = _client()
    listing = client.get("/ui/p/default/deployments")
    assert listing.status_code == 200
    text = _text(listing.text)
    assert "90% churn@champion → v1" in text and "10% churn/2 → v2" in text and " 40 " in text
    assert "2 (4.8%)" in text  # failed requests and their share of all
    page = client.get("/ui/p/default/deployments/churn-prod", params={"window": "24h"})
    body = _text(page.text)
    assert "churn@champion churn/1 30 30 3" in body  # route, version, requests, rows, p50 = median of 2, 3, 4
    assert "40 answered · 2 failed (4.76% error rate)" in body and "(before routing) 1" in body
    assert "churn/2 churn/2 10 10 6" in body and "<svg class=\"bars\"" in page.text and "launch" in body
    assert client.get("/ui/p/default/deployments/churn-prod", params={"window": "3y"}).status_code == 400
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    promote = {"action": "promote", "model": "churn/2", "reason": "", "csrf": csrf.group(1)}
    assert client.post("/ui/p/default/deployments/churn-prod/change", data=promote).status_code == 400
    done = client.post("/ui/p/default/deployments/churn-prod/change", data={**promote, "reason": "v2 is better"})
    assert done.status_code == 303
    dep = sy.serving.status("churn-prod").deployment
    assert [(r.model, r.weight) for r in dep.routes] == [("churn/2", 100)] and dep.revision == 2
    back = client.post("/ui/p/default/deployments/churn-prod/change",
                       data={"action": "rollback", "reason": "errors up", "csrf": csrf.group(1)})
    assert back.status_code == 303
    dep = sy.serving.status("churn-prod").deployment
    assert sorted((r.model, r.weight) for r in dep.routes) == [("churn/2", 10), ("churn@champion", 90)]
    history = _text(client.get(back.headers["location"]).text)
    assert "v2 is better" in history and "errors up" in history and "rollback" in history


def test_monitor_pages(seeded: dict[str, Any]) -> None:
    from .test_monitors import HOUR, T0, _data, _log

    rng = np.random.default_rng(7)
    sy.monitor("prod", reference=_data(3000, rng), window="1h", start=T0, rules=["drift.share >= 0.5"])
    _log(_data(600, rng), T0, rng=rng)
    _log(_data(600, rng, shift=1.5, cats=("a", "b", "z")), T0 + HOUR, rng=rng)
    sy.monitoring.run("prod", now=T0 + 2 * HOUR + 1)
    client, ws = _client()
    listing = _text(client.get("/ui/p/default/monitors").text)
    assert "prod prod active 1 h 0 min" in listing or "prod prod active" in listing
    assert "alert" in listing and "1 firing" in listing
    page = client.get("/ui/p/default/monitors/prod")
    assert page.status_code == 200
    text = _text(page.text)
    assert "Share of drifted columns per window" in page.text and "drift.share &gt;= 0.5" in text
    assert "fired" in text  # the alert's life cycle
    assert 'value="x1"' not in page.text or "<option selected>" in page.text
    other = client.get("/ui/p/default/monitors/prod", params={"column": "c"})
    assert "c (drifted)" in other.text or ">c<" in other.text
    report = client.get("/ui/p/default/monitors/prod/report")
    assert report.status_code == 200 and report.text.startswith("<!doctype html>") and "Monitor <code>prod</code>" in report.text
    assert client.get("/ui/p/default/monitors/nope").status_code == 404


def test_feature_catalog(seeded: dict[str, Any], tmp_path: Path) -> None:
    rows = pd.DataFrame({"origin": ["a", "b"], "ts": pd.to_datetime(["2026-01-01", "2026-01-02"], utc=True),
                         "temp": [1.0, 2.0]})
    rows.to_parquet(tmp_path / "w.parquet")
    origin = sy.Entity("origin", ["origin"], description="an airport")
    weather = sy.FeatureView(name="weather", entities=[origin], features={"temp": float}, ttl="6h",
                             source=sy.ParquetSource(str(tmp_path / "w.parquet"), timestamp="ts"))
    planes = sy.FeatureView(name="never", entities=[origin], features={"temp": float},
                            source=sy.ParquetSource(str(tmp_path / "w.parquet"), timestamp="ts"))
    sy.features.apply([origin, weather])
    sy.features.materialize(end="2026-01-03T00:00:00Z")
    sy.features.apply([origin, weather, planes])  # added after the materialization: never materialized
    client, _ = _client()
    text = _text(client.get("/ui/p/default/features").text)
    assert "origin origin 1 an airport" in text
    assert "weather 1 origin temp parquet:" in text and "past the TTL" in text and "2026-01-03 00:00:00" in text
    assert "never 1 origin temp" in text and " never " in text.split("never 1 origin temp")[1][:200]
    detail = _text(client.get("/ui/p/default/features/feature_view/weather").text)
    assert "TTL 6 h 0 min" in detail and "temp float" in detail and "up to 2026-01-03 00:00:00" in detail
    assert client.get("/ui/p/default/features/feature_view/nope").status_code == 404


def test_admin_pages(secured: tuple[Any, dict[str, str]]) -> None:
    client, tokens = secured
    client.post("/ui/login", data={"token": tokens["editor"], "next": "/ui/"})
    assert client.get("/ui/admin").status_code == 403  # admins only
    client.cookies.clear()
    from shipyard.workspace import build_workspace

    ws = build_workspace()
    admin_token = issue_token(ws.metadata, "vi", None, Role.ADMIN)[1]
    client.post("/ui/login", data={"token": admin_token, "next": "/ui/admin"})
    page = client.get("/ui/admin")
    assert page.status_code == 200 and "ed" in _text(page.text)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    made = client.post("/ui/admin/tokens", data={"action": "create", "user": "newbie", "role": "viewer",
                                                 "project": "default", "csrf": csrf.group(1)})
    assert made.status_code == 400 and "create the user" in made.text
    made = client.post("/ui/admin/tokens", data={"action": "create", "user": "newbie", "create_user": "1",
                                                 "role": "viewer", "project": "default", "csrf": csrf.group(1)})
    secret = re.search(r'<pre class="token">(sy_[^<]+)</pre>', made.text)
    assert made.status_code == 200 and secret  # shown once...
    from shipyard.access import authenticate

    assert authenticate(ws.metadata, secret.group(1)).user == "newbie"
    token_id = secret.group(1).split("_")[1]
    assert secret.group(1) not in client.get("/ui/admin").text  # ...and never again
    revoked = client.post("/ui/admin/tokens", data={"action": "revoke", "token_id": token_id, "csrf": csrf.group(1)})
    assert revoked.status_code == 303
    assert ws.metadata.get_token(token_id)[0].revoked_at is not None
    quota = client.post("/ui/admin/quotas", data={"project": "default", "kind": "deployments", "limit": "3",
                                                  "csrf": csrf.group(1)})
    assert quota.status_code == 303 and [(q.kind, q.limit) for q in ws.metadata.list_quotas("default")] == [("deployments", 3)]
    audit = _text(client.get("/ui/admin/audit", params={"action": "ui.token.create"}).text)
    assert "ui.token.create" in audit and "user=newbie" in audit and "ui.quota.set" not in audit
    assert "400" in audit and "200" in audit  # the refused attempt is audited too
    ws.close()


def test_what_an_alias_pointed_to_when(seeded: dict[str, Any]) -> None:
    import time

    client, ws = _client()
    before_any = "2000-01-01T00:00:00Z"
    moved_at = int(time.time() * 1000)
    time.sleep(0.01)
    sy.set_alias("churn", "champion", 2, reason="second")
    first = _text(client.get("/ui/p/default/models/churn", params={"at": before_any}).text)
    assert "@champion → nothing" in first
    then = _text(client.get("/ui/p/default/models/churn", params={"at": moved_at}).text)
    assert "@champion → v1" in then
    now = _text(client.get("/ui/p/default/models/churn", params={"at": int(time.time() * 1000) + 1000}).text)
    assert "@champion → v2" in now
    assert client.get("/ui/p/default/models/churn", params={"at": "yesterday-ish"}).status_code == 400
