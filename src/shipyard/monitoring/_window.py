"""One monitor window, evaluated: feature drift, prediction drift, data quality and performance on
the labelled rows, against the stored reference profile (no raw reference data is needed).

:func:`evaluate_window` is pure (a frame in, numbers and a report out); :mod:`._monitor` reads the
window from the prediction log and records what this returns. The numbers (``metrics``) are flat,
so alert rules and charts over time can name them:

* ``rows``, ``labelled``;
* ``drift.share``, ``drift.columns`` (how many drifted), ``drift.dataset`` (1 when the data set
  drifted), and ``drift.<column>`` — the column's effect size;
* ``prediction_drift.score`` (effect size) and ``prediction_drift.drifted`` (0 / 1), when the reference
  has a ``prediction`` column;
* ``quality.null_rate`` (mean over the watched columns), ``quality.null_rate_increase`` (the largest rise
  of one column over its reference rate), ``quality.out_of_range`` (the largest share of a numeric
  column outside the reference's [min, max]), ``quality.unseen`` (the largest share of categories the
  reference never had), ``quality.contract_failures`` (failed contract checks; the contract's row-count band is not
  applied to windows, whose size follows traffic);
* ``performance.<metric>`` (accuracy … log_loss, or MAE, RMSE, R²) and ``performance.coverage``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard.monitoring._drift import drift
from shipyard.monitoring._profile import (
    CategoricalProfile,
    NumericProfile,
    Profile,
    category_counts,
    float_values,
)

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.data import Schema

CHECKS = ("drift", "prediction_drift", "quality", "performance")
INPUT_PREFIX = "in_"
HISTOGRAM_BINS = 20
TOP_CATEGORIES = 12
RESERVED = ("prediction", "label", "proba")


@dataclass(frozen=True, slots=True)
class WindowSettings:
    """What a window is checked for (a monitor's ``config``, parsed)."""

    checks: tuple[str, ...] = CHECKS
    columns: tuple[str, ...] | None = None
    thresholds: Mapping[str, Any] = field(default_factory=dict)
    task: str = "auto"
    segment_by: str | None = None


@dataclass(frozen=True, slots=True)
class WindowReport:
    rows: int
    labelled: int
    metrics: dict[str, float | None]
    detail: dict[str, Any]
    problems: tuple[str, ...]  # what makes the window a warning, in words


def features_of(log: pd.DataFrame) -> pd.DataFrame:
    """The logged inputs of a prediction-log frame under their own names (``in_x`` → ``x``), with the
    prediction."""
    inputs = {c: c[len(INPUT_PREFIX):] for c in log.columns if c.startswith(INPUT_PREFIX)}
    frame = log[list(inputs)].rename(columns=inputs)
    if "prediction" in log.columns:
        frame = frame.assign(prediction=log["prediction"].to_numpy())
    return frame


def watched(reference: Profile, settings: WindowSettings) -> list[str]:
    names = [c for c in reference.columns if c not in RESERVED]
    return [c for c in names if c in settings.columns] if settings.columns is not None else names


def evaluate_window(reference: Profile, log: pd.DataFrame, settings: WindowSettings, *,
                    contract: Schema | None = None, rows_total: int | None = None) -> WindowReport:
    """Evaluate one window of the prediction log (a frame as ``read_predictions`` returns it)."""
    rows = int(rows_total if rows_total is not None else len(log))
    labelled = int(log["label"].notna().sum()) if "label" in log.columns and len(log) else 0
    metrics: dict[str, float | None] = {"rows": float(rows), "labelled": float(labelled)}
    detail: dict[str, Any] = {"rows": rows, "labelled": labelled, "sampled": len(log) < rows}
    problems: list[str] = []
    if len(log) == 0:
        return WindowReport(rows, labelled, metrics, detail, ())
    current = features_of(log)
    columns = watched(reference, settings)
    if "drift" in settings.checks and columns:
        report = drift(reference, current, columns=columns, thresholds=settings.thresholds)
        metrics.update({"drift.share": report.share, "drift.columns": float(len(report.drifted_columns)),
                        "drift.dataset": float(report.dataset_drifted)})
        metrics.update({f"drift.{name}": _finite(col.effect_size) for name, col in report.columns.items()})
        detail["drift"] = report.to_dict()
        if report.dataset_drifted:
            problems.append(f"data drift: {len(report.drifted_columns)} of {len(report.columns)} columns "
                            f"({', '.join(report.drifted_columns[:5])})")
        if "quality" in settings.checks:
            detail["quality"] = _quality(reference, current, columns, report.columns, metrics, problems, contract)
    elif "quality" in settings.checks and columns:
        detail["quality"] = _quality(reference, current, columns, {}, metrics, problems, contract)
    if "prediction_drift" in settings.checks:
        if "prediction" in reference.columns and "prediction" in current.columns:
            pred = drift(reference, current[["prediction"]], columns=["prediction"], thresholds=settings.thresholds)
            col = pred.columns["prediction"]
            metrics.update({"prediction_drift.score": _finite(col.effect_size),
                            "prediction_drift.drifted": float(col.drifted)})
            detail["prediction_drift"] = pred.to_dict()["columns"]["prediction"]
            if col.drifted:
                problems.append(f"prediction drift ({col.effect} {col.effect_size:.3g})")
        else:
            detail["prediction_drift"] = {"note": "the reference has no 'prediction' column: pass the reference "
                                                  "data with the model's predictions on it to check prediction drift"}
    if "performance" in settings.checks and labelled:
        detail["performance"] = _performance(log, settings, metrics)
    detail["distributions"] = {name: distribution(reference[name], current[name])
                               for name in [*columns, "prediction"] if name in reference.columns and name in current}
    return WindowReport(rows, labelled, metrics, detail, tuple(problems))


def _quality(reference: Profile, current: pd.DataFrame, columns: Sequence[str], drifts: Mapping[str, Any],
             metrics: dict[str, float | None], problems: list[str], contract: Schema | None) -> dict[str, Any]:
    per: dict[str, dict[str, Any]] = {}
    n = len(current)
    for name in columns:
        ref = reference[name]
        if name not in current.columns:
            per[name] = {"missing_column": True, "null_rate": 1.0, "reference_null_rate": ref.nulls / max(ref.rows, 1)}
            continue
        series = current[name]
        nulls = int(series.isna().sum())
        entry: dict[str, Any] = {"null_rate": nulls / n, "reference_null_rate": ref.nulls / max(ref.rows, 1)}
        if isinstance(ref, NumericProfile):
            values = float_values(series)
            values = values[~np.isnan(values)]
            outside = int(((values < ref.min) | (values > ref.max)).sum()) if values.size and math.isfinite(ref.min) else 0
            entry["out_of_range"] = outside / n
        else:
            col = drifts.get(name)
            entry["unseen"] = float(col.unseen_share) if col is not None else 0.0
            entry["unseen_values"] = list(col.unseen) if col is not None else []
        per[name] = entry
    missing = [name for name, e in per.items() if e.get("missing_column")]
    rates = [e["null_rate"] for e in per.values()]
    increase = max([e["null_rate"] - e["reference_null_rate"] for e in per.values()] or [0.0])
    out_of_range = max([e.get("out_of_range", 0.0) for e in per.values()] or [0.0])
    unseen = max([e.get("unseen", 0.0) for e in per.values()] or [0.0])
    metrics.update({"quality.null_rate": float(np.mean(rates)) if rates else 0.0,
                    "quality.null_rate_increase": float(increase), "quality.out_of_range": float(out_of_range),
                    "quality.unseen": float(unseen)})
    if missing:
        problems.append(f"columns missing from the log: {', '.join(missing)}")
    out: dict[str, Any] = {"columns": per, "missing_columns": missing}
    if contract is not None:
        from shipyard.data import validate

        present = [c for c in current.columns if c != "prediction"]
        # The contract's row-count band describes a training batch; a window's size follows traffic.
        windowed = dataclasses.replace(contract, min_rows=None, max_rows=None)
        checked = validate(current[present], windowed, sample_rows=3)
        failed = [c.to_dict() for c in checked.failures]
        metrics["quality.contract_failures"] = float(len(failed))
        out["contract"] = {"name": checked.schema_name, "passed": checked.passed, "failures": failed}
        if failed:
            problems.append(f"{len(failed)} contract check(s) failed ({', '.join(f['name'] for f in failed[:3])})")
    return out


def _performance(log: pd.DataFrame, settings: WindowSettings, metrics: dict[str, float | None]) -> dict[str, Any]:
    from shipyard.monitoring._performance import performance

    by = settings.segment_by
    if by is not None and by not in log.columns and f"{INPUT_PREFIX}{by}" in log.columns:
        by = f"{INPUT_PREFIX}{by}"
    report = performance(log, task=settings.task, by=by if by in log.columns else None)
    metrics.update({f"performance.{k}": _finite(v) for k, v in report.metrics.items()})
    metrics["performance.coverage"] = report.coverage
    out = report.to_dict()
    live_routes = {str(r) for r in log["route"].dropna().unique() if not str(r).startswith("shadow:")} \
        if "route" in log.columns else set()
    if len(live_routes) > 1 and report.labelled:
        out["ab"] = report.compare().to_dict()
    return out


def distribution(ref: NumericProfile | CategoricalProfile, series: pd.Series) -> dict[str, Any]:
    """Reference and current shares on common bins, for the report's plots: ``HISTOGRAM_BINS`` bins
    over the reference's quantile edges (numeric), or the most frequent categories of either side."""
    n = int(series.notna().sum())
    if isinstance(ref, NumericProfile):
        if not ref.edges or ref.valid == 0:
            return {"kind": "numeric", "edges": [], "reference": [], "current": []}
        # Merge the reference's quantile bins into about HISTOGRAM_BINS equal-mass groups.
        cum = np.cumsum(ref.counts)
        targets = np.linspace(0, cum[-1], HISTOGRAM_BINS + 1)[1:]
        idx = np.unique(np.searchsorted(cum, targets, side="left").clip(0, len(cum) - 1))
        edges = np.asarray(ref.edges)[idx]
        ref_counts = np.diff(np.concatenate([[0], cum[idx]]))
        values = float_values(series)
        values = values[~np.isnan(values)]
        cur_counts = np.bincount(np.searchsorted(edges, values, side="left").clip(0, len(edges)),
                                 minlength=len(edges) + 1)
        low = min(ref.min, float(values.min())) if values.size else ref.min
        return {"kind": "numeric", "edges": [_finite(low), *[_finite(e) for e in edges]],
                "reference": _shares(ref_counts, ref.valid), "current": _shares(cur_counts[:len(edges)], n),
                "above": float(cur_counts[len(edges)] / n) if n else 0.0}
    keys, counts = category_counts(series, ref.value_type)
    current = dict(zip(keys, counts.tolist(), strict=True))
    reference = dict(zip(ref.categories, ref.counts, strict=True))
    top = sorted(set(reference) | set(current), key=lambda k: -(reference.get(k, 0) / max(ref.valid, 1)
                                                               + current.get(k, 0) / max(n, 1)))[:TOP_CATEGORIES]
    return {"kind": "categorical", "categories": [str(k) for k in top],
            "reference": [reference.get(k, 0) / max(ref.valid, 1) for k in top],
            "current": [current.get(k, 0) / max(n, 1) for k in top]}


def _shares(counts: Any, total: int) -> list[float]:
    return [float(c) / total if total else 0.0 for c in counts]


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None
