"""The registry through the SDK and CLI: register, aliases in time, load by URI, cards, lineage,
ONNX forms with parity, signing, and refusals."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import shipyard as sy
from shipyard.cli import app
from shipyard.entities import ModelVersionStatus
from shipyard.exceptions import ContractViolation, IntegrityError, InvalidParameter, NotFound

from ._roundtrip_child import data, label, numeric


def _train(run: sy.ActiveRun, c: float = 1.0) -> tuple[str, pd.DataFrame, LogisticRegression]:
    x = numeric(data())
    model = LogisticRegression(C=c, max_iter=1000).fit(x, label(data()))
    run.log_dataset(x, name="train", role="training")
    run.log_params({"C": c})
    run.log_metric("auc", 0.9)
    return run.log_model(model, name="model", input_example=x[:5]).uri, x, model


def test_register_alias_load_and_history() -> None:
    with sy.start_run(experiment="reg") as run:
        uri, x, model = _train(run)
    v1 = sy.register_model(uri, "flight-delay", description="first", tags={"team": "ops"})
    v2 = sy.register_model(uri, "flight-delay")
    assert (v1.version, v2.version, v1.status) == (1, 2, ModelVersionStatus.READY)
    assert v1.run_id == run.id and v1.source == uri and v1.flavor == "sklearn" and dict(v1.tags) == {"team": "ops"}
    sy.set_alias("flight-delay", "champion", 1, reason="baseline")
    t_between = dt.datetime.now(dt.timezone.utc)
    time.sleep(0.01)
    sy.set_alias("flight-delay", "champion", 2, reason="retrained")
    assert sy.registry.alias_at("flight-delay", "champion", t_between) == 1
    assert sy.registry.alias_at("flight-delay", "champion", dt.datetime.now(dt.timezone.utc)) == 2
    assert sy.registry.alias_at("flight-delay", "champion", dt.datetime(2000, 1, 1)) is None
    for ref in ("models:/flight-delay@champion", "models:/flight-delay/1", "models:/flight-delay/latest", uri):
        assert np.array_equal(sy.load_model(ref).predict(x), model.predict(x)), ref
    assert [e.reason for e in sy.registry.alias_history("flight-delay", "champion")] == ["baseline", "retrained"]
    with pytest.raises(NotFound, match="no alias @nope. Its aliases: @champion"):
        sy.load_model("models:/flight-delay@nope")
    with pytest.raises(InvalidParameter, match="reserved"):
        sy.set_alias("flight-delay", "latest", 1)


def test_refusals() -> None:
    with sy.start_run() as run:
        uri, _x, _m = _train(run)
    with pytest.raises(NotFound, match="no run"):
        sy.register_model("runs:/" + "0" * 32 + "/model", "m")
    with pytest.raises(NotFound, match="no model package"):
        sy.register_model(f"runs:/{run.id}/nothing", "m")
    with pytest.raises(InvalidParameter, match="Cannot parse model URI"):
        sy.load_model("models:/a/b/c")
    sy.register_model(uri, "m")
    sy.set_alias("m", "champion", 1)
    with pytest.raises(InvalidParameter, match="@champion point"):
        sy.registry.archive_version("m", 1)
    sy.register_model(uri, "m")
    assert sy.registry.archive_version("m", 2).status is ModelVersionStatus.ARCHIVED
    with pytest.raises(InvalidParameter, match="only READY"):
        sy.set_alias("m", "challenger", 2)


def test_tampered_registered_package_is_refused() -> None:
    with sy.start_run() as run:
        uri, _x, _m = _train(run)
    mv = sy.register_model(uri, "m")
    root = Path(mv.storage_uri.removeprefix("file://"))
    (root / "model.pkl").write_bytes(b"not the model")
    with pytest.raises(IntegrityError, match="models:/m/1.*model.pkl"):
        sy.load_model("models:/m/1")
    with pytest.raises(IntegrityError, match="model.pkl"):
        sy.load_model(uri)


def test_register_a_package_whose_files_were_changed_fails_the_version() -> None:
    with sy.start_run() as run:
        uri, _x, _m = _train(run)
    from shipyard.workspace import current_workspace

    store = current_workspace().metadata
    store.record_artifact(run.id, "model/model.pkl", 1, "f" * 64)  # the stored file no longer matches
    with pytest.raises(IntegrityError, match="does not match its manifest"):
        sy.register_model(uri, "broken")
    assert sy.registry.get_version("broken", 1).status is ModelVersionStatus.FAILED


def test_local_package_registration(tmp_path: Path) -> None:
    x = numeric(data())
    model = LogisticRegression(max_iter=1000).fit(x, label(data()))
    sy.models.save_model(model, tmp_path / "pkg", input_example=x[:3])
    mv = sy.register_model(str(tmp_path / "pkg"), "local")
    assert mv.run_id is None and mv.status is ModelVersionStatus.READY
    assert np.array_equal(sy.load_model("models:/local/1").predict(x), model.predict(x))


def test_card_and_lineage() -> None:
    with sy.start_run(experiment="card") as run:
        uri, _x, _m = _train(run, c=0.5)
    sy.register_model(uri, "carded", description="Delay model")
    sy.set_alias("carded", "champion", 1)
    card = sy.registry.model_card("models:/carded@champion")
    assert "# carded — version 1" in card and "Delay model" in card and "| C | 0.5 |" in card
    assert "| train | training (input) | 300 |" in card and "scikit-learn==" in card and "| distance | float64 |" in card
    data_ = sy.registry.model_card("models:/carded/1", format="json")
    assert data_["run"]["id"] == run.id and data_["datasets"][0]["digest"] and data_["aliases"] == ["champion"]
    graph = sy.lineage("models:/carded@champion")
    assert graph.root == "model:carded/1"
    kinds = {n.kind for n in graph.nodes}
    assert kinds == {"model_version", "run", "dataset"}
    run_node = graph.upstream("model:carded/1")[0]
    assert run_node.id == f"run:{run.id}" and graph.upstream(run_node.id)[0].label == "train"


@pytest.mark.parametrize("kind", ["sklearn", "lightgbm", "xgboost"])
def test_onnx_form_with_recorded_parity(kind: str) -> None:
    x = numeric(data())
    y = label(data())
    if kind == "sklearn":
        from sklearn.compose import ColumnTransformer
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OneHotEncoder

        full = data()
        pre = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["carrier"]),
                                 ("num", "passthrough", ["distance", "dep_hour", "temp"])])
        model = Pipeline([("pre", pre), ("clf", RandomForestClassifier(n_estimators=10, random_state=0))]).fit(full, y)
        x = full
    elif kind == "lightgbm":
        import lightgbm as lgb

        model = lgb.LGBMClassifier(n_estimators=20, verbose=-1).fit(x, y)
    else:
        import xgboost as xgb

        model = xgb.XGBClassifier(n_estimators=20, max_depth=3).fit(x, y)
    with sy.start_run() as run:
        info = run.log_model(model, input_example=x[:20])
    sy.register_model(info.uri, kind)
    mv = sy.registry.to_onnx(f"models:/{kind}/1", sample=x)
    form = mv.manifest["forms"]["onnx"]
    assert form["max_abs_diff_sample"] <= 1e-4 and form["max_abs_diff_example"] <= 1e-4 and form["sample_rows"] == 300
    assert form["compared"] == "probabilities" and len(form["sha256"]) == 64
    onnx = sy.load_model(f"models:/{kind}/1", form="onnx")
    native = sy.load_model(f"models:/{kind}/1")
    assert np.abs(onnx.predict_proba(x) - native.predict_proba(x)).max() <= 1e-4
    assert (onnx.predict(x) == native.predict(x)).mean() > 0.99
    assert "ONNX form" in sy.registry.model_card(f"models:/{kind}/1")


def test_onnx_parity_check_catches_float32_split_flips() -> None:
    """A scaler in float32 moves values across tree thresholds: on real data the check refuses."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    full = data()
    pre = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["carrier"]),
                             ("num", StandardScaler(), ["distance", "dep_hour", "temp"])])
    model = Pipeline([("pre", pre), ("clf", RandomForestClassifier(n_estimators=10, random_state=0))]).fit(full, label(full))
    with sy.start_run() as run:
        info = run.log_model(model, input_example=full[:20])
    sy.register_model(info.uri, "flippy")
    with pytest.raises(ContractViolation, match="differs from the native model"):
        sy.registry.to_onnx("models:/flippy/1", sample=full)


