"""Model loading and ONNX benchmark: cold load time per flavor, and ONNX vs native throughput.

    python bench/model_load.py              # writes its section of bench/RESULTS.md
    python bench/model_load.py --no-write   # print the tables only
    python bench/model_load.py --profile    # cProfile of a warm load and of the batch-1 predict_proba

Part 1 (cold load). One small model per flavor is trained on scikit-learn's ``load_breast_cancer``
(569 rows, 30 numeric features; nothing is downloaded), logged with
``run.log_model(model, name="model", input_example=X[:5])`` and registered. Then, in fresh
subprocesses (``python -c``), interleaved across flavors:

* a *load* process times ``sy.load_model("models:/<name>/1")`` — cold: the framework is imported by
  the load — then a first ``predict`` on the input example and a second (warm) ``sy.load_model``;
* an *import* process times the import of the framework alone (the modules the load needs), then
  ``sy.load_model`` with the framework already imported.

Medians of ``--loads`` (default 5) processes of each kind. "Shipyard load overhead" is cold load
minus framework import, the median over back-to-back (load, import) process pairs, in wall-clock and
in CPU time; the load measured after the import is the same quantity measured directly. Shipyard's
modules are byte-compiled first (as a pip install does) and the .pyc files removed afterwards. The
page cache is warm (the parent has just imported everything): this is the cold start of a new worker
process, not of a new machine.

Part 2 (throughput). A LogisticRegression on load_breast_cancer and a 200-tree, depth-6 LightGBM
classifier on ``make_classification(n_samples=20000, n_features=50, random_state=0)`` are registered,
converted with ``sy.registry.to_onnx(uri, sample=<held-out rows>)`` and loaded in both forms. Rows/s
of ``predict_proba`` on a DataFrame batch of 1, 64 and 1024 rows: through the loaded Shipyard model
(native and ONNX form), and the raw framework calls as anchors (``model.native.predict_proba(df)``
and ``session.run`` on a prepared float32 array). Each cell is a ``time.perf_counter`` loop of at
least ``--seconds`` (default 0.5 s) in 10 chunks, a round counting its fastest chunk; median of
``--reps`` (default 5) rounds over all cells. The raw numbers go to bench/.work/model_load-last.json.

Everything runs against a fresh SHIPYARD_HOME in a temporary directory, removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import json
import os
import platform
import pstats
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

import shipyard as sy

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
import _proc  # noqa: E402
from _results import host_facts, write_section  # noqa: E402

WORK = BENCH / ".work"  # git-ignored scratch space
HEADING = "## Model loading and ONNX (bench/model_load.py)"
BATCHES = (1, 64, 1024)
DISTRIBUTIONS = ("scikit-learn", "xgboost", "lightgbm", "torch", "onnx", "onnxruntime", "skl2onnx",
                 "onnxmltools", "numpy", "pandas", "cloudpickle")
T0 = time.perf_counter()

# Runs in each fresh subprocess: argv = mode ("load" | "import"), model URI, comma-separated modules.
CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
mode, uri, modules = sys.argv[1], sys.argv[2], [m for m in sys.argv[3].split(",") if m]
clock, cpu, out = time.perf_counter, time.process_time, {}
import importlib
if mode == "import":
    t, c = clock(), cpu()
    for name in modules:
        importlib.import_module(name)
    out["import_s"], out["import_cpu_s"] = clock() - t, cpu() - c
import shipyard as sy
before = set(sys.modules)
t, c = clock(), cpu()
if mode == "import":  # split off the registry modules and the store (SQLAlchemy, SQLite connection)
    sy.registry.registry()
    out["open_s"] = clock() - t
model = sy.load_model(uri)
out["load_s"], out["load_cpu_s"] = clock() - t, cpu() - c
out["imported_by_load"] = sorted({m.partition(".")[0] for m in set(sys.modules) - before})
example = model.input_example()
t = clock()
model.predict(example)
out["first_predict_s"] = clock() - t
t = clock()
sy.load_model(uri)
out["reload_s"] = clock() - t
print(json.dumps(out))
"""


def say(message: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f}s] {message}", flush=True)


