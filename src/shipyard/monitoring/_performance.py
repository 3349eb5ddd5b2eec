"""Model performance from feedback: the metrics of the served predictions that have a label, overall,
per segment, per shadow route, and an A/B readout of the live routes.

Only labelled rows count; the report says how many there are (``labelled``) and what share of the
live rows that is (``coverage``). Rows of shadow routes (``route`` starting with ``shadow:``) never
count in the live numbers — they are reported apart, per shadow route.

Classifiers: accuracy, precision, recall, F1 (binary: the positive class is the larger label, the
second column of ``proba``; multiclass: macro averages), ROC-AUC and log loss when probabilities
were logged. Regressors: MAE, RMSE, R². The metrics are scikit-learn's.

The A/B readout (:meth:`PerformanceReport.compare`) gives each live route its metric with a 95%
confidence interval — Wilson's for accuracy, a seeded percentile bootstrap (1000 resamples) for the
others — and tests every challenger against the route with the most traffic: a two-proportion z-test
for accuracy, a bootstrap test for the others. Without significance it estimates, from the observed
effect, how many more labels would show it (power 0.8 at the same level).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard.exceptions import InvalidParameter
from shipyard.monitoring._json import jsonable

if TYPE_CHECKING:
    import pandas as pd

TASKS = ("auto", "classification", "regression")
CLASSIFIER_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSOR_METRICS = ("mae", "rmse", "r2")
LOWER_IS_BETTER = frozenset({"log_loss", "mae", "rmse"})
SHADOW = "shadow:"
RESAMPLES = 1000
SEED = 0
POWER_Z = 0.8416212335729143  # the standard normal's 80% quantile: power 0.8
MAX_DISCRETE = 20  # integral values with at most this many distinct ones are classes


# -- the data ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Labelled:
    """The labelled rows of a frame as arrays: labels, predictions, probabilities (or None)."""

    y: np.ndarray[Any, Any]
    pred: np.ndarray[Any, Any]
    proba: np.ndarray[Any, Any] | None

    def take(self, index: np.ndarray[Any, Any]) -> _Labelled:
        return _Labelled(self.y[index], self.pred[index], None if self.proba is None else self.proba[index])

    def __len__(self) -> int:
        return len(self.y)


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
               for v in values)


def _arrays(frame: pd.DataFrame, task: str) -> _Labelled:
    labels, preds = frame["label"].tolist(), frame["prediction"].tolist()
    if task == "regression" or (_numeric(labels) and _numeric(preds)):
        y, pred = np.asarray(labels, dtype=np.float64), np.asarray(preds, dtype=np.float64)
    else:
        y, pred = np.asarray([str(v) for v in labels]), np.asarray([str(v) for v in preds])
    proba = None
    if task == "classification" and "proba" in frame.columns and len(frame):
        rows = frame["proba"].tolist()
        if all(isinstance(r, (list, tuple, np.ndarray)) for r in rows):
            widths = {len(r) for r in rows}
            if len(widths) == 1:
                proba = np.asarray([list(r) for r in rows], dtype=np.float64)
    return _Labelled(y, pred, proba)


def _detect(frame: pd.DataFrame) -> str:
    if "proba" in frame.columns and frame["proba"].notna().any():
        return "classification"
    values = [*frame["label"].tolist(), *frame["prediction"].tolist()]
    if not values or not _numeric(values):
        return "classification"
    array = np.asarray(values, dtype=np.float64)
    finite = array[np.isfinite(array)]
    if np.all(finite == np.round(finite)) and len(np.unique(finite)) <= MAX_DISCRETE:
        return "classification"
    return "regression"


def _classes(data: _Labelled) -> tuple[list[Any], list[str]]:
    """The classes, sorted; they name the columns of ``proba`` when that can be told."""
    observed = sorted(set(data.y.tolist()) | set(data.pred.tolist()))
    if data.proba is None:
        return observed, []
    width = data.proba.shape[1]
    if len(observed) == width:
        return observed, []
    if data.y.dtype.kind == "f" and all(float(c).is_integer() and 0 <= c < width for c in observed):
        return [float(i) for i in range(width)], []
    return observed, [f"proba has {width} columns but {len(observed)} classes were seen: ROC-AUC and log loss "
                      "need the class of each column; not computed"]


# -- the metrics ------------------------------------------------------------------------------------------
def _sklearn_metrics() -> Any:
    try:
        from sklearn import metrics
    except ImportError as exc:  # an optional dependency: say how to get it
        raise ImportError("Performance metrics need scikit-learn: pip install scikit-learn "
                          "(or shipyard-mlops[demo]).") from exc
    return metrics


def _classification(data: _Labelled, classes: list[Any], proba_ok: bool) -> tuple[dict[str, float | None], list[str]]:
    metrics = _sklearn_metrics()

    notes: list[str] = []
    out: dict[str, float | None] = {"accuracy": float(metrics.accuracy_score(data.y, data.pred))}
    binary = len(classes) <= 2
    options: dict[str, Any] = (
        {"average": "binary", "pos_label": classes[-1]} if binary else {"average": "macro", "labels": classes})
    for name, fn in (("precision", metrics.precision_score), ("recall", metrics.recall_score),
                     ("f1", metrics.f1_score)):
        out[name] = float(fn(data.y, data.pred, zero_division=0, **options))
    out["roc_auc"] = out["log_loss"] = None
    if data.proba is None or not proba_ok:
        return out, notes
    if data.proba.shape[1] != len(classes):
        return out, [f"proba has {data.proba.shape[1]} columns for {len(classes)} classes: no ROC-AUC or log loss"]
    proba = np.clip(data.proba, 1e-15, None)
    proba = proba / proba.sum(axis=1, keepdims=True)
    present = set(data.y.tolist())
    if len(present) < 2:
        notes.append("only one class among the labels: ROC-AUC is undefined")
    elif binary:
        out["roc_auc"] = float(metrics.roc_auc_score(data.y == classes[-1], proba[:, -1]))
    elif present != set(classes):
        notes.append("not every class is among the labels: multiclass ROC-AUC is undefined")
    else:
        out["roc_auc"] = float(metrics.roc_auc_score(data.y, proba, multi_class="ovr", labels=classes))
    if present <= set(classes):
        out["log_loss"] = float(metrics.log_loss(data.y, proba, labels=classes))
    return out, notes


def _regression(data: _Labelled) -> tuple[dict[str, float | None], list[str]]:
    metrics = _sklearn_metrics()

    notes: list[str] = []
    out: dict[str, float | None] = {"mae": float(metrics.mean_absolute_error(data.y, data.pred)),
                                    "rmse": math.sqrt(float(metrics.mean_squared_error(data.y, data.pred))),
                                    "r2": None}
    if len(data) < 2 or float(np.var(data.y)) == 0.0:
        notes.append("the labels are constant (or fewer than two): R² is undefined")
    else:
        out["r2"] = float(metrics.r2_score(data.y, data.pred))
    return out, notes


@dataclass(frozen=True)
class _Scorer:
    task: str
    classes: list[Any]
    proba_ok: bool

    def __call__(self, data: _Labelled) -> tuple[dict[str, float | None], list[str]]:
        names = CLASSIFIER_METRICS if self.task == "classification" else REGRESSOR_METRICS
        if not len(data):
            return dict.fromkeys(names), ["no labelled rows"]
        if self.task == "classification":
            return _classification(data, self.classes, self.proba_ok)
        return _regression(data)

    def one(self, metric: str) -> Callable[[_Labelled], float]:
        """One metric as a float (NaN where undefined); the common ones in NumPy, for the bootstrap."""
        def score(data: _Labelled) -> float:
            fast = _fast(metric, data, self.classes) if len(data) else None
            if fast is not None:
                return fast
            value = self(data)[0].get(metric)
            return math.nan if value is None else value

        return score


def _fast(metric: str, data: _Labelled, classes: list[Any]) -> float | None:
    y, pred = data.y, data.pred
    if metric == "accuracy":
        return float(np.mean(y == pred))
    if metric in ("mae", "rmse"):
        error = np.abs(y - pred)
        return float(np.mean(error)) if metric == "mae" else math.sqrt(float(np.mean(error**2)))
    if metric in ("precision", "recall", "f1") and len(classes) <= 2:
        positive = classes[-1]
        tp = float(np.sum((pred == positive) & (y == positive)))
        predicted, actual = float(np.sum(pred == positive)), float(np.sum(y == positive))
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        if metric == "f1":
            return 2 * tp / (predicted + actual) if predicted + actual else 0.0
        return precision if metric == "precision" else recall
    return None


# -- the report -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Segment:
    """The performance of one group of rows: ``rows`` served, ``labelled`` of them with a label."""

    name: Any
    rows: int
    labelled: int
    coverage: float
    metrics: Mapping[str, float | None]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = jsonable({"name": self.name, "rows": self.rows, "labelled": self.labelled,
                                      "coverage": self.coverage, "metrics": dict(self.metrics), "notes": list(self.notes)})
        return out


@dataclass(frozen=True)
class RouteReadout:
    """One live route in an A/B readout. ``p_value``, ``difference`` (route − baseline) and
    ``labels_needed`` are None for the baseline."""

    route: str
    rows: int
    labelled: int
    value: float | None
    ci_low: float | None
    ci_high: float | None
    baseline: bool
    difference: float | None = None
    p_value: float | None = None
    significant: bool = False
    labels_needed: int | None = None
    verdict: str = ""


@dataclass(frozen=True)
class ABReadout:
    """Per live route: the metric with its 95% interval, and each challenger against the baseline
    (the route with the most traffic)."""

    metric: str
    alpha: float
    baseline: str
    routes: tuple[RouteReadout, ...]
    method: str

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        out: dict[str, Any] = jsonable({"metric": self.metric, "alpha": self.alpha, "baseline": self.baseline,
                                      "method": self.method, "routes": [asdict(r) for r in self.routes]})
        return out

    def to_frame(self) -> pd.DataFrame:
        from dataclasses import asdict

        import pandas as pd

        return pd.DataFrame([asdict(r) for r in self.routes]).set_index("route")


@dataclass(frozen=True)
class PerformanceReport:
    """Performance on the labelled live rows (``overall``), per ``by`` group (``segments``) and per
    shadow route (``shadow``). :meth:`compare` reads out the live routes as an A/B test."""

    task: str
    overall: Segment
    segments: tuple[Segment, ...]
    shadow: tuple[Segment, ...]
    by: str | None
    classes: tuple[Any, ...]
    _live: Any = field(default=None, repr=False, compare=False)  # the labelled live rows (a DataFrame)
    _scorer: Any = field(default=None, repr=False, compare=False)
    _traffic: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)

    @property
    def labelled(self) -> int:
        return self.overall.labelled

    @property
    def coverage(self) -> float:
        return self.overall.coverage

    @property
    def metrics(self) -> Mapping[str, float | None]:
        return self.overall.metrics

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``json.dumps(..., allow_nan=False)`` works)."""
        return {"task": self.task, "by": self.by, "classes": jsonable(list(self.classes)),
                "overall": self.overall.to_dict(), "segments": [s.to_dict() for s in self.segments],
                "shadow": [s.to_dict() for s in self.shadow]}

    def to_frame(self) -> pd.DataFrame:
        """One row per segment (with ``by``) or one row for all live rows; metrics as columns."""
        import pandas as pd

        rows = [{"segment": s.name, "rows": s.rows, "labelled": s.labelled, "coverage": s.coverage, **s.metrics}
                for s in (self.segments if self.by else (self.overall,))]
        return pd.DataFrame(rows).set_index("segment")

    def compare(self, metric: str | None = None, *, alpha: float = 0.05) -> ABReadout:
        """The A/B readout of the live routes on ``metric`` (default: accuracy for classifiers, MAE
        for regressors)."""
        metric = metric or ("accuracy" if self.task == "classification" else "mae")
        names = CLASSIFIER_METRICS if self.task == "classification" else REGRESSOR_METRICS
        if metric not in names:
            raise InvalidParameter(f"Metric {metric!r} is not one of the {self.task} metrics {list(names)}.")
        if not 0.0 < alpha < 1.0:
            raise InvalidParameter(f"alpha is a significance level between 0 and 1, got {alpha}.")
        from shipyard.monitoring._abtest import readout

        return readout(self._live, self._traffic, self._scorer, metric, alpha, _arrays)