def test_onnx_over_tolerance_is_refused() -> None:
    x = numeric(data())
    with sy.start_run() as run:
        info = run.log_model(LogisticRegression(max_iter=1000).fit(x, label(data())), input_example=x[:5])
    sy.register_model(info.uri, "tight")
    with pytest.raises(ContractViolation, match="Not registered"):
        sy.registry.to_onnx("models:/tight/1", tolerance=1e-12)
    assert "forms" not in sy.registry.get_version("tight", 1).manifest
    with pytest.raises(InvalidParameter, match="no proven ONNX form"):
        sy.load_model("models:/tight/1", form="onnx")


def test_signed_registration_and_verified_loads(tmp_path: Path) -> None:
    from shipyard.models._manifest import generate_keypair

    generate_keypair(str(tmp_path / "k"), str(tmp_path / "k.pub"))
    with sy.start_run() as run:
        uri, x, _m = _train(run)
    sy.register_model(uri, "unsigned")
    sy.init(model_signing_key=str(tmp_path / "k"))
    signed = sy.register_model(uri, "signed")
    assert signed.package_signature and len(signed.package_signature) == 128
    sy.init(model_verify_key=str(tmp_path / "k.pub"))
    assert len(sy.load_model("models:/signed/1").predict(x)) == len(x)
    with pytest.raises(IntegrityError, match="not signed"):
        sy.load_model("models:/unsigned/1")
    generate_keypair(str(tmp_path / "other"), str(tmp_path / "other.pub"))
    sy.init(model_verify_key=str(tmp_path / "other.pub"))
    with pytest.raises(IntegrityError, match="invalid signature"):
        sy.load_model("models:/signed/1")


