"""The MLflow side of the tracking benchmark. Runs with bench/.venv-mlflow's python, never the project's.

    bench/.venv-mlflow/bin/python bench/_mlflow_worker.py info
    bench/.venv-mlflow/bin/python bench/_mlflow_worker.py W1 --reps 3 --workdir /tmp/x
    bench/.venv-mlflow/bin/python bench/_mlflow_worker.py W4 --reps 3 --workdir /tmp/x
    bench/.venv-mlflow/bin/python bench/_mlflow_worker.py W1,W2 --workdir /tmp/x \
        --tracking-uri http://127.0.0.1:5000 --server-pids 123,124 --sizes '{"W1": {"RUNS": 2}}'

Prints one line ``BENCH_RESULT {json}`` on stdout (anything else on stdout/stderr is noise): the
workload's result, or for a comma-separated list ``{"W1": result, ...}``.
Each repetition gets a fresh SQLite database in its own directory under ``--workdir``; creating the
database (MLflow's migrations) is not timed. Only MLflow's public client API is used.

With ``--tracking-uri`` (bench/server.py) the client talks to that server instead: each repetition
gets a fresh experiment there, the client's HTTP requests are counted, the CPU time of the
``--server-pids`` processes is read around each timed phase (bench/_proc.py), ``--sizes`` resizes
the workloads (bench/_workloads.py ``resize``), and a workload that fails reports
``{"error": ..., "during": ...}`` instead of ending the worker.
"""

from __future__ import annotations

import os

# Before mlflow is imported: no usage telemetry (it would try the network), no async logging (the
# per-call API is measured as users get it by default), quiet loggers.
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"
os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"
os.environ["MLFLOW_LOGGING_LEVEL"] = "ERROR"
os.environ["GIT_PYTHON_REFRESH"] = "quiet"
os.environ.pop("MLFLOW_TRACKING_URI", None)

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import sqlite3  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

warnings.simplefilter("ignore")
for _name in ("mlflow", "alembic", "sqlalchemy"):
    logging.getLogger(_name).setLevel(logging.ERROR)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _proc  # noqa: E402
import _workloads as wl  # noqa: E402
import mlflow  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric, Param  # noqa: E402

logging.getLogger("mlflow").setLevel(logging.ERROR)

# Set by main() for bench/server.py: the server to log to (None: a SQLite file per repetition), the
# meter of its CPU and of this client's requests, and the step being run (named in an error report).
TRACKING_URI: str | None = None
METER = _proc.Meter()
STAGE = ["start"]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _open(directory: Path, experiment: str) -> tuple[MlflowClient, str, str]:
    """A client on a fresh SQLite database in ``directory`` (schema created here, untimed); with
    --tracking-uri, a fresh experiment on that server, named after ``directory``."""
    directory.mkdir(parents=True, exist_ok=False)
    if TRACKING_URI:
        client = MlflowClient(tracking_uri=TRACKING_URI)
        return client, client.create_experiment(f"{experiment}-{directory.parent.name}-{directory.name}"), TRACKING_URI
    uri = f"sqlite:///{directory / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp_id = client.create_experiment(experiment, artifact_location=(directory / "artifacts").as_uri())
    return client, exp_id, uri


def _batches(metrics: list[Metric], params: list[Param]) -> list[tuple[list[Metric], list[Param]]]:
    """Split into log_batch calls within MLflow's limits (1000 metrics, 100 params, 1000 in all)."""
    out = []
    mi = pi = 0
    while mi < len(metrics) or pi < len(params):
        ps = params[pi : pi + wl.MLFLOW_MAX_PARAMS_PER_BATCH]
        room = min(wl.MLFLOW_MAX_METRICS_PER_BATCH, wl.MLFLOW_MAX_ENTITIES_PER_BATCH - len(ps))
        ms = metrics[mi : mi + room]
        out.append((ms, ps))
        mi += len(ms)
        pi += len(ps)
    return out


def _check_run(client: MlflowClient, run_id: str) -> None:
    run = client.get_run(run_id)
    history = client.get_metric_history(run_id, f"m{wl.N_METRICS - 1}")
    if len(run.data.params) != wl.N_PARAMS or len(history) != wl.N_STEPS or run.info.status != "FINISHED":
        raise SystemExit(f"MLflow run {run_id} is incomplete: {len(run.data.params)} params, {len(history)} steps")