# -- part 1: one model per flavor -------------------------------------------------------------------
class CentroidModel(sy.PythonModel):
    """Nearest class centroid on standardised features: a model no built-in flavor covers."""

    def __init__(self, X: Any, y: Any) -> None:
        values = np.asarray(X, dtype="float64")
        labels = np.asarray(y)
        self.mean, self.scale = values.mean(axis=0), values.std(axis=0) + 1e-12
        z = (values - self.mean) / self.scale
        self.classes = np.unique(labels)
        self.centroids = np.stack([z[labels == c].mean(axis=0) for c in self.classes])

    def predict_proba(self, inputs: Any) -> Any:
        z = (np.asarray(inputs, dtype="float64") - self.mean) / self.scale
        dist = ((z[:, None, :] - self.centroids[None, :, :]) ** 2).sum(axis=2)
        weight = np.exp(-(dist - dist.min(axis=1, keepdims=True)) / 2)
        return weight / weight.sum(axis=1, keepdims=True)

    def predict(self, inputs: Any) -> Any:
        return self.classes[self.predict_proba(inputs).argmax(axis=1)]


def _sklearn_pipeline(X: Any, y: Any) -> tuple[Any, Any]:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    numeric = Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())])
    pre = ColumnTransformer([("num", numeric, list(X.columns))])
    return Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=1000))]).fit(X, y), X[:5]


def _sklearn_hgb(X: Any, y: Any) -> tuple[Any, Any]:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(X, y), X[:5]


def _xgboost(X: Any, y: Any) -> tuple[Any, Any]:
    from xgboost import XGBClassifier

    return XGBClassifier(n_estimators=100, max_depth=4, n_jobs=1, random_state=0).fit(X, y), X[:5]


def _lightgbm(X: Any, y: Any) -> tuple[Any, Any]:
    from lightgbm import LGBMClassifier

    return LGBMClassifier(n_estimators=100, n_jobs=1, random_state=0, verbose=-1).fit(X, y), X[:5]


def _pytorch(X: Any, y: Any) -> tuple[Any, Any]:
    import torch
    from torch import nn

    torch.manual_seed(0)
    values = X.to_numpy(dtype="float32")
    scaled = (values - values.mean(axis=0)) / (values.std(axis=0) + 1e-6)
    inputs, target = torch.from_numpy(scaled), torch.from_numpy(np.asarray(y, dtype="int64"))
    model = nn.Sequential(nn.Linear(30, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(100):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(inputs), target).backward()
        optimizer.step()
    return model.eval(), scaled[:5]


def _onnx(X: Any, y: Any) -> tuple[Any, Any]:
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    values = X.to_numpy(dtype="float32")
    clf = LogisticRegression(max_iter=1000)
    pipeline = Pipeline([("scale", StandardScaler()), ("clf", clf)]).fit(values, y)
    proto = to_onnx(pipeline, values[:1], options={id(clf): {"zipmap": False}}, target_opset=17)
    return proto, values[:5]


def _python(X: Any, y: Any) -> tuple[Any, Any]:
    return CentroidModel(X, y), X[:5]


@dataclass(frozen=True)
class FlavorCase:
    key: str
    flavor: str
    model: str
    imports: tuple[str, ...]  # what the "framework import" process imports
    build: Callable[[Any, Any], tuple[Any, Any]]


CASES = (
    FlavorCase("sklearn-pipeline", "sklearn", "Pipeline(ColumnTransformer(impute, scale), LogisticRegression)",
               ("sklearn.pipeline", "sklearn.compose", "sklearn.impute", "sklearn.preprocessing",
                "sklearn.linear_model"), _sklearn_pipeline),
    FlavorCase("sklearn-hgb", "sklearn", "HistGradientBoostingClassifier, 100 iterations",
               ("sklearn.ensemble",), _sklearn_hgb),
    FlavorCase("xgboost", "xgboost", "XGBClassifier, 100 trees, depth 4", ("xgboost",), _xgboost),
    FlavorCase("lightgbm", "lightgbm", "LGBMClassifier, 100 trees", ("lightgbm",), _lightgbm),
    FlavorCase("pytorch", "pytorch", "nn.Sequential MLP 30-64-64-2 (TorchScript)", ("torch",), _pytorch),
    FlavorCase("onnx", "onnx", "ModelProto: skl2onnx(StandardScaler + LogisticRegression)",
               ("onnxruntime",), _onnx),
    FlavorCase("python", "python", "sy.PythonModel subclass (nearest centroid, numpy)",
               ("cloudpickle", "numpy"), _python),
)


def _package_size(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def _child(mode: str, uri: str, modules: tuple[str, ...], home: Path) -> dict[str, Any]:
    env = {**os.environ, "SHIPYARD_HOME": str(home)}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, mode, uri, ",".join(modules)], capture_output=True,
                          text=True, cwd=home, env=env, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} process for {uri} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    return result


