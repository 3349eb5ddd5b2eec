"""The workload definitions shared by both sides of the tracking benchmark.

Standard library only at import time: this module is imported by ``bench/tracking.py`` (the Shipyard
side, in the project's environment) and by ``bench/_mlflow_worker.py`` (the MLflow side, in
bench/.venv-mlflow), so both sides log exactly the same keys, values and steps. W4's model needs
scikit-learn, imported inside ``w4_model`` (both environments have it).
"""

from __future__ import annotations

import random
from typing import Any

# W1 / W2: per run, N_PARAMS params and N_STEPS steps of N_METRICS metrics.
RUNS = 20
N_PARAMS = 10
N_STEPS = 100
N_METRICS = 5
CALLS_PER_RUN = N_PARAMS + N_STEPS * N_METRICS  # W1: one call per value
VALUES_PER_RUN = CALLS_PER_RUN  # W2: the same values, batched

# W3: a populated experiment, then a filtered, ordered search.
W3_RUNS = 500
W3_SEED = 20240601
W3_FILTER = "metrics.auc > 0.8 and params.model = 'lgbm' and tags.team = 'ops'"
W3_ORDER_BY = ["metrics.auc DESC"]
W3_MAX_RESULTS = 50
W3_QUERIES = 20  # timed queries (median reported), after one untimed warm-up query

# W4: one small scikit-learn model, logged, registered W4_VERSIONS times, an alias moved, loaded by alias.
W4_MODEL_NAME = "bench-model"
W4_ALIAS = "champion"
W4_LOG_MODELS = 5  # timed log_model calls (median reported), each in its own run, after one warm-up call
W4_VERSIONS = 20  # timed registrations of the same logged model (median reported)
W4_ALIAS_MOVES = 20  # timed alias moves, version 1, 2, ... 20 (median reported)
W4_LOADS = 10  # timed loads by alias (median reported), after one warm-up load
W4_EXAMPLE_ROWS = 5

# MLflow's documented limits for one log_batch call.
MLFLOW_MAX_METRICS_PER_BATCH = 1000
MLFLOW_MAX_PARAMS_PER_BATCH = 100
MLFLOW_MAX_ENTITIES_PER_BATCH = 1000


# The sizes above, as defined; resize() starts from these.
_SIZES = ("RUNS", "N_PARAMS", "N_STEPS", "N_METRICS", "W3_RUNS", "W3_QUERIES",
          "W4_LOG_MODELS", "W4_VERSIONS", "W4_ALIAS_MOVES", "W4_LOADS")
DEFAULT_SIZES: dict[str, int] = {name: globals()[name] for name in _SIZES}


def resize(**sizes: int) -> None:
    """Set the workload sizes: the defaults above, overridden by ``sizes`` (e.g. ``RUNS=2, N_STEPS=20``).

    bench/server.py runs smaller workloads than bench/tracking.py (one HTTP request per value is
    slow) and calls this on both sides with the same values before each workload; the derived
    counts follow. Unknown names raise ``ValueError``."""
    unknown = sorted(set(sizes) - set(_SIZES))
    if unknown:
        raise ValueError(f"unknown workload size(s) {unknown}; valid: {', '.join(_SIZES)}")
    g = globals()
    g.update(DEFAULT_SIZES)
    g.update({name: int(value) for name, value in sizes.items()})
    g["CALLS_PER_RUN"] = g["VALUES_PER_RUN"] = N_PARAMS + N_STEPS * N_METRICS


def param_items() -> list[tuple[str, int]]:
    return [(f"p{i}", i * 7) for i in range(N_PARAMS)]


def metric_items() -> list[tuple[str, float, int]]:
    """``(key, value, step)`` in logging order: step by step, every metric at each step."""
    return [
        (f"m{m}", 1.0 / (step + 1) + m * 0.25, step) for step in range(N_STEPS) for m in range(N_METRICS)
    ]


def w3_runs() -> list[dict[str, Any]]:
    """The W3 runs, deterministic: name, params, metrics and tags of each."""
    rng = random.Random(W3_SEED)
    out = []
    for i in range(W3_RUNS):
        out.append(
            {
                "name": f"run-{i:03d}",
                "params": {
                    "model": rng.choice(["lgbm", "xgb", "rf", "logreg"]),
                    "lr": rng.choice(["0.01", "0.03", "0.1", "0.3"]),
                    "depth": str(rng.randint(2, 12)),
                },
                "metrics": {"auc": 0.5 + 0.5 * rng.random(), "loss": rng.random()},
                "tags": {"team": rng.choice(["ops", "ds", "ml"])},
            }
        )
    return out


def w3_expected_names() -> list[str]:
    """The run names the W3 query must return, in order (computed in Python, for the check)."""
    hits = [
        r
        for r in w3_runs()
        if r["metrics"]["auc"] > 0.8 and r["params"]["model"] == "lgbm" and r["tags"]["team"] == "ops"
    ]
    hits.sort(key=lambda r: -r["metrics"]["auc"])
    return [r["name"] for r in hits[:W3_MAX_RESULTS]]


def w4_model() -> tuple[Any, Any]:
    """``(fitted model, X)``: LogisticRegression on scikit-learn's breast-cancer data (569 rows x 30
    columns, as a DataFrame). Deterministic (lbfgs), so both sides log the same model."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return LogisticRegression(max_iter=5000).fit(X, y), X


def median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