def warm_up(workdir: Path) -> None:
    """Imports, first connections and lazily built state, outside every timing."""
    client, exp_id, _ = _open(workdir / "warm-up", "warm-up")
    run = client.create_run(exp_id, run_name="warm-up", tags={"team": "ops"})
    client.log_param(run.info.run_id, "p", 1)
    client.log_metric(run.info.run_id, "m", 0.5, step=0)
    client.log_batch(run.info.run_id, metrics=[Metric("auc", 0.9, _now_ms(), 0)], params=[Param("q", "1")])
    client.set_terminated(run.info.run_id)
    client.search_runs([exp_id], filter_string="metrics.auc > 0.8", order_by=["metrics.auc DESC"], max_results=5)


def w1(workdir: Path, reps: int) -> dict[str, Any]:
    params = wl.param_items()
    metrics = wl.metric_items()
    seconds = []
    for rep in range(reps):
        client, exp_id, _ = _open(workdir / f"w1-{rep}", "w1")
        run_id = ""
        t0 = time.perf_counter()
        with METER.phase("W1", calls=wl.RUNS * wl.CALLS_PER_RUN):
            for r in range(wl.RUNS):
                run_id = client.create_run(exp_id, run_name=f"w1-{r}").info.run_id
                for key, value in params:
                    client.log_param(run_id, key, value)
                for key, value, step in metrics:
                    client.log_metric(run_id, key, value, step=step)
                client.set_terminated(run_id)
        seconds.append(time.perf_counter() - t0)
        _check_run(client, run_id)
    return {"seconds": seconds, "calls": wl.RUNS * wl.CALLS_PER_RUN}


