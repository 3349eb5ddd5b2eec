"""The MLflow side of the web UI benchmark: loads bench/ui.py's data set into an MLflow SQLite store.
Runs with bench/.venv-mlflow's python, never the project's.

    bench/.venv-mlflow/bin/python bench/_ui_worker.py load --home bench/.work/ui/full/mlflow [--quick]

MLflow makes its own schema (``MlflowClient`` on ``sqlite:///<home>/mlflow.db`` creates the database
and the experiments); the runs, params, tags and latest metrics of every run, and the metric history of
the first ``mlflow_history_runs`` runs, are then bulk-inserted with ``sqlite3`` (the same ids, names and
values as Shipyard's store: bench/ui.py defines them, standard library only). The history is inserted in
the order of MLflow's primary key (key, timestamp, step, run_uuid, ...), with its two secondary indexes
dropped and made again afterwards. Then values are read back through ``MlflowClient`` and compared with
the formula. Prints progress, then one line ``BENCH_RESULT {json}``.
"""

from __future__ import annotations

import os

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"
os.environ["MLFLOW_LOGGING_LEVEL"] = "ERROR"
os.environ["GIT_PYTHON_REFRESH"] = "quiet"
os.environ.pop("MLFLOW_TRACKING_URI", None)

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

warnings.simplefilter("ignore")
for _name in ("mlflow", "alembic", "sqlalchemy"):
    logging.getLogger(_name).setLevel(logging.ERROR)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ui  # noqa: E402 - the data's definition (standard library only at import)

T0 = time.perf_counter()


def say(message: str) -> None:
    print(f"[mlflow {time.perf_counter() - T0:6.1f}s] {message}", flush=True)


def load(home: Path, size: ui.Size) -> dict[str, Any]:
    from mlflow import MlflowClient

    db_path = home / "mlflow.db"
    client = MlflowClient(tracking_uri=f"sqlite:///{db_path}")
    art = (home / "artifacts").as_uri()
    experiments = [client.create_experiment(f"exp-{e:02d}", artifact_location=f"{art}/{e}")
                   for e in range(size.experiments)]
    template = client.create_run(experiments[0], run_name="template")  # the columns MLflow fills itself
    client.set_terminated(template.info.run_id)
    say(f"schema made by MLflow; {len(experiments)} experiments")
    ids = ui.run_ids(size)
    keys = ui.metric_keys(size)
    with ui.bulk_connection(db_path, "DELETE") as db:
        cols = [c[1] for c in db.execute("PRAGMA table_info(runs)")]
        tmpl = dict(zip(cols, db.execute("SELECT * FROM runs WHERE run_uuid = ?", (template.info.run_id,)).fetchone(),
                        strict=True))
        db.execute("BEGIN")
        for table in ("tags", "params", "latest_metrics", "metrics"):
            db.execute(f"DELETE FROM {table} WHERE run_uuid = ?", (template.info.run_id,))
        db.execute("DELETE FROM runs WHERE run_uuid = ?", (template.info.run_id,))
        rows = []
        for i in range(size.runs):
            exp = experiments[i % len(experiments)]
            t0 = ui.start_time(i)
            row = {**tmpl, "run_uuid": ids[i], "name": f"trial-{i:05d}", "status": "FINISHED", "start_time": t0,
                   "end_time": t0 + size.steps * ui.STEP_MS + 1000, "experiment_id": int(exp),
                   "artifact_uri": f"{art}/{exp}/{ids[i]}/artifacts", "lifecycle_stage": "active", "deleted_time": None}
            rows.append(tuple(row[c] for c in cols))
        db.executemany(f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", rows)
        db.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
                       [(k, v, ids[i]) for i in range(size.runs) for k, v in ui.params_of(i).items()])
        db.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
                       [(k, v, ids[i]) for i in range(size.runs)
                        for k, v in {**ui.tags_of(i), "mlflow.runName": f"trial-{i:05d}"}.items()])
        ui.fill_temp_tables(db, size, list(range(size.runs)))
        last = size.steps - 1
        db.execute(f"INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
                   f"SELECT kk.key, {ui.value_sql('br.i', 'kk.k', str(last))}, br.t0 + {last * ui.STEP_MS}, {last}, 0, "
                   f"br.id FROM br CROSS JOIN kk")
        db.execute("COMMIT")
        say(f"{size.runs:,} runs with params, tags and latest metrics inserted")
        indexes = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'metrics' "
                             "AND sql IS NOT NULL").fetchall()
        for name, _ in indexes:
            db.execute(f"DROP INDEX {name}")
        # The history runs in run-index order (timestamps rise with (run, step)), per key in text order:
        # rows arrive in the order of MLflow's primary key.
        db.execute("DROP TABLE temp.br")
        db.execute("CREATE TEMP TABLE br (pos INTEGER, i INTEGER, id TEXT, t0 INTEGER)")
        db.executemany("INSERT INTO br VALUES (?, ?, ?, ?)",
                       [(i, i, ids[i], ui.start_time(i)) for i in range(size.mlflow_history_runs)])
        insert = (f"INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) {ui.steps_cte(size)}"
                  f"SELECT kk.key, {ui.value_sql('br.i', 'kk.k', 's.step')}, br.t0 + s.step * {ui.STEP_MS}, br.id, "
                  f"s.step, 0 FROM kk CROSS JOIN br CROSS JOIN s WHERE kk.key = ?")
        per_key = size.mlflow_history_runs * size.steps
        t0 = time.perf_counter()
        for n, key in enumerate(sorted(keys)):
            db.execute("BEGIN")
            db.execute(insert, (key,))
            db.execute("COMMIT")
            say(f"history: {(n + 1) * per_key:,} / {per_key * len(keys):,} rows "
                f"({(n + 1) * per_key / (time.perf_counter() - t0) / 1e3:,.0f} k rows/s)")
        for name, sql in indexes:
            t1 = time.perf_counter()
            db.execute(sql)
            say(f"index {name} made again in {time.perf_counter() - t1:.0f} s")
    checks = check(client, size, ids)
    return {"experiments": experiments, "runs": size.runs, "history_runs": size.mlflow_history_runs,
            "history_rows": per_key * len(keys), "latest_metrics": size.runs * size.metrics, "checks": checks,
            "db_bytes": db_path.stat().st_size}


