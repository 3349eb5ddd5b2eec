"""Tracking benchmark: the same workloads through Shipyard and through MLflow, in one run.

    python bench/tracking.py            # what `make bench` runs; writes bench/RESULTS.md

Both sides use a local SQLite store in a fresh directory per workload (per repetition for W1/W2)
and report ratios, since absolute seconds on a shared machine are noisy.

* Shipyard runs in this process, with the python that runs this script.
* MLflow runs in its own environment, bench/.venv-mlflow (created here on first use:
  ``python3 -m venv`` + ``pip install 'mlflow>=3,<4'``), as a subprocess (bench/_mlflow_worker.py)
  that prints its timings as JSON. MLflow is never installed into the project's environment.

Workloads (defined once, for both sides, in bench/_workloads.py):

* W1  20 runs x (10 params + 100 steps x 5 metrics), one call per value, run end included.
* W2  the same values through the batch APIs (MLflow: log_batch within its 1000-metric limit).
* W3  500 runs in one experiment, then a filtered, ordered search (median of 20 after a warm-up).
* W4  one scikit-learn model (LogisticRegression, breast cancer): log_model (median of 5), then
      register 20 versions, move an alias 20 times and load by alias 10 times, each call timed on
      its own; --reps fresh stores per side, medians of the pooled calls.

``--profile`` runs only the Shipyard side under cProfile and prints where its time goes (no
RESULTS.md is written: profiling distorts timings; W4 gets one profile per operation).

bench/RESULTS.md is shared with other benchmarks (bench/model_load.py writes its own ``## `` section):
this script replaces its own part of the file and keeps every section it does not write.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import platform
import pstats
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV = BENCH / ".venv-mlflow"
WORKER = BENCH / "_mlflow_worker.py"
WORK = BENCH / ".work"  # git-ignored scratch space for the SQLite stores
MLFLOW_SPEC = "mlflow>=3,<4"

sys.path.insert(0, str(BENCH))
import _workloads as wl  # noqa: E402

TARGETS = {"W1": 100.0, "W2": 10.0, "W3": 5.0}
# W4, per operation: "x" = at least that many times faster than MLflow; "s" = an absolute ceiling.
W4_TARGETS: dict[str, tuple[str, float]] = {
    "register": ("x", 10.0), "alias": ("x", 5.0), "load": ("x", 2.0), "log_model": ("s", 0.5),
}
W4_OPS = ("register", "alias", "load", "log_model")
T0 = time.perf_counter()


def say(message: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f}s] {message}", flush=True)


# -- the MLflow environment and worker ------------------------------------------------------------
def _venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _worker(args: list[str], timeout: float = 900) -> dict[str, Any]:
    """Run the MLflow worker with the benchmark venv's python; its JSON result."""
    proc = subprocess.run(
        [str(_venv_python()), str(WORKER), *args],
        capture_output=True, text=True, timeout=timeout, cwd=str(WORK), check=False,
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("BENCH_RESULT "):
            return json.loads(line[len("BENCH_RESULT ") :])  # type: ignore[no-any-return]
    raise RuntimeError(
        f"MLflow worker {' '.join(args)} failed (exit {proc.returncode}).\n"
        f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"
    )


def ensure_mlflow() -> dict[str, Any]:
    """bench/.venv-mlflow with MLflow 3.x (created on first use); the worker's version facts."""
    WORK.mkdir(exist_ok=True)
    if _venv_python().exists():
        try:
            facts = _worker(["info"])
            if str(facts["mlflow"]).startswith("3."):
                return facts
            say(f"bench/.venv-mlflow has MLflow {facts['mlflow']}; installing {MLFLOW_SPEC}")
        except (RuntimeError, subprocess.SubprocessError) as exc:
            say(f"bench/.venv-mlflow is not usable ({str(exc).splitlines()[0]}); (re)installing MLflow")
    else:
        base = shutil.which("python3") or sys.executable
        say(f"creating {_rel(VENV)} with {base} (one time; installing MLflow takes a few minutes)")
        subprocess.run([base, "-m", "venv", str(VENV)], check=True)
    pip = [str(_venv_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, MLFLOW_SPEC], check=True)
    return _worker(["info"])


# -- the Shipyard side ----------------------------------------------------------------------------
class Shipyard:
    """Shipyard's public tracking API on fresh embedded stores (this process)."""

    def __init__(self) -> None:
        from shipyard.config import configure
        from shipyard.tracking import TrackingClient
        from shipyard.workspace import build_workspace

        self._configure = configure
        self._build = build_workspace
        self._client_cls = TrackingClient

    def open(self, directory: Path, experiment: str) -> tuple[Any, Any, str]:
        """(workspace, client, experiment id) on a fresh SQLite store in ``directory`` (untimed)."""
        directory.mkdir(parents=True, exist_ok=False)
        settings = self._configure(
            store_uri=f"sqlite:///{directory / 'sy.db'}", artifact_uri=(directory / "artifacts").as_uri()
        )
        ws = self._build(settings)
        client = self._client_cls(ws, project="bench")
        return ws, client, client.create_experiment(experiment).id

    @staticmethod
    def check_run(client: Any, run_id: str) -> None:
        run = client.get_run(run_id)
        history = client.store.get_metric_history(run_id, f"m{wl.N_METRICS - 1}")
        if len(run.params) != wl.N_PARAMS or len(history) != wl.N_STEPS or run.status.value != "FINISHED":
            raise SystemExit(f"Shipyard run {run_id} is incomplete: {len(run.params)} params, {len(history)} steps")

    def warm_up(self, workdir: Path) -> None:
        """Imports, git detection (cached per process), first connections: outside every timing."""
        ws, client, exp_id = self.open(workdir / "sy-warm-up", "warm-up")
        run = client.start_run(experiment_id=exp_id, run_name="warm-up", tags={"team": "ops"})
        run.log_param("p", 1)
        run.log_metric("m", 0.5, step=0)
        run.log_batch(metrics=[("auc", 0.9, 0)], params={"q": 1})
        run.end()
        client.search(experiment=exp_id, filter="metrics.auc > 0.8", order_by=["metrics.auc DESC"], limit=5)
        client.search_runs(experiment=exp_id, filter="metrics.auc > 0.8", order_by=["metrics.auc DESC"], limit=5)
        ws.close()

    def w1(self, workdir: Path, reps: int, wrap: Callable[[Callable[[], None]], None] | None = None) -> dict[str, Any]:
        params = wl.param_items()
        metrics = wl.metric_items()
        seconds = []
        for rep in range(reps):
            ws, client, exp_id = self.open(workdir / f"sy-w1-{rep}", "w1")
            last: list[str] = []

            def body(client: Any = client, exp_id: str = exp_id, last: list[str] = last) -> None:
                for r in range(wl.RUNS):
                    run = client.start_run(experiment_id=exp_id, run_name=f"w1-{r}")
                    for key, value in params:
                        run.log_param(key, value)
                    for key, value, step in metrics:
                        run.log_metric(key, value, step=step)
                    run.end()  # flushes the buffered writer
                    last[:] = [run.id]

            t0 = time.perf_counter()
            (wrap or _call)(body)
            seconds.append(time.perf_counter() - t0)
            self.check_run(client, last[0])
            ws.close()
        return {"seconds": seconds, "calls": wl.RUNS * wl.CALLS_PER_RUN}

    def w2(self, workdir: Path, reps: int, wrap: Callable[[Callable[[], None]], None] | None = None) -> dict[str, Any]:
        params = dict(wl.param_items())
        metrics = wl.metric_items()
        seconds = []
        for rep in range(reps):
            ws, client, exp_id = self.open(workdir / f"sy-w2-{rep}", "w2")
            last: list[str] = []

            def body(client: Any = client, exp_id: str = exp_id, last: list[str] = last) -> None:
                for r in range(wl.RUNS):
                    run = client.start_run(experiment_id=exp_id, run_name=f"w2-{r}")
                    run.log_batch(metrics=metrics, params=params)
                    run.end()
                    last[:] = [run.id]

            t0 = time.perf_counter()
            (wrap or _call)(body)
            seconds.append(time.perf_counter() - t0)
            self.check_run(client, last[0])
            ws.close()
        return {"seconds": seconds, "values": wl.RUNS * wl.VALUES_PER_RUN}

    def w3(self, workdir: Path, queries: int, wrap: Callable[[Callable[[], None]], None] | None = None) -> dict[str, Any]:
        ws, client, exp_id = self.open(workdir / "sy-w3", "w3")
        t0 = time.perf_counter()
        for spec in wl.w3_runs():
            run = client.start_run(experiment_id=exp_id, run_name=spec["name"], tags=spec["tags"])
            run.log_batch(metrics=[(k, v, 0) for k, v in spec["metrics"].items()], params=spec["params"])
            run.end()
        setup = time.perf_counter() - t0
        query = {"experiment": exp_id, "filter": wl.W3_FILTER, "order_by": wl.W3_ORDER_BY, "limit": wl.W3_MAX_RESULTS}
        out: dict[str, Any] = {"setup_seconds": setup}
        for label, fn, names_of in (
            ("search", client.search, lambda res: [r.name for r in res]),
            ("search_df", client.search_runs, lambda res: list(res["run_name"])),
        ):
            out["names" if label == "search" else "names_df"] = names_of(fn(**query))  # warm-up
            times: list[float] = []

            def body(fn: Any = fn, times: list[float] = times) -> None:
                for _ in range(queries):
                    t0 = time.perf_counter()
                    fn(**query)
                    times.append(time.perf_counter() - t0)

            (wrap or _call)(body)
            out[f"{label}_seconds"] = times
        ws.close()
        return out

    def w4(self, workdir: Path, reps: int, wrap: Callable[[str, Callable[[], None]], None] | None = None) -> dict[str, Any]:
        """log_model, register, alias moves, load by alias; every call timed on its own.

        ``reps`` repetitions, each on a fresh store after its own untimed warm-up; the per-call times
        of all repetitions are pooled (``log_model`` is timed in the first one only).
        ``wrap(operation, body)`` runs each timed loop (for --profile)."""
        from shipyard.registry import Registry

        run_phase = wrap or (lambda _op, body: body())
        model, X = wl.w4_model()
        example = X[: wl.W4_EXAMPLE_ROWS]
        expected = [int(p) for p in model.predict(example)]
        name, alias, model_uri = wl.W4_MODEL_NAME, wl.W4_ALIAS, f"models:/{wl.W4_MODEL_NAME}@{wl.W4_ALIAS}"
        out: dict[str, Any] = {f"{op}_seconds": [] for op in W4_OPS}
        rep_medians: dict[str, list[float]] = {op: [] for op in W4_OPS}
        for rep in range(reps):
            ws, client, exp_id = self.open(workdir / f"sy-w4-{rep}", "w4")
            reg = Registry(ws, client.project)
            times: dict[str, list[float]] = {op: [] for op in W4_OPS}

            # Warm-up, untimed: a first log_model / register / alias / load on a throw-away model name.
            run = client.start_run(experiment_id=exp_id, run_name="w4-warm-up")
            infos = [run.log_model(model, name="model", input_example=example)]
            run.end()
            reg.register_model(infos[0].uri, "warm-up-model")
            reg.set_alias("warm-up-model", alias, 1)
            reg.load_model(f"models:/warm-up-model@{alias}").predict(example)

            def log_models(client: Any = client, exp_id: str = exp_id, infos: list[Any] = infos,
                           times: dict[str, list[float]] = times) -> None:
                for i in range(wl.W4_LOG_MODELS):
                    run = client.start_run(experiment_id=exp_id, run_name=f"w4-{i}")  # untimed, as on the MLflow side
                    t0 = time.perf_counter()
                    infos.append(run.log_model(model, name="model", input_example=example))
                    times["log_model"].append(time.perf_counter() - t0)
                    run.end()

            versions: list[int] = []

            def register(reg: Any = reg, infos: list[Any] = infos, versions: list[int] = versions,
                         times: dict[str, list[float]] = times) -> None:
                for _ in range(wl.W4_VERSIONS):
                    t0 = time.perf_counter()
                    mv = reg.register_model(infos[-1].uri, name)
                    times["register"].append(time.perf_counter() - t0)
                    versions.append(int(mv.version))

            def move_alias(reg: Any = reg, versions: list[int] = versions, times: dict[str, list[float]] = times) -> None:
                for i in range(wl.W4_ALIAS_MOVES):
                    t0 = time.perf_counter()
                    reg.set_alias(name, alias, versions[i % len(versions)])
                    times["alias"].append(time.perf_counter() - t0)

            predictions: list[int] = []

            def load(reg: Any = reg, predictions: list[int] = predictions, times: dict[str, list[float]] = times) -> None:
                for _ in range(wl.W4_LOADS):
                    t0 = time.perf_counter()
                    loaded = reg.load_model(model_uri)
                    times["load"].append(time.perf_counter() - t0)
                    predictions[:] = [int(p) for p in loaded.predict(example)]  # outside the timing
                    if predictions != expected:
                        raise SystemExit(f"Shipyard {model_uri} predicted {predictions}, expected {expected}")

            phases = [("register", register), ("alias", move_alias), ("load", load)]
            for op, body in ([("log_model", log_models)] if rep == 0 else []) + phases:
                run_phase(op, body)
            for op, values in times.items():
                out[f"{op}_seconds"] += values
                if values:
                    rep_medians[op].append(wl.median(values))
            first = reg.get_version(name, versions[0])
            agree = int((reg.load_model(model_uri).predict(X) == model.predict(X)).sum())
            check = {
                "versions": versions, "alias_version": int(reg.resolve_version(model_uri).version),
                "predictions": predictions, "expected": expected, "agree": agree, "rows": len(X),
                "model_uri": infos[-1].uri, "status": first.status.value,
            }
            if rep and any(check[k] != out[k] for k in ("versions", "alias_version", "predictions", "agree")):
                raise SystemExit(f"Shipyard W4 repetition {rep} differs from the first: {check}")
            out.update(check)
            ws.close()
        out["rep_medians"] = rep_medians
        out["reps"] = reps
        return out


def _call(fn: Callable[[], None]) -> None:
    fn()


# -- reporting ------------------------------------------------------------------------------------
def machine_facts(mlflow_facts: dict[str, Any]) -> dict[str, Any]:
    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "?"

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    commit = _git("describe", "--always", "--dirty", "--abbrev=12") or "?"
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "cores": f"{os.cpu_count()} logical ({usable} usable by this process)",
        "cpu": cpu,
        "memory": mem,
        "os": platform.platform(),
        "filesystem": _filesystem(WORK),
        "python_shipyard": f"{platform.python_version()} ({sys.executable})",
        "python_mlflow": f"{mlflow_facts['python']} ({_rel(Path(mlflow_facts['executable']))})",
        "shipyard": f"{version('shipyard-mlops')} at {commit}",
        "mlflow": mlflow_facts["mlflow"],
        "sqlalchemy": f"{version('sqlalchemy')} (Shipyard side), {mlflow_facts['sqlalchemy']} (MLflow side)",
        "sqlite": f"{sqlite3.sqlite_version} (Shipyard side), {mlflow_facts['sqlite']} (MLflow side)",
    }


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _filesystem(path: Path) -> str:
    """The mount (device, type) holding ``path``: fsync cost differs a lot between disks."""
    best = ("", "?", "?")
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            device, mount, fstype = line.split()[:3]
            if str(path.resolve()).startswith(mount) and len(mount) >= len(best[0]):
                best = (mount, device, fstype)
    except OSError:
        return "?"
    return f"{best[2]} on {best[1]} (mounted at {best[0]})"


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def _fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def _fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def _fmt_time(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 1 else _fmt_ms(seconds)


def _status(ratio: float, target: float) -> str:
    return "**met**" if ratio >= target else "**not met**"


def w4_verdicts(result: dict[str, Any]) -> dict[str, tuple[float, float, float, bool]]:
    """Per W4 operation: (Shipyard median s, MLflow median s, MLflow/Shipyard, target met)."""
    out = {}
    for op in W4_OPS:
        sy_t = wl.median(result["shipyard"][f"{op}_seconds"])
        ml_t = wl.median(result["mlflow"][f"{op}_seconds"])
        kind, target = W4_TARGETS[op]
        ratio = ml_t / sy_t
        out[op] = (sy_t, ml_t, ratio, ratio >= target if kind == "x" else sy_t < target)
    return out


def _w4_label(op: str, reps: int) -> str:
    pooled = {"register": wl.W4_VERSIONS, "alias": wl.W4_ALIAS_MOVES, "load": wl.W4_LOADS}
    of = f"median of {reps} × {pooled[op]}" if op in pooled else f"median of {wl.W4_LOG_MODELS}"
    return {
        "register": f"W4 register a version: `Registry.register_model(runs:/…)` vs `mlflow.register_model(models:/m-…)`, {of}",
        "alias": f"W4 move an alias: `Registry.set_alias` vs `MlflowClient.set_registered_model_alias`, {of}",
        "load": (f"W4 load by alias: `Registry.load_model` vs `mlflow.pyfunc.load_model` of "
                 f"`models:/{wl.W4_MODEL_NAME}@{wl.W4_ALIAS}`, {of}"),
        "log_model": (f"W4 log the model: `run.log_model` vs `mlflow.sklearn.log_model`, input example of "
                      f"{wl.W4_EXAMPLE_ROWS} rows, {of}"),
    }[op]


def render(results: dict[str, Any], facts: dict[str, Any], command: str, started: str, elapsed: float,
           reps: int, queries: int) -> str:
    mv = facts["mlflow"]
    lines = [
        "# Tracking benchmark: Shipyard vs MLflow",
        "",
        "Generated by `bench/tracking.py`; do not edit by hand, re-run it (`make bench`).",
        "",
        f"- **Command:** `{command}` (run from the repository root)",
        f"- **Date:** {started} (whole run: {elapsed:.0f} s, excluding the one-time MLflow install)",
        f"- **Machine:** {facts['cores']}; {facts['cpu']}; {facts['memory']} RAM; {facts['os']}",
        f"- **Disk under the stores:** {facts['filesystem']}",
        f"- **Python:** {facts['python_shipyard']} for Shipyard; {facts['python_mlflow']} for MLflow",
        f"- **Versions:** Shipyard {facts['shipyard']}; MLflow {mv}; SQLAlchemy {facts['sqlalchemy']}; "
        f"SQLite {facts['sqlite']}",
        "",
        "Ratios are what to read: both sides ran in the same invocation, on the same machine, each on a "
        "local SQLite database in a fresh directory. For W1/W2 each side ran "
        f"{reps} repetitions (fresh database each) and the median is used; for W3 the median of {queries} "
        f"queries after one warm-up query; for W4 each side ran {reps} repetitions (fresh database and an "
        "untimed warm-up each), every call is timed on its own and the median of the pooled calls is used "
        f"({reps} × {wl.W4_VERSIONS} registrations, {reps} × {wl.W4_ALIAS_MOVES} alias moves, {reps} × "
        f"{wl.W4_LOADS} loads; {wl.W4_LOG_MODELS} `log_model` calls, in the first repetition).",
        "",
        "## Results",
        "",
        f"| Workload | Shipyard | MLflow {mv} | Ratio | Target | Status |",
        "|---|---|---|---|---|---|",
    ]
    details: list[str] = []
    if "W1" in results:
        sy, ml = results["W1"]["shipyard"], results["W1"]["mlflow"]
        sy_rate = sy["calls"] / wl.median(sy["seconds"])
        ml_rate = ml["calls"] / wl.median(ml["seconds"])
        ratio = sy_rate / ml_rate
        lines.append(
            f"| W1 per-call logging: {wl.RUNS} runs × ({wl.N_PARAMS} params + {wl.N_STEPS} steps × "
            f"{wl.N_METRICS} metrics), one call per value | {_fmt_rate(sy_rate)} calls/s | "
            f"{_fmt_rate(ml_rate)} calls/s | **{ratio:,.0f}×** throughput | ≥ {TARGETS['W1']:.0f}× | "
            f"{_status(ratio, TARGETS['W1'])} |"
        )
        details.append(_rep_row("W1", sy["seconds"], ml["seconds"], sy["calls"], "calls"))
    if "W2" in results:
        sy, ml = results["W2"]["shipyard"], results["W2"]["mlflow"]
        sy_rate = sy["values"] / wl.median(sy["seconds"])
        ml_rate = ml["values"] / wl.median(ml["seconds"])
        ratio = sy_rate / ml_rate
        lines.append(
            f"| W2 batch logging: the same {wl.VALUES_PER_RUN} values per run, "
            f"{ml['log_batch_calls_per_run']} batch call per run | {_fmt_rate(sy_rate)} values/s | "
            f"{_fmt_rate(ml_rate)} values/s | **{ratio:,.1f}×** throughput | ≥ {TARGETS['W2']:.0f}× | "
            f"{_status(ratio, TARGETS['W2'])} |"
        )
        details.append(_rep_row("W2", sy["seconds"], ml["seconds"], sy["values"], "values"))
    if "W3" in results:
        sy, ml = results["W3"]["shipyard"], results["W3"]["mlflow"]
        sy_t, ml_t = wl.median(sy["search_seconds"]), wl.median(ml["search_seconds"])
        ratio = ml_t / sy_t
        lines.append(
            f"| W3 search: {wl.W3_RUNS} runs, filter + order by + limit {wl.W3_MAX_RESULTS}; "
            f"`TrackingClient.search` vs `MlflowClient.search_runs` (run objects) | {_fmt_ms(sy_t)} | "
            f"{_fmt_ms(ml_t)} | **{ratio:.1f}×** faster | ≥ {TARGETS['W3']:.0f}× | {_status(ratio, TARGETS['W3'])} |"
        )
        sy_df, ml_df = wl.median(sy["search_df_seconds"]), wl.median(ml["search_df_seconds"])
        lines.append(
            f"| W3 extra: the same search as a DataFrame; `TrackingClient.search_runs` vs `mlflow.search_runs` "
            f"| {_fmt_ms(sy_df)} | {_fmt_ms(ml_df)} | {ml_df / sy_df:.1f}× faster | (none) | — |"
        )
        details.append(
            f"| W3 setup (untimed part, for information): {wl.W3_RUNS} runs of 3 params, 2 metrics, 1 tag | "
            f"{sy['setup_seconds']:.2f} s | {ml['setup_seconds']:.2f} s | "
            f"{ml['setup_seconds'] / sy['setup_seconds']:.1f}× |"
        )
        details.append(
            f"| W3 search, ms per query (min · median · max of {len(sy['search_seconds'])}) | "
            f"{_spread(sy['search_seconds'])} | {_spread(ml['search_seconds'])} | median {ratio:.1f}× |"
        )
    if "W4" in results:
        for op, (sy_t, ml_t, ratio, met) in w4_verdicts(results["W4"]).items():
            kind, target = W4_TARGETS[op]
            if kind == "x":
                ratio_s, target_s = f"**{ratio:.1f}×** faster", f"≥ {target:.0f}×"
            else:
                ratio_s, target_s = f"{ratio:,.0f}× faster (for reference)", f"< {target} s (absolute)"
            lines.append(
                f"| {_w4_label(op, results['W4']['shipyard']['reps'])} | {_fmt_time(sy_t)} | {_fmt_time(ml_t)} | {ratio_s} | {target_s} | "
                f"{'**met**' if met else '**not met**'} |"
            )
        sy4, ml4 = results["W4"]["shipyard"], results["W4"]["mlflow"]
        for op in W4_OPS:
            details.append(
                f"| W4 {op}, ms per call (min · median · max of {len(sy4[f'{op}_seconds'])}) | "
                f"{_spread(sy4[f'{op}_seconds'])} | {_spread(ml4[f'{op}_seconds'])} | "
                f"median {wl.median(ml4[f'{op}_seconds']) / wl.median(sy4[f'{op}_seconds']):,.1f}× |"
            )
            if len(sy4["rep_medians"][op]) > 1:
                sy_r, ml_r = sy4["rep_medians"][op], ml4["rep_medians"][op]
                details.append(
                    f"| W4 {op}, median ms of each repetition | {', '.join(f'{x * 1000:.2f}' for x in sy_r)} | "
                    f"{', '.join(f'{x * 1000:.2f}' for x in ml_r)} | "
                    f"{', '.join(f'{m / y:,.1f}×' for y, m in zip(sy_r, ml_r, strict=True))} |"
                )
    lines += ["", "### Repetitions", "", "| | Shipyard | MLflow | Ratio |", "|---|---|---|---|", *details, ""]
    if "W3" in results:
        check = results["W3"]["check"]
        lines += [
            "### W3 consistency check",
            "",
            f"- `{wl.W3_FILTER}`, order by `{', '.join(wl.W3_ORDER_BY)}`, max {wl.W3_MAX_RESULTS}.",
            f"- Shipyard `search`: {check['shipyard']} runs; `search_runs`: {check['shipyard_df']} rows; "
            f"MLflow `search_runs`: {check['mlflow']} runs; `mlflow.search_runs`: {check['mlflow_df']} rows; "
            f"expected (computed in Python from the generated data): {check['expected']}.",
            f"- Same runs in the same order on both sides: **{'yes' if check['ok'] else 'NO'}**.",
            "",
        ]
    if "W4" in results:
        check = results["W4"]["check"]
        sy4, ml4 = results["W4"]["shipyard"], results["W4"]["mlflow"]
        lines += [
            "### W4 consistency check",
            "",
            f"- In each of the {sy4['reps']} repetitions — versions registered: Shipyard {_span(sy4['versions'])} "
            f"(status {sy4['status']}), "
            f"MLflow {_span(ml4['versions'])}; after the moves `@{wl.W4_ALIAS}` points at version "
            f"{sy4['alias_version']} (Shipyard) and {ml4['alias_version']} (MLflow).",
            f"- Predictions of the model loaded by alias on the {wl.W4_EXAMPLE_ROWS} example rows: Shipyard "
            f"{sy4['predictions']}, MLflow {ml4['predictions']}, the fitted model {sy4['expected']}; on all "
            f"{sy4['rows']} rows the loaded model agrees with the fitted one on {sy4['agree']} (Shipyard) and "
            f"{ml4['agree']} (MLflow).",
            f"- Registered from: Shipyard `{_redact_id(sy4['model_uri'])}`, MLflow `{_redact_id(ml4['model_uri'])}` "
            f"(MLflow stored the model as `{ml4.get('serialization_format')}`, its default outside Databricks).",
            f"- All consistent: **{'yes' if check['ok'] else 'NO'}**.",
            "",
        ]
    lines += [
        "## How it is measured",
        "",
        "- One command runs both sides: Shipyard in-process with the project's python; MLflow in "
        "`bench/.venv-mlflow` (created on first use with `python3 -m venv` and "
        f"`pip install '{MLFLOW_SPEC}'`) via `bench/_mlflow_worker.py`, which prints JSON. MLflow is not a "
        "dependency of the project.",
        "- Workload data comes from `bench/_workloads.py`, shared by both sides: same keys, values and steps.",
        "- W1 — MLflow: `MlflowClient(tracking_uri='sqlite:///…')` `create_run` / `log_param` / `log_metric` "
        "per value / `set_terminated`. Shipyard: `start_run` / `run.log_param` / `run.log_metric(key, value, "
        "step=…)` per value / `run.end()`. The timing covers run creation and the end of every run "
        "(Shipyard's `end()` flushes its buffered writer, so every value is in the database when the clock "
        "stops). Calls/s counts the log calls only.",
        "- W2 — MLflow: `log_batch(run_id, metrics=[Metric…], params=[Param…])`, chunked to MLflow's limits "
        "(1000 metrics, 100 params, 1000 entities per call: one call per run here). Shipyard: "
        "`run.log_batch(metrics=[(key, value, step), …], params={…})` then `run.end()`.",
        "- W3 — 500 runs (params model ∈ {lgbm, xgb, rf, logreg}, lr, depth; metrics auc ∈ [0.5, 1), loss; "
        "tag team ∈ {ops, ds, ml}; seeded) written through each tool's API (untimed), then the query. Both "
        "sides are given the experiment id. The DataFrame row is an extra, with no target.",
        "- W4 — the model: `LogisticRegression(max_iter=5000)` fitted on `sklearn.datasets.load_breast_cancer` "
        "(569 rows × 30 columns, a DataFrame), the same on both sides (`bench/_workloads.py`); input example "
        f"`X[:{wl.W4_EXAMPLE_ROWS}]`. Both sides use a fresh SQLite database with artifacts on local disk in "
        "the run's directory. Untimed warm-up per side: one `log_model`, one registration, one alias, one load "
        "on a throw-away model name. Then: "
        f"{wl.W4_LOG_MODELS} × `log_model`, each in a fresh run (run start and end untimed; MLflow: "
        "`with mlflow.start_run(): mlflow.sklearn.log_model(model, name='model', input_example=X[:5])`; "
        "Shipyard: `run.log_model(model, name='model', input_example=X[:5])`); "
        f"{wl.W4_VERSIONS} × register the last logged model under `{wl.W4_MODEL_NAME}` (the first call also "
        "creates the registered model; MLflow: `mlflow.register_model(info.model_uri, name)`, the fluent call a "
        "user makes, with the `models:/m-…` URI `log_model` returns; Shipyard: `Registry(ws, project)."
        "register_model(info.uri, name)` with the `runs:/…` URI it returns); "
        f"{wl.W4_ALIAS_MOVES} × move `@{wl.W4_ALIAS}` to version 1, 2, … (MLflow: "
        "`MlflowClient().set_registered_model_alias`; Shipyard: `Registry.set_alias`, which also appends the "
        f"move to the alias history); {wl.W4_LOADS} × load `models:/{wl.W4_MODEL_NAME}@{wl.W4_ALIAS}` "
        "(MLflow: `mlflow.pyfunc.load_model`, the generic loader; Shipyard: `Registry.load_model`, which "
        "verifies every file's sha256 before unpickling). `predict(X[:5])` is called after every load, "
        "outside the timing, and checked against the fitted model.",
        "- After each timed W1/W2 repetition the last run is read back (10 params, 100 steps of m4, "
        "FINISHED) on both sides, outside the timing.",
        "- Each side first does an untimed warm-up (a throw-away store, one run, one search): imports, "
        "Shipyard's git detection (run once per process and cached), first connections.",
        "",
        "### Fairness notes",
        "",
        "- Git and network: `MlflowClient.create_run` does no git lookup (only the fluent "
        "`mlflow.start_run` resolves git/source tags); Shipyard's `start_run` records git state, cached per "
        "process, and it was warmed up before timing. MLflow's usage telemetry (which would try the network) "
        "is off (`MLFLOW_DISABLE_TELEMETRY=true`, `DO_NOT_TRACK=true`); MLflow logging is at ERROR and "
        "warnings are silenced in the worker.",
        "- Durability differs by design: MLflow's per-call API commits one transaction per value (SQLite in its "
        "default rollback-journal mode); Shipyard buffers values and writes them in batches (WAL, "
        "`synchronous=NORMAL`) — a value is durable at `flush()` / `end()`, which the timing includes. "
        "MLflow's own asynchronous mode (`synchronous=False`) is not used: it is off by default, and in a "
        "one-off trial of W1 when this benchmark was written (MLflow 3.17.2, same machine) it was slower "
        "than the synchronous calls (about 90 vs 190 calls/s).",
        "- Each side uses its default SQLite settings and its own SQLAlchemy; nothing is tuned for either.",
        "- W4 `log_model`: MLflow's time is mostly its own defaults — it infers the pip requirements by "
        "loading the saved model in a subprocess and recording what it imports, and validates the input "
        "example by reloading the model and predicting on it. Shipyard pins the installed versions of the "
        "framework, NumPy and pandas without a subprocess and infers the signature from the example. Each "
        "side is measured as a user calls it, with no option changed. Shipyard's target for `log_model` is "
        "absolute; MLflow's time is given for reference.",
        "- W4 register: MLflow registers a logged model (`models:/m-…`); with a SQLite registry its version "
        "is READY at once, so `await_registration_for` never waits. Shipyard checks the stored manifest "
        "against the recorded file hashes before marking the version READY, inside the timed call. The "
        "`models:/m-…` URI is MLflow's faster path: in a one-off trial when W4 was added (MLflow 3.17.2, same "
        "machine) `mlflow.register_model('runs:/<run id>/model', …)` took about 34 ms against about 20 ms.",
        "- Noise: this is a shared virtual machine whose CPU speed drifts by itself — a fixed pure-Python loop "
        "took 22–42 ms over 40 s with nothing else running (checked when W4 was added). The sides run one after "
        "the other, so a ratio can move by about 1.5× between runs; the per-repetition medians above show how "
        "much it moved in this run. W4's MLflow side takes about a minute (its `log_model` calls), Shipyard's "
        "a few seconds, which is why W4 pools repetitions on fresh databases.",
        "- W4 load: `mlflow.pyfunc.load_model` is compared because Shipyard's `load_model` returns the same "
        "kind of object (a generic model that checks inputs against the signature). The flavor loader "
        "`mlflow.sklearn.load_model` (the bare estimator) took about 15 ms against about 32 ms for pyfunc "
        "in the same one-off trial.",
        "",
    ]
    return "\n".join(lines)


def _span(versions: list[int]) -> str:
    ok = versions == list(range(1, len(versions) + 1))
    return f"1 … {len(versions)} in order" if ok else str(versions)


def _redact_id(uri: str) -> str:
    """``runs:/<id>/model`` / ``models:/m-<id>``: ids differ per run; keep the shape."""
    if uri.startswith("runs:/"):
        return "runs:/<run id>/" + uri.split("/", 2)[2].split("/", 1)[-1]
    if uri.startswith("models:/m-"):
        return "models:/m-<model id>"
    return uri


def _spread(seconds: list[float]) -> str:
    return " · ".join(f"{x * 1000:.2f}" for x in (min(seconds), wl.median(seconds), max(seconds)))


def _rep_row(name: str, sy: list[float], ml: list[float], count: int, unit: str) -> str:
    sy_s = ", ".join(f"{s:.3f}" for s in sy)
    ml_s = ", ".join(f"{s:.2f}" for s in ml)
    best = (count / min(sy)) / (count / min(ml))
    return (
        f"| {name} seconds per repetition ({count} {unit}) | {sy_s} | {ml_s} | "
        f"median {wl.median(ml) / wl.median(sy):,.1f}×, best-of-{len(sy)} {best:,.1f}× |"
    )


# Headings this script wrote in earlier versions: replaced, not kept, when found in RESULTS.md.
LEGACY_HEADINGS = {"## W4 (registry)"}


def write_results(path: Path, text: str) -> None:
    """Write ``text`` (this benchmark's part) to ``path``, keeping every ``## `` section of the current
    file that ``text`` does not contain (another benchmark's, e.g. bench/model_load.py's), in its
    order, after this part. The file is read just before writing and replaced atomically."""
    own = {line.strip() for line in text.splitlines() if line.startswith("## ")} | LEGACY_HEADINGS
    kept: list[list[str]] = []
    if path.exists():
        section: list[str] | None = None
        in_fence = False
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.lstrip().startswith("```"):
                in_fence = not in_fence
            if line.startswith("## ") and not in_fence:
                section = None if line.strip() in own else [line]
                if section is not None:
                    kept.append(section)
            elif section is not None:
                section.append(line)
    parts = [text.rstrip("\n")]
    for section in kept:
        while section and not section[-1].strip():
            section.pop()
        parts.append("\n".join(section))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# -- main -----------------------------------------------------------------------------------------
def _profile(workloads: list[str], workdir: Path, queries: int) -> None:
    side = Shipyard()
    side.warm_up(workdir)
    for name in workloads:
        prof = cProfile.Profile()

        def wrap(fn: Callable[[], None], prof: cProfile.Profile = prof) -> None:
            prof.runcall(fn)

        if name == "W4":
            profiles: dict[str, cProfile.Profile] = {}

            def wrap4(op: str, fn: Callable[[], None], profiles: dict[str, cProfile.Profile] = profiles) -> None:
                profiles[op] = cProfile.Profile()
                profiles[op].runcall(fn)

            side.w4(workdir / "prof", 1, wrap4)
            shutil.rmtree(workdir / "prof", ignore_errors=True)
            for op, op_prof in profiles.items():
                print(f"\n===== W4 {op}: Shipyard under cProfile (the timed loop only) =====")
                stats = pstats.Stats(op_prof)
                stats.sort_stats("cumulative").print_stats(30)
                stats.sort_stats("tottime").print_stats(15)
            continue
        if name == "W1":
            side.w1(workdir / "prof", 1, wrap)
        elif name == "W2":
            side.w2(workdir / "prof", 1, wrap)
        else:
            side.w3(workdir / "prof", queries, wrap)
        shutil.rmtree(workdir / "prof", ignore_errors=True)
        print(f"\n===== {name}: Shipyard under cProfile (timed part only) =====")
        stats = pstats.Stats(prof)
        stats.sort_stats("cumulative").print_stats(30)
        stats.sort_stats("tottime").print_stats(15)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="W1,W2,W3,W4", help="comma-separated workloads (default: W1,W2,W3,W4)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of W1, W2 and W4 per side (default 3)")
    parser.add_argument("--queries", type=int, default=wl.W3_QUERIES, help="timed W3 queries (default 20)")
    parser.add_argument("--output", type=Path, default=BENCH / "RESULTS.md", help="default: bench/RESULTS.md")
    parser.add_argument("--profile", action="store_true", help="profile the Shipyard side; write no results")
    parser.add_argument("--keep", action="store_true", help="keep the databases under bench/.work")
    args = parser.parse_args()
    workloads = [w.strip().upper() for w in args.only.split(",") if w.strip()]
    unknown = sorted(set(workloads) - {"W1", "W2", "W3", "W4"})
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; choose from W1, W2, W3, W4")

    WORK.mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="run-", dir=WORK))
    try:
        if args.profile:
            _profile(workloads, workdir, args.queries)
            return 0

        mlflow_facts = ensure_mlflow()
        started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        facts = machine_facts(mlflow_facts)  # before the run: the commit that is measured
        t_start = time.perf_counter()
        say(f"MLflow {mlflow_facts['mlflow']} in bench/.venv-mlflow; Shipyard in {sys.executable}")
        side = Shipyard()
        side.warm_up(workdir)
        results: dict[str, Any] = {}
        ok = True
        for name in workloads:
            say(f"{name}: Shipyard")
            if name == "W1":
                sy = side.w1(workdir, args.reps)
            elif name == "W2":
                sy = side.w2(workdir, args.reps)
            elif name == "W3":
                sy = side.w3(workdir, args.queries)
            else:
                sy = side.w4(workdir, args.reps)
            say(f"{name}: MLflow (subprocess)")
            extra = ["--queries", str(args.queries)] if name == "W3" else ["--reps", str(args.reps)]
            ml = _worker([name, "--workdir", str(workdir / f"mlflow-{name.lower()}"), *extra])
            results[name] = {"shipyard": sy, "mlflow": ml}
            if name == "W3":
                expected = wl.w3_expected_names()
                check = {
                    "shipyard": len(sy["names"]), "shipyard_df": len(sy["names_df"]),
                    "mlflow": len(ml["names"]), "mlflow_df": len(ml["names_df"]), "expected": len(expected),
                    "ok": sy["names"] == ml["names"] == sy["names_df"] == ml["names_df"] == expected,
                }
                results[name]["check"] = check
                ok = ok and bool(check["ok"])
                say(f"W3: {check}")
            if name == "W4":
                expected_versions = list(range(1, wl.W4_VERSIONS + 1))
                last = expected_versions[(wl.W4_ALIAS_MOVES - 1) % wl.W4_VERSIONS]
                check = {
                    "ok": sy["versions"] == ml["versions"] == expected_versions
                    and sy["alias_version"] == ml["alias_version"] == last
                    and sy["predictions"] == ml["predictions"] == sy["expected"] == ml["expected"]
                    and sy["agree"] == ml["agree"] == sy["rows"] == ml["rows"]
                    and sy["status"] == "READY",
                }
                results[name]["check"] = check
                ok = ok and bool(check["ok"])
                say(f"W4: {check}")
            _summary(name, results[name])
        elapsed = time.perf_counter() - t_start
        command = shlex.join([_rel(Path(sys.executable)), *sys.argv])
        text = render(results, facts, command, started, elapsed, args.reps, args.queries)
        write_results(args.output, text)
        (WORK / "last-results.json").write_text(json.dumps({"facts": facts, "results": results}, indent=1))
        say(f"wrote {_rel(args.output.resolve())} ({elapsed:.0f} s)")
        if not ok:
            print("W3 or W4: Shipyard and MLflow disagree (see the consistency checks); the comparison is not "
                  "valid.", file=sys.stderr)
            return 1
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _summary(name: str, result: dict[str, Any]) -> None:
    sy, ml = result["shipyard"], result["mlflow"]
    if name == "W4":
        for op, (a, b, ratio, met) in w4_verdicts(result).items():
            kind, target = W4_TARGETS[op]
            goal = f"target {target:.0f}x" if kind == "x" else f"target < {target} s"
            say(f"W4 {op}: Shipyard {a * 1000:.2f} ms, MLflow {b * 1000:.2f} ms -> {ratio:,.1f}x faster "
                f"({goal}: {'met' if met else 'NOT met'})")
    elif name == "W3":
        a, b = wl.median(sy["search_seconds"]), wl.median(ml["search_seconds"])
        say(f"W3: Shipyard {a * 1000:.2f} ms, MLflow {b * 1000:.2f} ms -> {b / a:.1f}x faster (target {TARGETS[name]:.0f}x)")
    else:
        unit = "calls" if name == "W1" else "values"
        a, b = sy[unit] / wl.median(sy["seconds"]), ml[unit] / wl.median(ml["seconds"])
        say(f"{name}: Shipyard {a:,.0f} {unit}/s, MLflow {b:,.0f} {unit}/s -> {a / b:,.1f}x (target {TARGETS[name]:.0f}x)")


if __name__ == "__main__":
    sys.exit(main())
