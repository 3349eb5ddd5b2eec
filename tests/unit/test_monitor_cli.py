"""``shipyard monitor profile / drift / performance``: files and a deployment's log in, tables or
JSON out; exit 1 on drift with ``--fail-on-drift``, 2 when the input cannot be read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import shipyard as sy
from shipyard.cli import app
from shipyard.monitoring import PredictionLog
from shipyard.workspace import current_workspace

runner = CliRunner()


def _text(output: str) -> str:
    return " ".join(output.split())  # Rich wraps lines at the terminal width


def test_profile_then_drift(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=5000), "c": rng.choice(["a", "b"], 5000)})
    same = pd.DataFrame({"x": rng.normal(size=5000), "c": rng.choice(["a", "b"], 5000)})
    moved = same.assign(x=same["x"] + 1.0)
    ref.to_parquet(tmp_path / "ref.parquet")
    same.to_csv(tmp_path / "same.csv", index=False)
    moved.to_parquet(tmp_path / "moved.parquet")
    made = runner.invoke(app, ["monitor", "profile", str(tmp_path / "ref.parquet"), "-o", str(tmp_path / "ref.json")])
    assert made.exit_code == 0, made.output
    assert "2 columns profiled from 5,000 rows" in _text(made.output)

    calm = runner.invoke(app, ["monitor", "drift", str(tmp_path / "ref.json"), str(tmp_path / "same.csv"),
                               "--fail-on-drift"])
    assert calm.exit_code == 0, calm.output
    assert "0 of 2 columns drifted" in _text(calm.output)
    shifted = runner.invoke(app, ["monitor", "drift", str(tmp_path / "ref.parquet"), str(tmp_path / "moved.parquet"),
                                  "--json", "--fail-on-drift"])
    assert shifted.exit_code == 1
    assert json.loads(shifted.output)["drifted_columns"] == ["x"]
    only_c = runner.invoke(app, ["monitor", "drift", str(tmp_path / "ref.json"), str(tmp_path / "moved.parquet"),
                                 "--columns", "c", "--json"])
    assert list(json.loads(only_c.output)["columns"]) == ["c"]

    missing = runner.invoke(app, ["monitor", "drift", str(tmp_path / "nope.parquet"), str(tmp_path / "same.csv")])
    assert missing.exit_code == 2 and "no such file" in _text(missing.output)
    (tmp_path / "data.txt").write_text("x")
    odd = runner.invoke(app, ["monitor", "drift", str(tmp_path / "data.txt"), str(tmp_path / "same.csv")])
    assert odd.exit_code == 2 and "unknown file type" in _text(odd.output)
    backwards = runner.invoke(app, ["monitor", "drift", str(tmp_path / "ref.parquet"), str(tmp_path / "ref.json")])
    assert backwards.exit_code == 2 and "must be data" in _text(backwards.output)


def test_performance_of_a_deployment() -> None:
    empty = runner.invoke(app, ["monitor", "performance", "flights-prod"])
    assert empty.exit_code == 0 and "No labelled predictions yet" in _text(empty.output)
    with PredictionLog(current_workspace(), "default", "flights-prod", flush_seconds=60) as log:
        for i in range(400):
            route = "m@champion" if i % 4 else "m@challenger"
            truth = i % 2
            right = i % 10 != 0 if route == "m@champion" else i % 3 != 0
            pred = truth if right else 1 - truth
            log.log(f"r{i}", route=route, model_version="m/1" if i % 4 else "m/2", inputs=[{"x": float(i)}],
                    predictions=[pred], probabilities=[[1.0 - pred, float(pred)]])
    sy.monitoring.feedback("flights-prod", {f"r{i}": i % 2 for i in range(400)})
    shown = runner.invoke(app, ["monitor", "performance", "flights-prod", "--by", "route"])
    assert shown.exit_code == 0, shown.output
    text = _text(shown.output)
    assert "m@champion" in text and "A/B readout on accuracy" in text and "baseline" in text
    data = json.loads(runner.invoke(app, ["monitor", "performance", "flights-prod", "--json"]).output)
    assert data["overall"]["labelled"] == 400
    # champion: 300 rows, wrong where i % 10 == 0 (20 rows); challenger: 100 rows, wrong where i % 3 == 0 (34)
    assert data["overall"]["metrics"]["accuracy"] == pytest.approx((280 + 66) / 400)
    assert data["ab"]["baseline"] == "m@champion" and len(data["ab"]["routes"]) == 2