def check(client: Any, size: ui.Size, ids: list[str]) -> dict[str, Any]:
    """Read values back through ``MlflowClient`` and compare them with the formula."""
    problems = []
    want = ui.expected(size)
    experiments = [e.experiment_id for e in client.search_experiments() if e.name.startswith("exp-")]
    found = client.search_runs(experiments, filter_string=ui.FILTER, order_by=["metrics.m3 DESC"], max_results=50000)
    if len(found) != want["filter_count"] or [r.info.run_id for r in found[:5]] != want["filter_top"]:
        problems.append(f"search_runs: {len(found)} runs (want {want['filter_count']})")
    for i in (0, ui.DETAIL_RUN, size.mlflow_history_runs - 1):
        run = client.get_run(ids[i])
        latest = {f"m{k}": ui.value(i, k, size.steps - 1) for k in range(size.metrics)}
        if run.data.params != ui.params_of(i) or any(run.data.tags.get(k) != v for k, v in ui.tags_of(i).items()):
            problems.append(f"run {i}: params or tags differ")
        if set(run.data.metrics) != set(latest) or any(not math.isclose(run.data.metrics[k], v, rel_tol=1e-12)
                                                       for k, v in latest.items()):
            problems.append(f"run {i}: latest metrics differ")
        for k in (0, 3, size.metrics - 1):
            history = sorted(client.get_metric_history(ids[i], f"m{k}"), key=lambda m: m.step)
            if [m.step for m in history] != list(range(size.steps)) or any(
                    not math.isclose(m.value, ui.value(i, k, m.step), rel_tol=1e-12) for m in history):
                problems.append(f"run {i}: history of m{k} differs")
    if problems:
        raise SystemExit("The loaded MLflow store does not read back as written:\n  " + "\n  ".join(problems))
    say(f"check: MLflow reads back the rows as written ({len(found):,} runs match the filter)")
    return {"filter_count": len(found), "ok": True}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["load"])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    size = ui.QUICK if args.quick else ui.FULL
    result = load(args.home, size)
    print("BENCH_RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
