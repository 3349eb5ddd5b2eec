"""The MLflow side of the tracking benchmark. Runs with bench/.venv-mlflow's python, never the project's.

    bench/.venv-mlflow/bin/python bench/_mlflow_worker.py info
    bench/.venv-mlflow/bin/python bench/_mlflow_worker.py W1 --reps 3 --workdir /tmp/x
    bench/.venv-mlflow/bin/python bench/_mlflow_worker.py W4 --reps 3 --workdir /tmp/x

Prints one line ``BENCH_RESULT {json}`` on stdout (anything else on stdout/stderr is noise).
Each repetition gets a fresh SQLite database in its own directory under ``--workdir``; creating the
database (MLflow's migrations) is not timed. Only MLflow's public client API is used.
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
import _workloads as wl  # noqa: E402
import mlflow  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric, Param  # noqa: E402

logging.getLogger("mlflow").setLevel(logging.ERROR)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _open(directory: Path, experiment: str) -> tuple[MlflowClient, str, str]:
    """A client on a fresh SQLite database in ``directory`` (schema created here, untimed)."""
    directory.mkdir(parents=True, exist_ok=False)
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
        with mlflow.start_run(experiment_id=exp_id, run_name="w4-warm-up"):
            info = mlflow.sklearn.log_model(model, name="model", input_example=example)
        mlflow.register_model(info.model_uri, "warm-up-model")
        client.set_registered_model_alias("warm-up-model", alias, 1)
        mlflow.pyfunc.load_model(f"models:/warm-up-model@{alias}").predict(example)

        for i in range(wl.W4_LOG_MODELS if rep == 0 else 0):
            with mlflow.start_run(experiment_id=exp_id, run_name=f"w4-{i}"):
                t0 = time.perf_counter()
                info = mlflow.sklearn.log_model(model, name="model", input_example=example)
                times["log_model"].append(time.perf_counter() - t0)

        versions = []
        for _ in range(wl.W4_VERSIONS):
            t0 = time.perf_counter()
            mv = mlflow.register_model(info.model_uri, name)
            times["register"].append(time.perf_counter() - t0)
            versions.append(int(mv.version))

        for i in range(wl.W4_ALIAS_MOVES):
            t0 = time.perf_counter()
            client.set_registered_model_alias(name, alias, versions[i % len(versions)])
            times["alias"].append(time.perf_counter() - t0)
        alias_version = int(client.get_model_version_by_alias(name, alias).version)

        predictions: list[int] = []
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("workload", choices=["info", "W1", "W2", "W3", "W4"])
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--queries", type=int, default=wl.W3_QUERIES)
    args = parser.parse_args()
    if args.workload == "info":
        result = info()
    else:
        if args.workdir is None:
            parser.error("--workdir is required")
        warm_up(args.workdir)
        if args.workload == "W4":
            result = w4(args.workdir, args.reps)
        elif args.workload == "W1":
            result = w1(args.workdir, args.reps)
        elif args.workload == "W2":
            result = w2(args.workdir, args.reps)
        else:
            result = w3(args.workdir, args.queries)
    sys.stdout.write("BENCH_RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
