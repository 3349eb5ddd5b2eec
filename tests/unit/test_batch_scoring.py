"""Batch scoring (``shipyard predict`` / ``sy.serving.score_file``): streamed in chunks, identical to
in-process predictions, atomic output, clear errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import shipyard as sy
from shipyard.cli import app
from shipyard.exceptions import ContractViolation, InvalidParameter
from shipyard.serving import score_file


@pytest.fixture
def registered() -> tuple[pd.DataFrame, LogisticRegression]:
    data = load_breast_cancer(as_frame=True)
    x = data.data.iloc[:, :8]
    x.columns = [c.replace(" ", "_") for c in x.columns]
    model = LogisticRegression(max_iter=2000).fit(x, data.target)
    with sy.start_run() as run:
        info = run.log_model(model, name="model", input_example=x[:5])
    sy.register_model(info.uri, "cancer")
    sy.set_alias("cancer", "champion", 1)
    return x, model


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_scores_every_row_in_chunks_like_in_process(registered: tuple[pd.DataFrame, LogisticRegression], tmp_path: Path,
                                                    suffix: str) -> None:
    x, model = registered
    source = tmp_path / f"in{suffix}"
    x.to_parquet(source) if suffix == ".parquet" else x.to_csv(source, index=False)
    seen: list[int] = []
    report = score_file(sy.load_model("models:/cancer@champion"), source, tmp_path / "out.parquet", chunk_rows=100,
                        progress=lambda done, total: seen.append(done))
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert report.rows == len(x) == len(out) and seen[-1] == len(x) and len(seen) == -(-len(x) // 100)
    assert (out["prediction"].to_numpy() == model.predict(x)).all()
    np.testing.assert_allclose(out[["proba_0", "proba_1"]].to_numpy(), model.predict_proba(x), rtol=1e-6)
    assert list(out.columns[:8]) == list(x.columns)


def test_bad_rows_leave_no_output_and_name_the_chunk(registered: tuple[pd.DataFrame, LogisticRegression],
                                                     tmp_path: Path) -> None:
    x, _model = registered
    bad = x.copy()
    bad["mean_radius"] = "wide"  # a column of text where the signature wants numbers
    bad.to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(ContractViolation, match=r"(?s)Rows 0–99 .*mean_radius: has dtype str"):
        score_file(sy.load_model("models:/cancer/1"), tmp_path / "bad.parquet", tmp_path / "out.parquet", chunk_rows=100)
    assert sorted(p.name for p in tmp_path.glob("*.parquet*")) == ["bad.parquet"]  # no output, no temporary
    assert not list(tmp_path.glob(".out.parquet*"))
    with pytest.raises(InvalidParameter, match="Parquet"):
        score_file(sy.load_model("models:/cancer/1"), tmp_path / "bad.parquet", tmp_path / "out.json")


def test_predict_cli(registered: tuple[pd.DataFrame, LogisticRegression], tmp_path: Path) -> None:
    x, model = registered
    x.to_parquet(tmp_path / "in.parquet")
    result = CliRunner().invoke(app, ["predict", "models:/cancer@champion", "--input", str(tmp_path / "in.parquet"),
                                      "--output", str(tmp_path / "scored.csv"), "--only-predictions", "--no-proba"])
    assert result.exit_code == 0, result.output
    assert f"Scored {len(x)} rows" in result.output
    out = pd.read_csv(tmp_path / "scored.csv")
    assert list(out.columns) == ["prediction"] and (out["prediction"].to_numpy() == model.predict(x)).all()


def test_prediction_from_probabilities_only_where_it_is_the_same() -> None:
    from types import SimpleNamespace

    from sklearn.datasets import load_iris
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from shipyard.serving._batch import _argmax_labels

    x, y = load_iris(return_X_y=True)
    lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y)
    labels = _argmax_labels(SimpleNamespace(native=lr), lr.predict_proba(x))
    assert labels is not None and (labels[lr.predict_proba(x).argmax(axis=1)] == lr.predict(x)).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # scikit-learn 1.9 deprecates probability=True
        svc = make_pipeline(StandardScaler(), SVC(probability=True, random_state=0)).fit(x, y)
    assert _argmax_labels(SimpleNamespace(native=svc), svc.predict_proba(x)) is None  # Platt scaling may disagree