def cold_loads(home: Path, loads: int, compile_bytecode: bool) -> dict[str, Any]:
    """Train, log and register one model per flavor, then time loads in fresh processes."""
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    results: dict[str, Any] = {"flavors": {}}
    for case in CASES:
        model, example = case.build(X, y)
        with sy.start_run(experiment="bench-model-load", run_name=case.key) as run:
            info = run.log_model(model, name="model", input_example=example)
        version = sy.register_model(info.uri, case.key)
        loaded = sy.load_model(version.uri)  # checks the round trip; warms the page cache
        if loaded.flavor != case.flavor:
            raise RuntimeError(f"{case.key}: expected flavor {case.flavor}, got {loaded.flavor}")
        size, files = _package_size(loaded.root)
        results["flavors"][case.key] = {"uri": version.uri, "size": size, "files": files, "load": [], "import": []}
        say(f"  {case.key}: logged and registered as {version.uri} ({size / 1024:.1f} KiB, {files} files)")
    with _proc.shipyard_bytecode(Path(sy.__file__).resolve().parent) if compile_bytecode else contextlib.nullcontext():
        for i in range(loads):
            for case in CASES:
                entry = results["flavors"][case.key]
                entry["load"].append(_child("load", entry["uri"], case.imports, home))
                entry["import"].append(_child("import", entry["uri"], case.imports, home))
            say(f"  round {i + 1}/{loads} of fresh processes done")
    return results


# -- part 2: throughput -----------------------------------------------------------------------------
@dataclass
class ThroughputCase:
    key: str
    label: str
    uri: str
    native: Any  # LoadedModel, native form
    onnx: Any  # LoadedModel, ONNX form
    batches: dict[int, Any]  # batch size -> DataFrame
    parity: dict[str, Any]


def _register_throughput_models() -> list[ThroughputCase]:
    import pandas as pd
    from lightgbm import LGBMClassifier
    from sklearn.datasets import load_breast_cancer, make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    lr = LogisticRegression(max_iter=10000).fit(X_train, y_train)
    rng = np.random.default_rng(0)
    lr_batches = {b: X.iloc[rng.integers(0, len(X), b)].reset_index(drop=True) for b in BATCHES}

    Xg, yg = make_classification(n_samples=20000, n_features=50, random_state=0)
    frame = pd.DataFrame(Xg, columns=[f"x{i}" for i in range(50)])
    gbm = LGBMClassifier(n_estimators=200, max_depth=6, num_leaves=64, n_jobs=1, random_state=0, verbose=-1)
    gbm.fit(frame[:16000], yg[:16000])
    held_out = frame[16000:].reset_index(drop=True)
    gbm_batches = {b: held_out[:b] for b in BATCHES}

    cases = []
    specs = (
        ("bench-logreg", "LogisticRegression, breast cancer (30 features)", lr, X_train, X_test, lr_batches),
        ("bench-lightgbm", "LightGBM 200 trees depth 6, make_classification (50 features)", gbm, frame[:5],
         held_out, gbm_batches),
    )
    for name, label, model, example_from, sample, batches in specs:
        with sy.start_run(experiment="bench-onnx", run_name=name) as run:
            info = run.log_model(model, name="model", input_example=example_from[:5])
        version = sy.register_model(info.uri, name)
        converted = sy.registry.to_onnx(version.uri, sample=sample)
        parity = converted.manifest["forms"]["onnx"]
        cases.append(ThroughputCase(name, label, version.uri, sy.load_model(version.uri),
                                    sy.load_model(version.uri, form="onnx"), batches, parity))
        say(f"  {name}: registered and converted (max |native - onnx| on {parity['sample_rows']} held-out rows: "
            f"{parity['max_abs_diff_sample']:.2g})")
    return cases


def _cells(case: ThroughputCase, batch: int) -> dict[str, Callable[[], Any]]:
    frame = case.batches[batch]
    session = case.onnx.native
    feed = {session.get_inputs()[0].name: frame.to_numpy(dtype="float32")}
    proba = [case.parity["proba_output"]]
    native, onnx = case.native, case.onnx
    return {
        "raw_native": lambda: native.native.predict_proba(frame),
        "sy_native": lambda: native.predict_proba(frame),
        "raw_onnx": lambda: session.run(proba, feed),
        "sy_onnx": lambda: onnx.predict_proba(frame),
        "prepare": lambda: native.prepare(frame),
    }