def w2(workdir: Path, reps: int) -> dict[str, Any]:
    params = wl.param_items()
    metrics = wl.metric_items()
    seconds = []
    calls = 0
    for rep in range(reps):
        client, exp_id, _ = _open(workdir / f"w2-{rep}", "w2")
        run_id = ""
        calls = 0
        t0 = time.perf_counter()
        with METER.phase("W2", calls=wl.RUNS * wl.VALUES_PER_RUN):
            for r in range(wl.RUNS):
                run_id = client.create_run(exp_id, run_name=f"w2-{r}").info.run_id
                ts = _now_ms()
                ms = [Metric(key, value, ts, step) for key, value, step in metrics]
                ps = [Param(key, str(value)) for key, value in params]
                for chunk_m, chunk_p in _batches(ms, ps):
                    client.log_batch(run_id, metrics=chunk_m, params=chunk_p)
                    calls += 1
                client.set_terminated(run_id)
        seconds.append(time.perf_counter() - t0)
        _check_run(client, run_id)
    return {"seconds": seconds, "values": wl.RUNS * wl.VALUES_PER_RUN, "log_batch_calls_per_run": calls // wl.RUNS}


def w3(workdir: Path, queries: int) -> dict[str, Any]:
    client, exp_id, uri = _open(workdir / "w3", "w3")
    t0 = time.perf_counter()
    for spec in wl.w3_runs():
        run_id = client.create_run(exp_id, run_name=spec["name"], tags=spec["tags"]).info.run_id
        ts = _now_ms()
        client.log_batch(
            run_id,
            metrics=[Metric(k, v, ts, 0) for k, v in spec["metrics"].items()],
            params=[Param(k, v) for k, v in spec["params"].items()],
        )
        client.set_terminated(run_id)
    setup = time.perf_counter() - t0

    def search() -> list[Any]:
        return client.search_runs(
            [exp_id], filter_string=wl.W3_FILTER, order_by=wl.W3_ORDER_BY, max_results=wl.W3_MAX_RESULTS
        )

    names = [r.info.run_name for r in search()]  # warm-up
    times = []
    with METER.phase("W3 search", calls=queries):
        for _ in range(queries):
            t0 = time.perf_counter()
            search()
            times.append(time.perf_counter() - t0)

    # The DataFrame flavour (mlflow.search_runs), the counterpart of Shipyard's search_runs.
    mlflow.set_tracking_uri(uri)

    def search_df() -> Any:
        return mlflow.search_runs(
            experiment_ids=[exp_id], filter_string=wl.W3_FILTER, order_by=wl.W3_ORDER_BY,
            max_results=wl.W3_MAX_RESULTS, output_format="pandas",
        )

    names_df = list(search_df()["tags.mlflow.runName"])  # warm-up
    times_df = []
    with METER.phase("W3 search_df", calls=queries):
        for _ in range(queries):
            t0 = time.perf_counter()
            search_df()
            times_df.append(time.perf_counter() - t0)
    return {"setup_seconds": setup, "search_seconds": times, "names": names,
            "search_df_seconds": times_df, "names_df": names_df}


def w4(workdir: Path, reps: int) -> dict[str, Any]:
    """Log a scikit-learn model, register it W4_VERSIONS times, move an alias, load by alias.

    The calls a user makes: ``mlflow.sklearn.log_model`` inside ``mlflow.start_run``,
    ``mlflow.register_model(info.model_uri, name)``, ``MlflowClient().set_registered_model_alias``
    and ``mlflow.pyfunc.load_model("models:/name@alias")`` (the generic loader, as Shipyard's
    ``load_model`` is). ``predict`` is called after each load, outside the timing. ``reps``
    repetitions on fresh databases, pooled; ``log_model`` is timed in the first one only.
    """
    import mlflow.pyfunc
    import mlflow.sklearn

    model, X = wl.w4_model()
    example = X[: wl.W4_EXAMPLE_ROWS]
    expected = [int(p) for p in model.predict(example)]
    name, alias, model_uri = wl.W4_MODEL_NAME, wl.W4_ALIAS, f"models:/{wl.W4_MODEL_NAME}@{wl.W4_ALIAS}"
    ops = ("log_model", "register", "alias", "load")
    out: dict[str, Any] = {f"{op}_seconds": [] for op in ops}
    rep_medians: dict[str, list[float]] = {op: [] for op in ops}
    for rep in range(reps):
        _, exp_id, uri = _open(workdir / f"w4-{rep}", "w4")  # the experiment's artifacts go to w4-N/artifacts
        mlflow.set_tracking_uri(uri)
        if mlflow.get_registry_uri() != uri:
            raise SystemExit(f"MLflow registry URI is {mlflow.get_registry_uri()!r}, not the tracking URI {uri!r}")
        client = MlflowClient()
        times: dict[str, list[float]] = {op: [] for op in ops}

        # Warm-up, untimed: a first log_model / register / alias / load on a throw-away model name.
        STAGE[0] = "warm-up: mlflow.sklearn.log_model"
        with mlflow.start_run(experiment_id=exp_id, run_name="w4-warm-up"):
            info = mlflow.sklearn.log_model(model, name="model", input_example=example)
        STAGE[0] = "warm-up: mlflow.register_model"
        mlflow.register_model(info.model_uri, "warm-up-model")
        STAGE[0] = "warm-up: set_registered_model_alias"
        client.set_registered_model_alias("warm-up-model", alias, 1)
        STAGE[0] = "warm-up: mlflow.pyfunc.load_model"
        mlflow.pyfunc.load_model(f"models:/warm-up-model@{alias}").predict(example)

        STAGE[0] = "mlflow.sklearn.log_model"
        for i in range(wl.W4_LOG_MODELS if rep == 0 else 0):
            with mlflow.start_run(experiment_id=exp_id, run_name=f"w4-{i}"), METER.phase("W4 log_model", calls=1):
                t0 = time.perf_counter()
                info = mlflow.sklearn.log_model(model, name="model", input_example=example)
                times["log_model"].append(time.perf_counter() - t0)

        STAGE[0] = "mlflow.register_model"
        versions = []
        with METER.phase("W4 register", calls=wl.W4_VERSIONS):
            for _ in range(wl.W4_VERSIONS):
                t0 = time.perf_counter()
                mv = mlflow.register_model(info.model_uri, name)
                times["register"].append(time.perf_counter() - t0)
                versions.append(int(mv.version))

        STAGE[0] = "set_registered_model_alias"
        with METER.phase("W4 alias", calls=wl.W4_ALIAS_MOVES):
            for i in range(wl.W4_ALIAS_MOVES):
                t0 = time.perf_counter()
                client.set_registered_model_alias(name, alias, versions[i % len(versions)])
                times["alias"].append(time.perf_counter() - t0)
        alias_version = int(client.get_model_version_by_alias(name, alias).version)

        STAGE[0] = "mlflow.pyfunc.load_model"
        predictions: list[int] = []
        with METER.phase("W4 load", calls=wl.W4_LOADS):
            for _ in range(wl.W4_LOADS):
                t0 = time.perf_counter()
                loaded = mlflow.pyfunc.load_model(model_uri)
                times["load"].append(time.perf_counter() - t0)
                predictions = [int(p) for p in loaded.predict(example)]  # outside the timing
                if predictions != expected:
                    raise SystemExit(f"MLflow {model_uri} predicted {predictions}, expected {expected}")
        agree = int((mlflow.pyfunc.load_model(model_uri).predict(X) == model.predict(X)).sum())
        for op, values in times.items():
            out[f"{op}_seconds"] += values
            if values:
                rep_medians[op].append(wl.median(values))
        check = {
            "versions": versions, "alias_version": alias_version, "predictions": predictions, "expected": expected,
            "agree": agree, "rows": len(X), "model_uri": info.model_uri,
            "serialization_format": _sklearn_format(info.model_uri),
        }
        if rep and any(check[k] != out[k] for k in ("versions", "alias_version", "predictions", "agree")):
            raise SystemExit(f"MLflow W4 repetition {rep} differs from the first: {check}")
        out.update(check)
    out["rep_medians"] = rep_medians
    out["reps"] = reps
    return out


def _sklearn_format(model_uri: str) -> str | None:
    """How MLflow stored the model (its default is skops outside Databricks)."""
    try:
        from mlflow.models import Model

        conf = Model.load(model_uri).flavors.get("sklearn", {})
        return str(conf.get("serialization_format"))
    except Exception:  # noqa: BLE001 - informational only
        return None


def info() -> dict[str, Any]:
    from importlib import metadata

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return {
        "python": platform.python_version(),
        "executable": sys.executable,
        "mlflow": mlflow.__version__,
        "sqlalchemy": version("sqlalchemy"),
        "pandas": version("pandas"),
        "sqlite": sqlite3.sqlite_version,
    }


def _count_requests() -> Any:
    """Count every HTTP request the mlflow client sends (its REST calls and artifact transfers all go
    through ``requests``); returns the counter for the meter."""
    import requests.adapters

    count = [0]
    send = requests.adapters.HTTPAdapter.send

    def counted(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return send(self, request, *args, **kwargs)

    requests.adapters.HTTPAdapter.send = counted  # type: ignore[method-assign]
    return lambda: count[0]


def _run(name: str, args: argparse.Namespace, sizes: dict[str, Any]) -> dict[str, Any]:
    extra = dict(sizes.get(name, {}))
    reps, queries = int(extra.pop("reps", args.reps)), int(extra.pop("queries", args.queries))
    wl.resize(**extra)
    STAGE[0] = name
    fn = {"W1": w1, "W2": w2, "W4": w4}.get(name)
    return fn(args.workdir, reps) if fn else w3(args.workdir, queries)


def main() -> None:
    global TRACKING_URI, METER
    parser = argparse.ArgumentParser()
    parser.add_argument("workload", help="info, W1, W2, W3 or W4, or a comma-separated list of workloads")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--queries", type=int, default=wl.W3_QUERIES)
    parser.add_argument("--tracking-uri", help="log to this MLflow-compatible server (bench/server.py)")
    parser.add_argument("--server-pids", default="", help="comma-separated pids of the server's processes")
    parser.add_argument("--sizes", default="{}", help='JSON: per workload, sizes for wl.resize, "reps", "queries"')
    args = parser.parse_args()
    names = [n.strip() for n in args.workload.split(",") if n.strip()]
    if args.workload == "info":
        sys.stdout.write("BENCH_RESULT " + json.dumps(info()) + "\n")
        return
    if not names or set(names) - {"W1", "W2", "W3", "W4"}:
        parser.error(f"unknown workload in {args.workload!r}: choose info, or from W1, W2, W3, W4")
    if args.workdir is None:
        parser.error("--workdir is required")
    if args.tracking_uri:
        TRACKING_URI = args.tracking_uri
        pids = [int(p) for p in args.server_pids.split(",") if p]
        METER = _proc.Meter(pids, _count_requests())
    sizes = json.loads(args.sizes)
    warm_up(args.workdir)
    results: dict[str, Any] = {}
    for name in names:
        if not TRACKING_URI:
            results[name] = _run(name, args, sizes)
            continue
        try:  # against a server, a workload it does not serve is a result, not a crash
            results[name] = _run(name, args, sizes)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - reported to bench/server.py
            results[name] = {"error": f"{type(exc).__name__}: {str(exc).strip()[:600]}", "during": STAGE[0]}
    if TRACKING_URI:
        for name, phases in _phases_by_workload().items():
            if name in results:
                results[name]["meter"] = phases
    result = results[names[0]] if len(names) == 1 else results
    sys.stdout.write("BENCH_RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


def _phases_by_workload() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for phase, data in METER.phases.items():
        out.setdefault(phase.split()[0], {})[phase] = data
    return out


if __name__ == "__main__":
    main()