def test_gc_keeps_runs_that_back_a_version() -> None:
    with sy.start_run() as run:
        uri, _x, _m = _train(run)
    with sy.start_run() as other:
        other.log_text("x", "x.txt")
    sy.register_model(uri, "kept")
    ws = __import__("shipyard.workspace").workspace.current_workspace()
    client = sy.TrackingClient(ws)
    ws.metadata.charge_quota("default", "artifact_bytes", 1000)  # as if uploaded through a server
    client.delete_run(run.id)
    client.delete_run(other.id)
    result = CliRunner().invoke(app, ["store", "gc"])
    assert "purge 1 deleted run(s)" in result.output
    assert ws.metadata.list_quotas("default")[0].used == 999  # x.txt's byte left the project's usage
    assert len(sy.load_model("models:/kept/1").predict(numeric(data()))) == 300


def test_models_cli(tmp_path: Path) -> None:
    with sy.start_run() as run:
        uri, _x, _m = _train(run)
    runner = CliRunner()

    def ok(*args: str) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, (args, result.output, repr(result.exception))
        return result.output

    assert "Registered flight-delay version 1" in ok("models", "register", uri, "flight-delay", "--tag", "team=ops")
    ok("models", "register", uri, "flight-delay")
    assert "flight-delay@champion → version 1" in ok("models", "alias", "flight-delay", "champion", "1", "--reason", "first")
    assert "(was v1)" in ok("models", "alias", "flight-delay", "champion", "2")
    history = json.loads(ok("models", "alias", "flight-delay", "champion", "--history", "--json"))
    assert [h["version"] for h in history] == [1, 2]
    listed = json.loads(ok("models", "list", "--json"))
    assert listed[0]["name"] == "flight-delay" and listed[0]["aliases"] == {"champion": 2}
    assert [v["version"] for v in json.loads(ok("models", "versions", "flight-delay", "--json"))] == [2, 1]
    assert "champion" in ok("models", "show", "flight-delay")
    assert "version 2" in ok("models", "card", "flight-delay@champion")
    assert json.loads(ok("models", "card", "flight-delay/1", "--json"))["version"] == 1
    tree = ok("models", "lineage", "flight-delay/2")
    assert "registered as" in tree and "train" in tree
    assert json.loads(ok("models", "lineage", "flight-delay/2", "--json"))["root"] == "model:flight-delay/2"
    ok("models", "download", "flight-delay@champion", "--dest", str(tmp_path / "dl"))
    assert (tmp_path / "dl" / "MODEL.json").exists()
    assert "Archived" in ok("models", "archive", "flight-delay", "1")
    assert "ONNX form" in ok("models", "onnx", "flight-delay/2")
    ok("models", "keygen", "--private", str(tmp_path / "k"), "--public", str(tmp_path / "k.pub"))
    assert (tmp_path / "k.pub").read_text().startswith("-----BEGIN PUBLIC KEY")
    refused = runner.invoke(app, ["models", "archive", "flight-delay", "2"])
    assert refused.exit_code != 0 and "@champion" in str(refused.exception)
