"""The command line: every command runs, lists print tables or JSON, errors are one clear line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import shipyard as sy
from shipyard.cli import app

runner = CliRunner()


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
    return result.output


@pytest.fixture
def runs(tmp_path: Path) -> list[str]:
    ids = []
    (tmp_path / "model.txt").write_text("weights")
    for i, model in enumerate(["lgbm", "xgb"]):
        with sy.start_run(experiment="cli", run_name=f"run-{i}", tags={"team": "ops"}) as run:
            run.log_params({"model": model})
            run.log_metric("auc", 0.8 + i / 10)
            run.log_artifact(tmp_path / "model.txt", "model")
        ids.append(run.id)
    return ids


@pytest.mark.parametrize(
    "command",
    [[], ["experiments"], ["runs"], ["artifacts"], ["store"], ["config"], ["demo"], ["runs", "list"],
     ["store", "gc"], ["experiments", "create"]],
)
def test_every_command_has_help(command: list[str]) -> None:
    out = invoke(*command, "--help")
    assert "Usage" in out and len(out) > 100


def test_experiments_commands(runs: list[str]) -> None:
    assert "cli" in invoke("experiments", "list")
    data = json.loads(invoke("experiments", "list", "--json"))
    assert [e["name"] for e in data] == ["cli"]
    invoke("experiments", "create", "second")
    invoke("experiments", "rename", "second", "third")
    invoke("experiments", "delete", "third")
    assert [e["name"] for e in json.loads(invoke("experiments", "list", "--json"))] == ["cli"]
    assert len(json.loads(invoke("experiments", "list", "--all", "--json"))) == 2
    invoke("experiments", "restore", "third")


def test_runs_commands(runs: list[str]) -> None:
    table = invoke("runs", "list", "-e", "cli")
    assert "run-0" in table and "run-1" in table
    data = json.loads(invoke("runs", "list", "-e", "cli", "--filter", "params.model = 'xgb'", "--json"))
    assert [r["run_id"] for r in data] == [runs[1]]
    ordered = json.loads(invoke("runs", "list", "-o", "metrics.auc ASC", "--json"))
    assert [r["run_id"] for r in ordered] == runs
    show = invoke("runs", "show", runs[0][:8])  # the prefix the tables show
    assert "lgbm" in show and "model/model.txt" in show
    detail = json.loads(invoke("runs", "show", runs[0], "--json"))
    assert detail["params"] == {"model": "lgbm"} and detail["artifacts"][0]["path"] == "model/model.txt"
    assert detail["environment"]["python"]
    compare = invoke("runs", "compare", *runs, "--only-diff")
    assert "params.model" in compare and "tags.team" not in compare
    assert "params.model" in json.loads(invoke("runs", "compare", *runs, "--json"))
    invoke("runs", "delete", runs[0])
    assert [r["run_id"] for r in json.loads(invoke("runs", "list", "--json"))] == [runs[1]]
    invoke("runs", "restore", runs[0])
    assert len(json.loads(invoke("runs", "list", "--json"))) == 2


def test_artifacts_commands(runs: list[str], tmp_path: Path) -> None:
    assert "model/model.txt" in invoke("artifacts", "ls", runs[0][:8])
    listed = json.loads(invoke("artifacts", "ls", runs[0], "model", "--json"))
    assert listed[0]["size"] == 7 and len(listed[0]["sha256"]) == 64
    invoke("artifacts", "get", runs[0], "model", "--dest", str(tmp_path / "out"))
    assert (tmp_path / "out" / "model" / "model.txt").read_text() == "weights"


def test_store_and_config_commands(runs: list[str]) -> None:
    info = json.loads(invoke("store", "info", "--json"))
    assert info["backend"] == "sqlite" and info["counts"]["runs"] == 2 and info["projects"] == ["default"]
    assert "schema revision" in invoke("store", "info")
    invoke("runs", "delete", runs[0])
    assert "purge 1 deleted run(s) with 1 artifact file(s)" in invoke("store", "gc", "--dry-run")
    assert "purge 1 deleted" in invoke("store", "gc")
    assert json.loads(invoke("store", "info", "--json"))["counts"]["runs"] == 1
    settings = json.loads(invoke("config", "show", "--json"))
    assert settings["home"]["source"] == "environment"
    assert settings["project"] == {"value": "default", "source": "default"}


def test_global_options_select_store_and_project(tmp_path: Path, runs: list[str]) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert json.loads(invoke("--store-uri", other, "runs", "list", "--json")) == []
    assert json.loads(invoke("--project", "elsewhere", "runs", "list", "--json")) == []


def test_errors_are_one_clear_line(runs: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    from shipyard.cli import main

    for args, needle in (
        (["runs", "show", "nope"], "No run with id 'nope'"),
        (["runs", "list", "--filter", "metrics.auc >> 1"], "^"),
        (["experiments", "create", "cli"], "already exists"),
    ):
        old = sys.argv
        sys.argv = ["shipyard", *args]
        try:
            with pytest.raises(SystemExit) as info:
                main()
        finally:
            sys.argv = old
        assert info.value.code == 1
        err = capsys.readouterr().err
        assert err.startswith("Error:") and needle in err and "Traceback" not in err
    result = runner.invoke(app, ["runs", "show", "nope"])
    assert result.exit_code != 0 and "No run with id" in str(result.exception)


def test_token_users_and_audit_commands() -> None:
    out = invoke("token", "create", "--user", "ana", "--project", "flights", "--role", "editor", "--create-user",
                 "--description", "ci")
    assert "editor on project 'flights'" in out and "sy_" in out
    tokens = json.loads(invoke("token", "list", "--json"))
    assert tokens[0]["user"] == "ana" and tokens[0]["role"] == "editor" and "secret" not in json.dumps(tokens)
    invoke("token", "revoke", tokens[0]["id"])
    assert json.loads(invoke("token", "list", "--json"))[0]["revoked_at"] is not None
    invoke("users", "create", "root", "--admin")
    assert {u["name"] for u in json.loads(invoke("users", "list", "--json"))} == {"ana", "root"}
    assert json.loads(invoke("audit", "list", "--json")) == []  # the audit log records server calls
    bad = runner.invoke(app, ["token", "create", "--user", "ana", "--role", "viewer"])
    assert bad.exit_code != 0 and "must be an admin token" in str(bad.exception)
    mine = invoke("token", "create", "--project", "flights", "--role", "editor")  # the issue's own example: for you
    from shipyard.tracking._environment import user as login_name

    assert f"for {login_name() or 'default'}: editor on project 'flights'" in mine


def test_store_info_reports_the_online_store_without_creating_it(tmp_path: Path) -> None:
    import pandas as pd

    before = runner.invoke(app, ["store", "info", "--json"])
    assert before.exit_code == 0, before.output
    assert "not created yet" in json.loads(before.output)["online"]["note"]
    assert not (tmp_path / "home" / "online.db").exists()
    pd.DataFrame({"k": ["a"], "ts": [pd.Timestamp("2024-01-01", tz="UTC")], "x": [1.0]}).to_parquet(tmp_path / "x.parquet")
    key = sy.Entity("key", join_keys=["k"])
    sy.features.apply([key, sy.FeatureView(name="xs", entities=[key], features={"x": float},
                                           source=sy.ParquetSource(str(tmp_path / "x.parquet"), timestamp="ts"))])
    sy.features.materialize(end="2024-02-01")
    after = runner.invoke(app, ["store", "info", "--json"])
    assert json.loads(after.output)["online"]["views"] == {"default/xs": 1}
    assert "default/xs (1 keys)" in runner.invoke(app, ["store", "info"]).output
