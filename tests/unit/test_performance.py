"""Performance from feedback: metrics on the labelled live rows against scikit-learn, per segment and
per shadow route, and the A/B readout (Wilson interval, z-test, bootstrap, labels still needed)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics

import shipyard as sy
from shipyard.exceptions import InvalidParameter
from shipyard.monitoring import PredictionLog
from shipyard.monitoring._abtest import two_proportion_z, wilson
from shipyard.workspace import current_workspace

TS = 1_764_460_800_000


def _frame(route: str, y: list[int], pred: list[int], proba: list[float] | None = None,
           labelled: bool = True, version: str = "m/1") -> pd.DataFrame:
    n = len(y)
    data: dict[str, object] = {
        "request_id": [f"{route}-{i}" for i in range(n)], "row": 0, "ts": TS, "deployment": "d", "route": route,
        "model_version": version, "latency_ms": 1.0, "prediction": pred,
        "label": y if labelled else [None] * n, "in_x": np.arange(n) % 2}
    if proba is not None:
        data["proba"] = [[1 - p, p] for p in proba]
    return pd.DataFrame(data)


def _ab(n: int, champion: float, challenger: float) -> pd.DataFrame:
    """Binary predictions right a ``champion`` / ``challenger`` share of the time (exactly when n is a
    multiple of 20); the challenger gets 10% less traffic."""
    def arm(route: str, rate: float) -> pd.DataFrame:
        y = [i % 2 for i in range(n)]
        wrong = round((1 - rate) * 20)
        pred = [1 - v if i % 20 < wrong else v for i, v in enumerate(y)]
        return _frame(route, y, pred)
    return pd.concat([arm("champion", champion), arm("challenger", challenger).iloc[: n - n // 10]],
                     ignore_index=True)


def test_classifier_metrics_match_sklearn_unlabelled_and_shadow_rows_do_not_count() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200).tolist()
    proba = np.clip(np.array(y) * 0.5 + rng.random(200) * 0.5, 0.01, 0.99).tolist()
    pred = [int(p > 0.5) for p in proba]
    frame = pd.concat([_frame("a", y, pred, proba), _frame("a", [1] * 50, [0] * 50, [0.2] * 50, labelled=False),
                       _frame("shadow:b", [0] * 20, [1] * 20, [0.9] * 20)], ignore_index=True)
    report = sy.monitoring.performance(frame)
    assert report.task == "classification" and report.labelled == 200 and report.coverage == 200 / 250
    m = report.metrics
    assert m["accuracy"] == pytest.approx(metrics.accuracy_score(y, pred))
    assert m["precision"] == pytest.approx(metrics.precision_score(y, pred))
    assert m["recall"] == pytest.approx(metrics.recall_score(y, pred))
    assert m["f1"] == pytest.approx(metrics.f1_score(y, pred))
    assert m["roc_auc"] == pytest.approx(metrics.roc_auc_score(y, proba))
    assert m["log_loss"] == pytest.approx(metrics.log_loss(y, proba))
    (shadow,) = report.shadow
    assert shadow.name == "shadow:b" and shadow.labelled == 20 and shadow.metrics["accuracy"] == 0.0
    assert json.loads(json.dumps(report.to_dict(), allow_nan=False))["overall"]["labelled"] == 200


def test_segments_from_the_prediction_log_and_feedback() -> None:
    with PredictionLog(current_workspace(), "default", "perf", flush_seconds=60) as log:
        for i in range(8):
            log.log(f"r{i}", route="m@champion" if i < 6 else "m@challenger", model_version="m/1" if i < 6 else "m/2",
                    inputs=[{"x": i}], predictions=[i % 2], probabilities=[[0.7, 0.3] if i % 2 == 0 else [0.2, 0.8]],
                    ts=TS + i)
            log.log(f"r{i}", route="shadow:m/3", model_version="m/3", inputs=[{"x": i}], predictions=[1], ts=TS + i)
    sy.monitoring.feedback("perf", {"r0": 0, "r1": 1, "r2": 1, "r6": 0})  # r3..r5, r7: no label yet
    report = sy.monitoring.performance("perf", by="model_version")
    assert report.overall.rows == 8 and report.labelled == 4 and report.coverage == 0.5
    assert report.metrics["accuracy"] == 0.75
    frame = report.to_frame()
    assert list(frame.index) == ["m/1", "m/2"] and list(frame["labelled"]) == [3, 1]
    assert frame.loc["m/1", "accuracy"] == pytest.approx(2 / 3) and frame.loc["m/2", "coverage"] == 0.5
    assert report.shadow[0].rows == 8 and report.shadow[0].metrics["accuracy"] == 0.5
    assert sy.monitoring.performance("nothing").labelled == 0


def test_one_class_only_gives_no_auc_and_a_note_not_a_crash() -> None:
    report = sy.monitoring.performance(_frame("a", [1, 1, 1, 1], [1, 0, 1, 1], [0.9, 0.4, 0.8, 0.7]))
    assert report.metrics["roc_auc"] is None and any("one class" in n for n in report.overall.notes)
    assert report.metrics["accuracy"] == 0.75
    assert report.metrics["log_loss"] == pytest.approx(metrics.log_loss([1, 1, 1, 1], [0.9, 0.4, 0.8, 0.7],
                                                                         labels=[0, 1]))
    assert json.dumps(report.to_dict(), allow_nan=False)


def test_multiclass_is_macro_averaged() -> None:
    y, pred = ["a", "b", "c", "a", "b", "c", "a"], ["a", "b", "b", "a", "c", "c", "b"]
    frame = _frame("r", y, pred)  # type: ignore[arg-type]
    m = sy.monitoring.performance(frame).metrics
    assert m["f1"] == pytest.approx(metrics.f1_score(y, pred, average="macro"))
    assert m["recall"] == pytest.approx(metrics.recall_score(y, pred, average="macro"))
    assert m["roc_auc"] is None


def test_regression_metrics() -> None:
    y = [1.5, 2.0, 3.25, 4.0, 10.5]
    pred = [1.0, 2.5, 3.0, 5.0, 9.75]
    frame = _frame("r", y, pred)  # type: ignore[arg-type]
    report = sy.monitoring.performance(frame)
    assert report.task == "regression"
    assert report.metrics["mae"] == pytest.approx(metrics.mean_absolute_error(y, pred))
    assert report.metrics["rmse"] == pytest.approx(math.sqrt(metrics.mean_squared_error(y, pred)))
    assert report.metrics["r2"] == pytest.approx(metrics.r2_score(y, pred))
    assert sy.monitoring.performance(_frame("r", [1, 2], [1, 3]), task="regression").metrics["mae"] == 0.5
    readout = report.compare()
    assert readout.metric == "mae" and readout.routes[0].ci_low is not None


def test_wilson_interval_and_z_test_by_hand() -> None:
    low, high = wilson(81, 100)
    # z = 1.959964: centre (0.81 + z²/200) / (1 + z²/100); half z / (1 + z²/100) * sqrt(0.81*0.19/100 + z²/40000)
    assert low == pytest.approx(0.72224, abs=1e-4) and high == pytest.approx(0.87494, abs=1e-4)
    z, p = two_proportion_z(80, 100, 90, 100)  # pooled 0.85: se = sqrt(0.85*0.15*0.02)
    assert z == pytest.approx(0.1 / math.sqrt(0.85 * 0.15 * 0.02)) and p == pytest.approx(math.erfc(z / math.sqrt(2)))


def test_ab_readout_a_clearly_better_challenger_needs_enough_labels() -> None:
    big = sy.monitoring.performance(_ab(2000, 0.80, 0.90)).compare("accuracy")
    assert big.baseline == "champion"
    base, challenger = big.routes
    assert base.baseline and base.labelled == 2000 and (base.ci_low, base.ci_high) == pytest.approx(wilson(1600, 2000))
    assert challenger.significant and challenger.verdict == "challenger better" and challenger.p_value < 1e-6
    assert challenger.difference == pytest.approx(0.10, abs=0.01)
    worse = sy.monitoring.performance(_ab(2000, 0.90, 0.80)).compare().routes[1]
    assert worse.verdict == "challenger worse"
    small = sy.monitoring.performance(_ab(30, 0.80, 0.90)).compare().routes[1]
    assert not small.significant and small.labels_needed is not None and small.labels_needed > 50
    assert small.verdict == f"no evidence yet, need about {small.labels_needed} more labels"
    assert json.dumps(big.to_dict(), allow_nan=False) and list(big.to_frame().index) == ["champion", "challenger"]


def test_bootstrap_readout_for_other_metrics_is_seeded() -> None:
    report = sy.monitoring.performance(_ab(400, 0.70, 0.95))
    first, second = report.compare("f1"), report.compare("f1")
    assert first == second
    per_route = sy.monitoring.performance(_ab(400, 0.70, 0.95), by="route").to_frame()
    assert [r.value for r in first.routes] == pytest.approx([per_route.loc["champion", "f1"],
                                                             per_route.loc["challenger", "f1"]])
    assert sy.monitoring.performance(_ab(400, 0.70, 0.95)).compare("log_loss").routes[1].value is None
    challenger = first.routes[1]
    assert challenger.significant and challenger.verdict == "challenger better"
    assert challenger.ci_low is not None and challenger.ci_high is not None
    assert challenger.ci_low <= challenger.value <= challenger.ci_high  # type: ignore[operator]
    same = sy.monitoring.performance(_ab(40, 0.80, 0.80)).compare("f1").routes[1]
    assert not same.significant and same.verdict.startswith("no evidence yet")


def test_bad_arguments_are_refused() -> None:
    frame = _frame("a", [0, 1], [0, 1])
    with pytest.raises(InvalidParameter, match="task"):
        sy.monitoring.performance(frame, task="ranking")
    with pytest.raises(InvalidParameter, match="not in the frame"):
        sy.monitoring.performance(frame, by="in_nope")
    with pytest.raises(InvalidParameter, match="not one of"):
        sy.monitoring.performance(frame).compare("mae")
    with pytest.raises(InvalidParameter, match="label"):
        sy.monitoring.performance(frame.drop(columns=["label"]))
