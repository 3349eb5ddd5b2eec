"""``shipyard monitor create|list|run|results|alerts|events|report|pause|resume|delete`` and
``shipyard data save|contracts``: the stored monitors from the shell."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from shipyard.cli import app
from shipyard.monitoring import PredictionLog
from shipyard.workspace import current_workspace

runner = CliRunner()
HOUR = 3_600_000
T0 = 1_764_460_800_000


def _text(output: str) -> str:
    return " ".join(output.split())


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return _text(result.output)


def test_monitor_from_the_shell(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=3000), "c": rng.choice(["a", "b"], 3000)})
    ref.to_parquet(tmp_path / "ref.parquet")
    _ok("data", "infer", str(tmp_path / "ref.parquet"), "-o", str(tmp_path / "schema.yaml"))
    assert "version 1" in _ok("data", "save", "inputs", str(tmp_path / "schema.yaml"))
    assert "version 2" in _ok("data", "save", "inputs", str(tmp_path / "schema.yaml"), "--description", "again")
    assert json.loads(runner.invoke(app, ["data", "contracts", "--json"]).output)[0]["version"] == 2

    made = _ok("monitor", "create", "prod", "-r", str(tmp_path / "ref.parquet"), "--window", "1h", "--start",
               "2025-11-30T00:00:00+00:00", "--rule", "drift.share >= 0.5", "--rule", "rows < 10", "--contract", "inputs")
    assert "Monitor prod (revision 1) watches prod" in made and "rows < 10" in made
    assert "prod" in _ok("monitor", "list")
    with PredictionLog(current_workspace(), "default", "prod", flush_seconds=60) as log:
        for i in range(300):
            log.log(f"a{i}", route="m/1", model_version="m/1", inputs=[{"x": float(rng.normal()), "c": "ab"[i % 2]}],
                    predictions=[0], ts=T0 + i)
            log.log(f"b{i}", route="m/1", model_version="m/1", inputs=[{"x": float(rng.normal(3)), "c": "z"}],
                    predictions=[1], ts=T0 + HOUR + i)
    assert "No window is due" in _ok("monitor", "run", "prod", "--now", "2025-11-30T00:30:00+00:00")
    ran = runner.invoke(app, ["monitor", "run", "--now", "2025-11-30T02:00:00+00:00", "--fail-on-alert", "--json"])
    assert ran.exit_code == 1, ran.output  # the second hour drifted: an alert is firing
    windows = json.loads(ran.output)
    assert [w["status"] for w in windows] == ["ok", "alert"]
    assert windows[1]["alerts"][0]["rule"] == "drift.share >= 0.5" and windows[1]["alerts"][0]["change"] == "fired"
    assert "Evaluated windows" in _ok("monitor", "run", "--now", "2025-11-30T03:00:00+00:00")
    series = json.loads(runner.invoke(app, ["monitor", "results", "prod", "--json"]).output)
    assert [w["status"] for w in series] == ["ok", "alert", "empty"] and series[1]["metrics"]["drift.share"] == 1.0
    firing = json.loads(runner.invoke(app, ["monitor", "alerts", "--firing", "--json"]).output)
    assert [a["rule"] for a in firing] == ["drift.share >= 0.5"] and firing[0]["state"] == "FIRING"
    kinds = [e["kind"] for e in json.loads(runner.invoke(app, ["monitor", "events", "--json"]).output)]
    assert kinds == ["monitor.window", "monitor.window", "alert.fired", "monitor.window"]
    assert "alert.fired" in _ok("monitor", "events", "--kind", "alert.*")
    wrote = _ok("monitor", "report", "prod", "--html", str(tmp_path / "r.html"), "--json", str(tmp_path / "r.json"))
    assert "3 window(s), 1 alert(s)" in wrote and "<svg" in (tmp_path / "r.html").read_text()
    assert runner.invoke(app, ["monitor", "report", "prod"]).exit_code == 2  # no output asked for
    assert "paused" in _ok("monitor", "pause", "prod")
    assert "No window is due" in _ok("monitor", "run", "prod", "--now", "2025-11-30T09:00:00+00:00")
    assert "active" in _ok("monitor", "resume", "prod")
    assert "Deleted monitor prod" in _ok("monitor", "delete", "prod", "--yes")
    missing = runner.invoke(app, ["monitor", "results", "prod"])
    assert missing.exit_code != 0 and "No monitor 'prod'" in str(missing.exception)  # main() prints it, exit 2
    bad = runner.invoke(app, ["monitor", "create", "prod", "-r", str(tmp_path / "ref.parquet"), "--rule", "accuracy ~ 1"])
    assert bad.exit_code != 0 and "Cannot read the alert rule" in str(bad.exception)