def _segment(name: Any, rows: int, labelled: pd.DataFrame, scorer: _Scorer) -> Segment:
    values, notes = scorer(_arrays(labelled, scorer.task))
    return Segment(name=name, rows=rows, labelled=len(labelled), coverage=len(labelled) / rows if rows else 0.0,
                   metrics=values, notes=tuple(notes))


def performance(frame_or_deployment: pd.DataFrame | str, *, since: Any = None, until: Any = None,
                by: str | None = None, task: str = "auto", project: str | None = None) -> PerformanceReport:
    """Model performance on the rows that have a label (through ``sy.monitoring.feedback``).

    ``frame_or_deployment``: a deployment name (its prediction log between ``since`` and ``until``,
    feedback joined) or a DataFrame shaped like ``sy.predictions(...)``. ``by``: a column (``"route"``,
    ``"model_version"``, an ``in_<field>``) → one :class:`Segment` per value. ``task``: ``"auto"``
    (classification when the values are discrete or probabilities were logged), ``"classification"``
    or ``"regression"``.
    """
    import pandas as pd

    if task not in TASKS:
        raise InvalidParameter(f"task must be one of {TASKS}, got {task!r}.")
    if isinstance(frame_or_deployment, str):
        from shipyard.monitoring._fluent import predictions

        frame = predictions(frame_or_deployment, since=since, until=until, with_feedback=True, project=project)
    elif isinstance(frame_or_deployment, pd.DataFrame):
        frame = frame_or_deployment
    else:
        raise InvalidParameter("performance() takes a deployment name or a DataFrame like sy.predictions(...), got "
                               f"{type(frame_or_deployment).__name__}.")
    missing = [c for c in ("prediction", *(() if frame.empty else ("label",))) if c not in frame.columns]
    if missing:
        raise InvalidParameter(f"The frame has no {missing} column(s): it needs predictions with feedback labels "
                               "(sy.predictions(deployment, with_feedback=True)).")
    if "label" not in frame.columns:
        frame = frame.assign(label=pd.Series(dtype=object))
    if by is not None and by not in frame.columns:
        raise InvalidParameter(f"Column {by!r} is not in the frame; it has {list(frame.columns)}.")
    routes = frame["route"].astype(str) if "route" in frame.columns else pd.Series("", index=frame.index)
    is_shadow = routes.str.startswith(SHADOW)
    has_label = frame["label"].notna()
    labelled_all = frame[has_label]
    resolved = task if task != "auto" else _detect(labelled_all)
    classes: list[Any] = []
    notes: list[str] = []
    if resolved == "classification":
        live_or_all = frame[~is_shadow & has_label] if (~is_shadow & has_label).any() else labelled_all
        classes, notes = _classes(_arrays(live_or_all, resolved))
        seen = set(_arrays(labelled_all, resolved).y.tolist()) | set(_arrays(labelled_all, resolved).pred.tolist())
        classes = sorted(set(classes) | seen)
    scorer = _Scorer(resolved, classes, proba_ok=not notes)
    live, live_labelled = frame[~is_shadow], frame[~is_shadow & has_label]
    overall = _segment("all", len(live), live_labelled, scorer)
    overall = Segment(overall.name, overall.rows, overall.labelled, overall.coverage, overall.metrics,
                      (*notes, *overall.notes))
    segments: list[Segment] = []
    if by is not None:
        for key, group in live.groupby(by, dropna=False, sort=True):
            name = key[0] if isinstance(key, tuple) else key
            segments.append(_segment(None if pd.isna(name) else name, len(group), group[group["label"].notna()],
                                     scorer))
    shadow = [_segment(route, len(group), group[group["label"].notna()], scorer)
              for route, group in frame[is_shadow].groupby(routes[is_shadow], sort=True)]
    traffic = {str(k): int(v) for k, v in routes[~is_shadow].value_counts().items()}
    return PerformanceReport(task=resolved, overall=overall, segments=tuple(segments), shadow=tuple(shadow), by=by,
                             classes=tuple(classes), _live=live_labelled.assign(route=routes[~is_shadow & has_label]),
                             _scorer=scorer, _traffic=traffic)
