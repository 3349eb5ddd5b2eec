"""The A/B readout of a deployment's live routes on labelled feedback (see :mod:`._performance`).

Accuracy is a proportion: Wilson's 95% interval per route and a pooled two-proportion z-test of each
challenger against the baseline. Other metrics: a percentile bootstrap (1000 resamples, fixed seed)
per route; the challenger−baseline differences of the resamples give the test (two-sided) and the
standard error. Without significance the labels still needed are estimated from the observed effect:
the test statistic grows as the square root of the sample, so reaching ``z_{1-alpha/2} + z_{0.8}``
(power 0.8) takes ``(z_needed / z_observed)²`` times the labels seen so far.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard.exceptions import InvalidParameter
from shipyard.monitoring._performance import (
    LOWER_IS_BETTER,
    POWER_Z,
    RESAMPLES,
    SEED,
    ABReadout,
    RouteReadout,
)

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.monitoring._performance import _Labelled, _Scorer


def wilson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval for a proportion."""
    if n == 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportion_z(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    """Pooled two-proportion z-test of p2 − p1: (z, two-sided p-value)."""
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0.0:
        return 0.0, 1.0
    z = (k2 / n2 - k1 / n1) / se
    return z, math.erfc(abs(z) / math.sqrt(2))


def _bootstrap(data: _Labelled, score: Callable[[_Labelled], float]) -> np.ndarray[Any, Any]:
    rng = np.random.default_rng(SEED)
    n = len(data)
    return np.array([score(data.take(rng.integers(0, n, n))) for _ in range(RESAMPLES)])


def _needed(z: float, alpha: float, labels: int) -> int | None:
    if z == 0.0 or not math.isfinite(z):
        return None
    target = NormalDist().inv_cdf(1 - alpha / 2) + POWER_Z
    return max(1, math.ceil(labels * ((target / abs(z)) ** 2 - 1)))


def _verdict(significant: bool, better: bool, needed: int | None) -> str:
    if significant:
        return "challenger better" if better else "challenger worse"
    if needed is None:
        return "no evidence yet: no difference observed"
    return f"no evidence yet, need about {needed} more labels"


def readout(live: pd.DataFrame, traffic: Mapping[str, int], scorer: _Scorer, metric: str, alpha: float,
            arrays: Callable[[pd.DataFrame, str], _Labelled]) -> ABReadout:
    if not traffic:
        raise InvalidParameter("No live rows: an A/B readout needs predictions of at least one live route.")
    order = sorted(traffic, key=lambda r: (-traffic[r], r))
    baseline = order[0]
    data = {r: arrays(live[live["route"] == r], scorer.task) for r in order}
    proportion = metric == "accuracy"
    score = scorer.one(metric)
    reps: dict[str, np.ndarray[Any, Any]] = {}
    out: list[RouteReadout] = []
    for route in order:
        arm = data[route]
        n = len(arm)
        if n == 0:
            out.append(RouteReadout(route, traffic[route], 0, None, None, None, route == baseline,
                                    verdict="no labelled rows yet"))
            continue
        value = score(arm)
        if proportion:
            low, high = wilson(int(np.sum(arm.y == arm.pred)), n)
        else:
            reps[route] = _bootstrap(arm, score)
            finite = reps[route][np.isfinite(reps[route])]
            low, high = ((float(np.percentile(finite, 2.5)), float(np.percentile(finite, 97.5)))
                         if len(finite) >= RESAMPLES / 2 else (math.nan, math.nan))
        fields: dict[str, Any] = {}
        base = data[baseline]
        if route != baseline and len(base) and math.isfinite(value):
            fields = _challenger(arm, base, value, score(base), reps.get(route), reps.get(baseline), metric, alpha)
        elif route != baseline:
            fields = {"verdict": "no evidence yet: the metric is undefined on a route"}
        out.append(RouteReadout(route, traffic[route], n, None if math.isnan(value) else value,
                                None if math.isnan(low) else low, None if math.isnan(high) else high,
                                route == baseline, **fields))
    method = ("Wilson 95% interval; pooled two-proportion z-test" if proportion
              else f"percentile bootstrap 95% interval and test ({RESAMPLES} resamples, seed {SEED})")
    return ABReadout(metric=metric, alpha=alpha, baseline=baseline, routes=tuple(out), method=method)


def _challenger(arm: _Labelled, base: _Labelled, value: float, base_value: float, reps: Any, base_reps: Any,
                metric: str, alpha: float) -> dict[str, Any]:
    if not math.isfinite(base_value):
        return {"verdict": "no evidence yet: the metric is undefined on the baseline"}
    difference = value - base_value
    if metric == "accuracy":
        z, p = two_proportion_z(int(np.sum(base.y == base.pred)), len(base), int(np.sum(arm.y == arm.pred)), len(arm))
    else:
        diffs = reps - base_reps
        diffs = diffs[np.isfinite(diffs)]
        if len(diffs) < RESAMPLES / 2:
            return {"difference": difference, "verdict": "no evidence yet: the metric is undefined on most resamples"}
        tail = min(int(np.sum(diffs <= 0)), int(np.sum(diffs >= 0)))
        p = min(1.0, 2 * (1 + tail) / (1 + len(diffs)))
        se = float(np.std(diffs))
        z = difference / se if se > 0 else (0.0 if difference == 0 else math.inf)
    significant = p < alpha and difference != 0
    better = (difference < 0) if metric in LOWER_IS_BETTER else (difference > 0)
    needed = None if significant else _needed(z, alpha, len(arm) + len(base))
    return {"difference": difference, "p_value": p, "significant": significant, "labels_needed": needed,
            "verdict": _verdict(significant, better, needed)}