def _check(case: ThroughputCase, batch: int) -> None:
    cells = _cells(case, batch)
    raw, wrapped = np.asarray(cells["raw_native"]()), np.asarray(cells["sy_native"]())
    raw_onnx, wrapped_onnx = np.asarray(cells["raw_onnx"]()[0]), np.asarray(cells["sy_onnx"]())
    if not (np.allclose(raw, wrapped) and np.allclose(raw_onnx, wrapped_onnx)):
        raise RuntimeError(f"{case.key}, batch {batch}: the wrapper and the raw call disagree")
    if np.max(np.abs(raw - raw_onnx)) > 1e-3:
        raise RuntimeError(f"{case.key}, batch {batch}: native and ONNX differ by {np.max(np.abs(raw - raw_onnx))}")


def _rate(fn: Callable[[], Any], rows: int, min_seconds: float, chunks: int = 10) -> float:
    """Rows/s of ``fn``: at least ``min_seconds`` of calls in ``chunks`` timed chunks; the rate of the
    fastest chunk (the one least disturbed by other processes on a shared machine)."""
    fn()  # warm-up call
    best, total, chunk_seconds = 0.0, 0.0, min_seconds / chunks
    while total < min_seconds:
        calls, start = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= chunk_seconds:
                break
        best, total = max(best, calls * rows / elapsed), total + elapsed
    return best


def throughput(cases: list[ThroughputCase], reps: int, min_seconds: float) -> dict[str, Any]:
    for case in cases:
        for batch in BATCHES:
            _check(case, batch)
    samples: dict[tuple[str, int, str], list[float]] = {}
    for rep in range(reps):
        for case in cases:
            for batch in BATCHES:
                for cell, fn in _cells(case, batch).items():
                    samples.setdefault((case.key, batch, cell), []).append(_rate(fn, batch, min_seconds))
        say(f"  throughput round {rep + 1}/{reps} done")
    return {f"{k}|{b}|{c}": {"median": statistics.median(v), "all": v} for (k, b, c), v in samples.items()}


# -- rendering --------------------------------------------------------------------------------------
def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds >= 0.1 else f"{seconds * 1000:,.1f} ms"


