"""``shipyard data infer`` / ``validate``: files in, a schema file and a report out; exit codes 0
(passed), 1 (the data breaks the contract), 2 (it could not be checked), with errors that say how to fix."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from shipyard.cli import app
from shipyard.data import Schema

runner = CliRunner()


@pytest.fixture
def files(tmp_path: Path) -> Path:
    frame = pd.DataFrame({"id": range(200), "price": [i / 10 for i in range(200)], "shop": ["north", "south"] * 100})
    frame.to_parquet(tmp_path / "good.parquet")
    frame.to_csv(tmp_path / "good.csv", index=False)
    bad = frame.copy()
    bad.loc[[7, 8], "price"] = -1.0
    bad.loc[9, "shop"] = "east"
    bad.to_parquet(tmp_path / "bad.parquet")
    return tmp_path


def test_infer_then_validate(files: Path) -> None:
    result = runner.invoke(app, ["data", "infer", str(files / "good.parquet"), "--output", str(files / "s.yaml")])
    assert result.exit_code == 0, result.output
    assert "Wrote" in result.output and "price" in result.output
    schema = Schema.load(files / "s.yaml")
    assert schema.name == "good" and schema["shop"].categories == ["north", "south"] and schema["id"].unique

    ok = runner.invoke(app, ["data", "validate", str(files / "good.csv"), "--schema", str(files / "s.yaml")])
    assert ok.exit_code == 0 and "PASSED" in ok.output

    bad = runner.invoke(app, ["data", "validate", str(files / "bad.parquet"), "-s", str(files / "s.yaml")])
    assert bad.exit_code == 1, bad.output
    assert "FAILED" in bad.output and "between" in bad.output and "in_set" in bad.output

    as_json = runner.invoke(app, ["data", "validate", str(files / "bad.parquet"), "-s", str(files / "s.yaml"), "--json"])
    report = json.loads(as_json.output)
    assert as_json.exit_code == 1 and not report["passed"]
    assert {c["name"]: c["failing_rows"] for c in report["checks"] if not c["passed"]} == {
        "between(price, 0.0, 19.9)": 2, "in_set(shop, ['north', 'south'])": 1}


def test_infer_prints_yaml_without_output(files: Path) -> None:
    result = runner.invoke(app, ["data", "infer", str(files / "good.csv")])
    assert result.exit_code == 0
    assert Schema.from_yaml(result.output)["price"].max == 19.9


@pytest.mark.parametrize(("args", "needle"), [
    (["data", "validate", "missing.parquet", "-s", "s.yaml"], "Data file 'missing.parquet' does not exist"),
    (["data", "validate", "good.parquet", "-s", "nope.yaml"], "Schema file 'nope.yaml' does not exist"),
    (["data", "validate", "good.parquet", "-s", "broken.yaml"], "broken.yaml: not valid YAML at line 3"),
    (["data", "validate", "good.parquet", "-s", "typo.yaml"], "typo.yaml: columns.price.type: 'flaot' is not a type"),
    (["data", "infer", "missing.csv"], "Data file 'missing.csv' does not exist"),
])
def test_errors_exit_2_and_say_how_to_fix(files: Path, monkeypatch: pytest.MonkeyPatch, args: list[str],
                                         needle: str) -> None:
    monkeypatch.chdir(files)
    Schema.from_dict({"columns": {"price": {"type": "float"}}}).save("s.yaml")
    Path("broken.yaml").write_text("columns:\n  price: {type: float\n")
    Path("typo.yaml").write_text("columns:\n  price: {type: flaot}\n")
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert text.startswith("Error:") and needle in text and "Traceback" not in text
    assert "shipyard data infer" in text or ".parquet or .csv" in text