def _med(rows: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def _size(n: int) -> str:
    return f"{n / 1024:,.1f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:,.2f} MiB"


def _third_party(names: list[str]) -> list[str]:
    skip = {"shipyard", "cython_runtime"}
    return [n for n in names if n not in sys.stdlib_module_names and not n.startswith("_") and n not in skip]


def _paired(r: dict[str, Any], load_key: str, import_key: str) -> float:
    """Median over the back-to-back (load process, import process) pairs of load − import."""
    return statistics.median(x[load_key] - y[import_key] for x, y in zip(r["load"], r["import"], strict=True))


def load_table(flavors: dict[str, Any]) -> list[str]:
    lines = [
        "| Flavor | Model | Package on disk | Framework import (cold) | `sy.load_model` cold | "
        "**Shipyard load overhead** (load − import) | same, in CPU time | load, framework already imported "
        "(of which: registry modules + store) | warm re-load | first `predict` (5 rows) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case in CASES:
        r = flavors[case.key]
        direct, store = _med(r["import"], "load_s"), _med(r["import"], "open_s")
        lines.append(
            f"| {case.key} | {case.model} | {_size(r['size'])} ({r['files']} files) | "
            f"{_ms(_med(r['import'], 'import_s'))} | {_ms(_med(r['load'], 'load_s'))} | "
            f"**{_ms(_paired(r, 'load_s', 'import_s'))}** | {_ms(_paired(r, 'load_cpu_s', 'import_cpu_s'))} | "
            f"{_ms(direct)} ({_ms(store)}) | {_ms(_med(r['load'], 'reload_s'))} | "
            f"{_ms(_med(r['load'], 'first_predict_s'))} |"
        )
    return lines


def load_detail_table(flavors: dict[str, Any]) -> list[str]:
    lines = [
        "| Flavor | cold load, each process (s) | framework import, each process (s) | CPU time: cold load · "
        "import (medians) | wall time of a load process (median; interpreter start to exit) | third-party "
        "packages the load imported besides the framework |",
        "|---|---|---|---|---|---|",
    ]
    for case in CASES:
        r = flavors[case.key]
        loads = ", ".join(f"{x['load_s']:.2f}" for x in r["load"])
        imports = ", ".join(f"{x['import_s']:.2f}" for x in r["import"])
        cpu = f"{_ms(_med(r['load'], 'load_cpu_s'))} · {_ms(_med(r['import'], 'import_cpu_s'))}"
        extra = sorted({n for x in r["import"] for n in _third_party(x["imported_by_load"])})
        lines.append(f"| {case.key} | {loads} | {imports} | {cpu} | {_med(r['load'], 'wall_s'):.2f} s | "
                     f"{', '.join(extra) or '—'} |")
    return lines


def _rate_of(rates: dict[str, Any], case: ThroughputCase, batch: int, cell: str) -> float:
    return float(rates[f"{case.key}|{batch}|{cell}"]["median"])


def _rows(value: float) -> str:
    return f"{value:,.0f}"


def throughput_table(cases: list[ThroughputCase], rates: dict[str, Any]) -> list[str]:
    lines = [
        "| Model | Batch | raw native | Shipyard native | Shipyard / raw | raw onnxruntime | Shipyard ONNX | "
        "Shipyard / raw | **ONNX / native** (Shipyard) | ONNX / native (raw) | signature enforcement alone "
        "(`prepare`) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case in cases:
        for batch in BATCHES:
            raw, wrapped, raw_onnx, wrapped_onnx, prepare = (
                _rate_of(rates, case, batch, c) for c in ("raw_native", "sy_native", "raw_onnx", "sy_onnx", "prepare")
            )
            prepare_us = batch / prepare * 1e6
            lines.append(
                f"| {case.label} | {batch} | {_rows(raw)} | {_rows(wrapped)} | {wrapped / raw:.2f}× | "
                f"{_rows(raw_onnx)} | {_rows(wrapped_onnx)} | {wrapped_onnx / raw_onnx:.2f}× | "
                f"**{wrapped_onnx / wrapped:.2f}×** | {raw_onnx / raw:.2f}× | {prepare_us:,.0f} µs/call |"
            )
    return lines


def per_call_table(cases: list[ThroughputCase], rates: dict[str, Any]) -> list[str]:
    lines = [
        "| Model | Batch | raw native | Shipyard native | raw onnxruntime | Shipyard ONNX | `prepare` alone |",
        "|---|---|---|---|---|---|---|",
    ]
    for case in cases:
        for batch in BATCHES:
            cells = ("raw_native", "sy_native", "raw_onnx", "sy_onnx", "prepare")
            us = [batch / _rate_of(rates, case, batch, c) * 1e6 for c in cells]
            lines.append(f"| {case.label} | {batch} | " + " | ".join(f"{u:,.0f}" for u in us) + " |")
    return lines


def _us(rates: dict[str, Any], case: ThroughputCase, batch: int, cell: str) -> float:
    return batch / _rate_of(rates, case, batch, cell) * 1e6


def observations(results: dict[str, Any], cases: list[ThroughputCase], rates: dict[str, Any]) -> list[str]:
    """Sentences computed from this run's numbers."""
    flavors = results["flavors"]
    direct = {c.key: _med(flavors[c.key]["import"], "load_s") for c in CASES}
    store = {c.key: _med(flavors[c.key]["import"], "open_s") for c in CASES}
    packages = sorted({n for r in flavors.values() for x in r["import"] for n in _third_party(x["imported_by_load"])})
    notes = [
        f"- Cold loads are dominated by the framework import. Shipyard's own part, measured directly (framework "
        f"imported first, then `sy.load_model` in the same fresh process), is {_ms(min(direct.values()))}–"
        f"{_ms(max(direct.values()))} per flavor, of which {_ms(min(store.values()))}–{_ms(max(store.values()))} "
        f"is importing the registry and opening the store (`sy.registry.registry()`). Besides the framework, "
        f"the load imported: {', '.join(packages) or 'nothing else'}. A warm re-load in the same process takes "
        f"{_ms(min(_med(flavors[c.key]['load'], 'reload_s') for c in CASES))}–"
        f"{_ms(max(_med(flavors[c.key]['load'], 'reload_s') for c in CASES))}."
    ]
    for case in cases:
        n_cols = len(case.native.signature["inputs"].get("columns", []))
        notes.append(
            f"- {case.label}: at batch 1 a raw call takes {_us(rates, case, 1, 'raw_native'):,.0f} µs (native, "
            f"DataFrame in) and {_us(rates, case, 1, 'raw_onnx'):,.0f} µs (onnxruntime, array in); through Shipyard "
            f"{_us(rates, case, 1, 'sy_native'):,.0f} µs and {_us(rates, case, 1, 'sy_onnx'):,.0f} µs. Signature "
            f"enforcement alone (`prepare`, {n_cols} columns) costs {_us(rates, case, 1, 'prepare'):,.0f} µs per "
            f"call at batch 1 and {_us(rates, case, 1024, 'prepare'):,.0f} µs at batch 1024: a per-call, "
            f"per-column cost that dominates small batches and hides most of the ONNX speed-up there."
        )
    return notes


def machine_facts() -> dict[str, str]:
    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    host = host_facts(ROOT)
    return {
        "machine": host["machine"],
        "python": f"{platform.python_version()} ({sys.executable})",
        "shipyard": f"Shipyard {version('shipyard-mlops')} at {host['commit']}{host['dirty']}",
        "versions": "; ".join(f"{d} {version(d)}" for d in DISTRIBUTIONS),
    }


def render(results: dict[str, Any], cases: list[ThroughputCase], rates: dict[str, Any],
           facts: dict[str, str], command: str, started: str, elapsed: float, args: argparse.Namespace) -> str:
    lines = [
        HEADING,
        "",
        "Generated by `bench/model_load.py`; do not edit by hand, re-run it.",
        "",
        f"- **Command:** `{command}` (run from the repository root)",
        f"- **Date:** {started} (whole run: {elapsed:.0f} s)",
        f"- **Machine:** {facts['machine']}",
        f"- **Python:** {facts['python']}",
        f"- **Versions:** {facts['shipyard']}; {facts['versions']}",
        "- **Targets:** none numeric. The issue asks for the cold load time per flavor and the ONNX vs native "
        "prediction throughput for batch sizes 1, 64 and 1024; they are reported as measured.",
        "",
        f"### Cold load per flavor (median of {args.loads} fresh processes each)",
        "",
        "Each model is trained on `load_breast_cancer` (30 numeric features), logged with "
        "`run.log_model(model, name=\"model\", input_example=X[:5])` and registered; the load is "
        "`sy.load_model(\"models:/<name>/1\")` in a fresh `python -c` process. *Framework import* is the import "
        "of the modules the load needs (e.g. `sklearn.ensemble`, `xgboost`, `torch`, `onnxruntime`) alone in "
        "another fresh process, run right after the load process; flavors are interleaved. *Shipyard load "
        "overhead* = cold load − framework import, the median over these back-to-back pairs (wall clock, and "
        "process CPU time, which other processes on the machine disturb less). *Load, framework already "
        "imported* measures the same overhead directly (in the import process, right after the import): it is "
        "the most stable estimate; in parentheses, the part of it spent in "
        "`sy.registry.registry()` (importing the registry modules, SQLAlchemy, opening the SQLite store). "
        "*Warm re-load* is a second `sy.load_model` in the load process. The page cache is warm (a new worker "
        "process, not a new machine). "
        + ("Shipyard's modules were not byte-compiled first." if args.no_compile else
           "Shipyard's modules were byte-compiled first, as a pip install does (this environment sets "
           "PYTHONDONTWRITEBYTECODE=1, so an editable install would otherwise recompile them in every process "
           "while the frameworks load cached bytecode); the .pyc files are removed afterwards."),
        "",
        *load_table(results["flavors"]),
        "",
        *load_detail_table(results["flavors"]),
        "",
        f"### ONNX vs native `predict_proba` throughput (rows/s, median of {args.reps} rounds)",
        "",
        "Input: a pandas DataFrame of the batch, as a caller would send it. *Raw native* is "
        "`model.native.predict_proba(df)` (the framework object inside the loaded model); *raw onnxruntime* is "
        "`session.run([probabilities], {input: float32 array})` with the array prepared outside the timing; "
        "*Shipyard* is `loaded.predict_proba(df)`, i.e. signature enforcement (`LoadedModel.prepare`) + the call. "
        "The raw native call gets the DataFrame too, so it includes the framework's own DataFrame handling "
        "(scikit-learn's feature-name checks, LightGBM's pandas conversion). LightGBM runs with `n_jobs=1` and "
        "Shipyard's onnxruntime session with `intra_op_num_threads=1`, so both are single-threaded. The batch-1024 "
        "rows of the breast-cancer model are resampled with replacement (the data set has 569 rows). Timing: "
        f"each cell runs for ≥ {args.seconds:g} s per round in 10 chunks and a round counts its fastest chunk "
        "(the least disturbed by other processes on this shared machine); the median of the rounds is shown, "
        "the rounds going over all cells in turn.",
        "",
        *throughput_table(cases, rates),
        "",
        "Microseconds per call (the same medians):",
        "",
        *per_call_table(cases, rates),
        "",
        "ONNX parity recorded by `sy.registry.to_onnx` (max |native − ONNX| of the probabilities):",
        "",
        *[f"- {c.label}: {c.parity['max_abs_diff_sample']:.2g} on {c.parity['sample_rows']} held-out rows, "
          f"{c.parity['max_abs_diff_example']:.2g} on the input example ({c.parity['converter']} "
          f"{c.parity['converter_version']}, opset {c.parity['opset']})" for c in cases],
        "",
        "### Observations (computed from this run)",
        "",
        *observations(results, cases, rates),
        "",
    ]
    return "\n".join(lines)


# -- main -------------------------------------------------------------------------------------------
def profile(cases: list[ThroughputCase]) -> None:
    for case in cases:
        frame = case.batches[1]
        prof = cProfile.Profile()
        prof.enable()
        end = time.perf_counter() + 1.0
        while time.perf_counter() < end:
            case.native.predict_proba(frame)
        prof.disable()
        print(f"\n===== {case.key}: Shipyard predict_proba at batch 1, native form (1 s) =====")
        pstats.Stats(prof).sort_stats("cumulative").print_stats(18)
        prof = cProfile.Profile()
        prof.runcall(lambda case=case: [sy.load_model(case.uri) for _ in range(20)])
        print(f"\n===== {case.key}: 20 warm sy.load_model calls =====")
        pstats.Stats(prof).sort_stats("cumulative").print_stats(18)


def _command() -> str:
    script = Path(sys.argv[0]).resolve()
    shown = script.relative_to(ROOT).as_posix() if script.is_relative_to(ROOT) else str(script)
    return shlex.join([sys.executable, shown, *sys.argv[1:]])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", type=int, default=5, help="fresh processes per flavor and kind (default 5)")
    parser.add_argument("--reps", type=int, default=5, help="throughput rounds (default 5)")
    parser.add_argument("--seconds", type=float, default=0.5, help="minimum seconds per throughput cell")
    parser.add_argument("--output", type=Path, default=BENCH / "RESULTS.md", help="default: bench/RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="print the tables; leave RESULTS.md alone")
    parser.add_argument("--no-compile", action="store_true",
                        help="do not byte-compile Shipyard's modules before timing the fresh processes")
    parser.add_argument("--profile", action="store_true", help="profile the wrapper and warm loads; write nothing")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    home = Path(tempfile.mkdtemp(prefix="shipyard-bench-load-"))
    os.environ["SHIPYARD_HOME"] = str(home)
    sy.init(home=str(home))
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    try:
        facts = machine_facts()
        if args.profile:
            say("throughput models")
            profile(_register_throughput_models())
            return 0
        say(f"part 1: cold loads ({len(CASES)} flavors, {args.loads} load + {args.loads} import processes each)")
        results = cold_loads(home, args.loads, not args.no_compile)
        say("part 2: ONNX vs native throughput")
        cases = _register_throughput_models()
        rates = throughput(cases, args.reps, args.seconds)
        elapsed = time.perf_counter() - T0
        section = render(results, cases, rates, facts, _command(), started, elapsed, args)
        print("\n" + section)
        WORK.mkdir(exist_ok=True)
        raw = {"facts": facts, "started": started, "cold_loads": results, "throughput": rates,
               "parity": {c.key: c.parity for c in cases}}
        (WORK / "model_load-last.json").write_text(json.dumps(raw, indent=1, default=str), encoding="utf-8")
        if not args.no_write:
            write_section(args.output, section, HEADING)
            say(f"wrote the section {HEADING!r} of {args.output}")
        return 0
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
