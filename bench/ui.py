"""Web UI speed benchmark (issue 8): every page of Shipyard's UI over 10,000 runs, MLflow's UI as the anchor.

    python bench/ui.py                # what `make bench` runs; writes its section of bench/RESULTS.md
    python bench/ui.py --no-write     # print the tables only
    python bench/ui.py --quick        # 200 runs, 5 requests a page: a smoke test of the script (no write)
    python bench/ui.py --render bench/.work/ui.json   # the section again from the last run's measurements
    python bench/ui.py --serve        # serve the cached store (for profiling a page by hand); Ctrl-C stops

The issue's target: with 10,000 runs × 20 metrics × 1,000 steps in the store, every page's first byte
under 300 ms (judged here on the p95 of the time to first byte), the runs table usable (server-side
paging and aggregation), and charts down-sampled on the server, never shipping more points than pixels.

**Data** (built once, cached under bench/.work/ui/<full|quick>/ with a ``complete.json`` marker that
records its parameters; a cache whose marker is missing or differs is rebuilt). One project, ``ui-bench``:

* 10,000 runs in 10 experiments, each with 10 params (``p0`` … ``p9``), 3 tags and 20 metrics
  (``m0`` … ``m19``) × 1,000 steps: 200 million metric-history rows, plus each metric's latest value.
  Every value is a formula of (run, metric, step) (``value`` below, and the same in SQL): a rising or
  falling curve per run with deterministic noise, so any row can be checked after loading.
* Through the SDK (the store is made by ``shipyard.init`` + the SDK, so the schema is Shipyard's own):
  the 10 experiments, one more run that logs a scikit-learn model, two registered models (5 versions,
  aliases moved with reasons), a deployment with two routes, a monitor with three evaluated windows and a
  firing alert, an entity and a feature view (materialized), two users with tokens and 300 audit events.
* The 10,000 runs, their params and tags are bulk-inserted with ``sqlite3`` ``executemany``; the metric
  history and latest values by ``INSERT … SELECT`` from a recursive CTE over (run, metric, step) that
  evaluates the formula inside SQLite (Python cannot feed 200M rows fast enough), in run-id order so
  the history index only ever appends, one transaction per 50 runs. The rows are then read back through
  ``TrackingClient.search`` / ``get_run`` and the store's ``get_metric_history`` and compared with the
  formula.
* Before every measurement 3,000 predictions are logged to the deployment (in the past hour), so the
  deployment pages have live traffic to aggregate whenever the cache was built.

**Measured**: ``shipyard server`` (one worker, ``--no-monitors``, no auth on loopback) on the cached
store, pinned to core 0; this process on core 1 with one keep-alive ``http.client`` connection. For each
page, 3 warm-up requests (the first is reported as the first request after start), then 30 rounds over
all pages (round-robin, so a noisy moment hits every page alike); MLflow's server (below) is up at the
same time, pinned the same way, and its rounds alternate with Shipyard's. Time to first byte: until
``getresponse()`` returns (status line and headers read); full: until the body is read. Median and p95
(nearest rank). The runs-table page 2 is the ``rel="next"`` link of the metric-sorted page; the series
responses are checked to hold at most ``points`` points.

**Anchor**: MLflow 3.x in its own environment, bench/.venv-mlflow, created exactly as bench/tracking.py
does (its ``ensure_mlflow``); never in the project's environment. bench/_ui_worker.py (MLflow's python)
creates MLflow's SQLite schema with ``MlflowClient``, bulk-inserts the same runs, params, tags and latest
metrics, and the history of the first 1,000 runs (20 million rows: every history MLflow is asked for is
among them; MLflow looks a history up through its index on (run_uuid, key, step), so the table's size
matters only logarithmically), checks values through ``MlflowClient``, and ``mlflow server --workers 1``
serves it. The requests MLflow's own UI makes for the same views are timed the same way: its HTML page,
``runs/search`` (100 runs; by start time, by a metric, with the filter, page 2, 250 runs, one
experiment), ``runs/get``, ``metrics/get-history`` and ``get-history-bulk-interval``; its compare page
is 10 × ``runs/get``. Ratios are MLflow's median full time over Shipyard's.

Takes about 25 minutes the first time on 2 cores (7 of them loading), 15–20 minutes with the cache: most
of that is MLflow answering its metric-sorted searches (about 8 s each, 33 times each).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import math
import os
import random
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
import _proc  # noqa: E402
from _results import host_facts, write_section  # noqa: E402

HEADING = "## Web UI (bench/ui.py)"
WORK = BENCH / ".work"
CACHE = WORK / "ui"
RAW = WORK / "ui.json"
WORKER = BENCH / "_ui_worker.py"
PROJECT = "ui-bench"
DATA_VERSION = 1  # bump when the data's definition changes: the cache is rebuilt
SEED = 20261201
T_BASE = 1_748_736_000_000  # 2025-06-01T00:00Z: run i starts at T_BASE + i × RUN_GAP_MS
RUN_GAP_MS = 120_000  # > STEP_MS × steps: timestamps rise with (run, step), per metric
STEP_MS = 100
TARGET_MS = 300.0
SERVER_CORE, CLIENT_CORE = 0, 1
LOAD_QUIET = 1.0  # 1-minute load average under which the machine counts as quiet (2 cores)
FILTER = "metrics.m3 > 0.5 AND params.p1 = 'x'"
COLS = "metrics.m0,metrics.m3,metrics.m7,metrics.m12,params.p1,params.p2,params.p4,tags.team"
BYTES_PER_HISTORY_ROW = 125  # Shipyard's metrics table + its (run_id, key, step) index, measured
MLFLOW_BYTES_PER_HISTORY_ROW = 190  # MLflow's metrics table + its primary key and two indexes
T0 = time.perf_counter()


def say(message: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f}s] {message}", flush=True)


# -- the data (standard library only: bench/_ui_worker.py imports this module under MLflow's python) --
@dataclass(frozen=True)
class Size:
    runs: int
    experiments: int
    metrics: int
    steps: int
    params: int
    mlflow_history_runs: int
    rounds: int

    @property
    def history_rows(self) -> int:
        return self.runs * self.metrics * self.steps


FULL = Size(runs=10_000, experiments=10, metrics=20, steps=1000, params=10, mlflow_history_runs=1000, rounds=30)
QUICK = Size(runs=200, experiments=4, metrics=20, steps=1000, params=10, mlflow_history_runs=20, rounds=5)
DETAIL_RUN = 7  # the run (by index) of the run page and the series; compare: runs 0..9
COMPARE_RUNS = 10


def run_ids(size: Size) -> list[str]:
    """Run ``i``'s id (32 hex digits, like a UUID4's), in run-index order."""
    r = random.Random(SEED)
    ids: list[str] = []
    seen: set[str] = set()
    while len(ids) < size.runs:
        rid = f"{r.getrandbits(128):032x}"
        if rid not in seen:
            seen.add(rid)
            ids.append(rid)
    return ids


def metric_keys(size: Size) -> list[str]:
    return [f"m{k}" for k in range(size.metrics)]


def start_time(i: int) -> int:
    return T_BASE + i * RUN_GAP_MS


def params_of(i: int) -> dict[str, str]:
    r = random.Random(SEED * 31 + i)
    return {"p0": str(r.choice([0.001, 0.003, 0.01, 0.03, 0.1])), "p1": r.choice(["x", "y", "z"]),
            "p2": r.choice(["lgbm", "xgb", "rf", "mlp"]), "p3": str(r.randint(2, 12)),
            "p4": str(r.choice([100, 200, 500, 1000])), "p5": f"{r.uniform(0.5, 1.0):.3f}", "p6": str(i),
            "p7": r.choice(["adam", "sgd", "adamw"]), "p8": str(r.choice([32, 64, 128, 256, 512])),
            "p9": f"flights-v{r.randint(1, 3)}"}


def tags_of(i: int) -> dict[str, str]:
    return {"team": ("search", "ads", "risk")[i % 3], "stage": ("dev", "tune", "final")[(i // 3) % 3],
            "owner": f"user{i % 17}"}


def value(i: int, k: int, step: int) -> float:
    """Run ``i``'s metric ``m<k>`` at ``step``: the same arithmetic as :func:`value_sql`."""
    quality = (0.3 + 0.7 * ((i * 48271) % 1000) / 1000.0) * (1.0 - k / 40.0)
    curve = 1.0 - 1.0 / (1.0 + step / 50.0) if k % 2 == 1 else 1.0 / (1.0 + step / 50.0)
    noise = (((i * 7919 + k * 104729 + step * 1299709) * 2654435761) % 4294967296) / 4294967296.0
    return quality * curve + 0.05 * noise


def value_sql(i: str, k: str, step: str) -> str:
    """:func:`value` as an SQLite expression over the integer columns ``i``, ``k``, ``step``."""
    quality = f"((0.3 + 0.7 * (({i} * 48271) % 1000) / 1000.0) * (1.0 - {k} / 40.0))"
    curve = f"(CASE {k} % 2 WHEN 1 THEN 1.0 - 1.0 / (1.0 + {step} / 50.0) ELSE 1.0 / (1.0 + {step} / 50.0) END)"
    noise = f"(((({i} * 7919 + {k} * 104729 + {step} * 1299709) * 2654435761) % 4294967296) / 4294967296.0)"
    return f"({quality} * {curve} + 0.05 * {noise})"


def steps_cte(size: Size) -> str:
    return f"WITH RECURSIVE s(step) AS (SELECT 0 UNION ALL SELECT step + 1 FROM s WHERE step < {size.steps - 1}) "


def fill_temp_tables(db: sqlite3.Connection, size: Size, indices: list[int]) -> None:
    """``temp.br`` (pos, i, id, t0): the runs ``indices`` in run-id order; ``temp.kk`` (k, key): the
    metric keys in text order. Scanned in rowid order, they yield rows in index order (run, key, step)."""
    ids = run_ids(size)
    db.execute("CREATE TEMP TABLE br (pos INTEGER, i INTEGER, id TEXT, t0 INTEGER)")
    db.execute("CREATE TEMP TABLE kk (k INTEGER, key TEXT)")
    order = sorted(indices, key=lambda i: ids[i])
    db.executemany("INSERT INTO br VALUES (?, ?, ?, ?)", [(p, i, ids[i], start_time(i)) for p, i in enumerate(order)])
    db.executemany("INSERT INTO kk VALUES (?, ?)", sorted(((k, f"m{k}") for k in range(size.metrics)),
                                                           key=lambda kv: kv[1]))


def expected(size: Size) -> dict[str, Any]:
    """What any store holding this data must answer: the filter's matches, best m3 first."""
    k3, last = 3, size.steps - 1
    rows = [(value(i, k3, last), i) for i in range(size.runs) if params_of(i)["p1"] == "x" and value(i, k3, last) > 0.5]
    rows.sort(reverse=True)
    ids = run_ids(size)
    return {"filter_count": len(rows), "filter_top": [ids[i] for _, i in rows[:5]]}


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


# -- the Shipyard store -----------------------------------------------------------------------------
def shipyard_uris(home: Path) -> dict[str, str]:
    return {"store": f"sqlite:///{home / 'shipyard.db'}", "artifacts": (home / "artifacts").as_uri(),
            "online": f"sqlite:///{home / 'online.db'}"}


def _marker(home: Path) -> dict[str, Any] | None:
    try:
        return json.loads((home / "complete.json").read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def ensure_shipyard(size: Size, home: Path) -> dict[str, Any]:
    """The cached store at ``home`` (built when missing, incomplete or of other parameters); its marker."""
    want = {"version": DATA_VERSION, "size": asdict(size)}
    got = _marker(home)
    if got is not None and all(got.get(k) == v for k, v in want.items()):
        say(f"Shipyard store: reusing {_rel(home)} (built {got['built']}, {_gib(got['disk_bytes'])})")
        return {**got, "reused": True}
    if home.exists():
        say(f"Shipyard store: {_rel(home)} is incomplete or of other parameters; rebuilding it")
        shutil.rmtree(home)
    home.mkdir(parents=True)
    need = size.history_rows * BYTES_PER_HISTORY_ROW
    free = shutil.disk_usage(home).free
    say(f"Shipyard store: {size.runs:,} runs × {size.metrics} metrics × {size.steps:,} steps = "
        f"{size.history_rows:,} history rows; about {_gib(need)} on disk, {_gib(free)} free")
    if free < need * 1.1 + 2 * 2**30:
        raise SystemExit(f"Not enough disk under {home}: need about {_gib(need * 1.1 + 2 * 2**30)}, have {_gib(free)}.")
    t0 = time.perf_counter()
    objects = sdk_objects(size, home)
    counts = bulk_load(size, home, objects)
    checks = check_shipyard(size, home)
    marker = {**want, "built": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "build_s": time.perf_counter() - t0, "counts": counts, "objects": objects["facts"], "checks": checks,
              "db_bytes": (home / "shipyard.db").stat().st_size, "disk_bytes": dir_bytes(home)}
    (home / "complete.json").write_text(json.dumps(marker, indent=1))
    say(f"Shipyard store: built in {marker['build_s'] / 60:.1f} min, {_gib(marker['disk_bytes'])} on disk")
    return {**marker, "reused": False}


def sdk_objects(size: Size, home: Path) -> dict[str, Any]:
    """Everything but the bulk runs, through the SDK: experiments, a model run, models, a deployment, a
    monitor, features, users, tokens and audit events."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import shipyard as sy
    from shipyard.access import issue_token
    from shipyard.entities import Role
    from shipyard.workspace import current_workspace

    uris = shipyard_uris(home)
    sy.init(store_uri=uris["store"], artifact_uri=uris["artifacts"], online_uri=uris["online"], project=PROJECT)
    ws = current_workspace()
    client = sy.TrackingClient(ws, PROJECT)
    experiments = [client.create_experiment(f"exp-{e:02d}", tags={"purpose": "ui benchmark"}).id
                   for e in range(size.experiments)]
    rng = np.random.default_rng(SEED)
    x = pd.DataFrame({"x1": rng.normal(0, 1, 400), "x2": rng.normal(5, 2, 400), "c": rng.choice(["a", "b", "c"], 400)})
    y = (x["x2"] > 5).astype(int)
    features = x.assign(c=x["c"].map({"a": 0.0, "b": 1.0, "c": 2.0}))
    with sy.start_run(experiment="exp-00", run_name="churn-model", tags={"team": "risk"}) as run:
        run.log_params({"model": "logistic", "C": 1.0})
        for step in range(200):
            run.log_metrics({"loss": 1.0 / (step + 1), "auc": 0.5 + step / 500}, step=step)
        info = run.log_model(LogisticRegression().fit(features, y), name="model", input_example=features[:3])
        model_run = run.id
    say("SDK: model run logged")
    for name, count in (("churn", 3), ("fraud", 2)):
        versions = [sy.register_model(info.uri, name).version for _ in range(count)]
        sy.set_alias(name, "champion", versions[0], reason="first model that beat the baseline")
        sy.set_alias(name, "challenger", versions[-1], reason="retrained on more data")
        sy.set_alias(name, "champion", versions[-1], reason="better AUC on the holdout")
    sy.deploy("churn-prod", {"churn@champion": 90, "churn/2": 10}, reason="launch")
    hour = 3_600_000
    t_mon = (int(time.time() * 1000) // hour - 6) * hour
    reference = _frame(rng, 3000)
    sy.monitor("churn-prod", name="churn-drift", reference=reference, window="1h", start=t_mon,
               rules=["drift.share >= 0.5"])
    for w, shift in enumerate((0.0, 0.2, 1.5)):
        frame = _frame(rng, 600, shift=shift)
        _predictions(ws, frame, t_mon + w * hour, hour, "churn@champion", "churn/3")
    sy.monitoring.run("churn-drift", now=t_mon + 3 * hour + 1)
    say("SDK: models, deployment and monitor done")
    rows = pd.DataFrame({"origin": np.repeat(["JFK", "LAX", "ORD", "SFO"], 48),
                         "ts": pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.tile(np.arange(48), 4), "h"),
                         "temp": rng.normal(10, 5, 192), "wind": rng.normal(20, 8, 192)})
    rows.to_parquet(home / "weather.parquet")
    origin = sy.Entity("origin", ["origin"], description="an airport")
    weather = sy.FeatureView(name="weather", entities=[origin], features={"temp": float, "wind": float}, ttl="6h",
                             source=sy.ParquetSource(str(home / "weather.parquet"), timestamp="ts"))
    sy.features.apply([origin, weather])
    sy.features.materialize(end="2026-01-03T00:00:00Z")
    store: Any = ws.metadata
    for user in ("alice", "bob"):
        store.create_user(user)
    issue_token(store, "alice", PROJECT, Role.EDITOR)
    issue_token(store, "bob", PROJECT, Role.VIEWER)
    for n in range(300):
        store.append_audit(actor=("alice", "bob")[n % 2], action=("run.create", "model.alias", "ui.set_alias")[n % 3],
                           project=PROJECT, target=f"run={n}", status=200 if n % 7 else 403,
                           remote_addr="127.0.0.1", detail={"n": n})
    ws.close()
    say("SDK: features, users, tokens and audit events done")
    return {"experiments": experiments, "model_run": model_run,
            "facts": {"registered_models": 2, "versions": 5, "alias_moves": 6, "deployments": 1, "monitors": 1,
                      "monitor_windows": 3, "feature_views": 1, "entities": 1, "users": 2, "audit_events": 300,
                      "sdk_runs": 1}}


def _frame(rng: Any, n: int, shift: float = 0.0) -> Any:
    import pandas as pd

    frame = pd.DataFrame({"x1": rng.normal(shift, 1.0, n), "x2": rng.normal(5.0, 2.0, n),
                          "c": rng.choice(["a", "b", "c"], n)})
    frame["prediction"] = (frame["x2"] > 5.0).astype(int)
    return frame


def _predictions(ws: Any, frame: Any, start: int, span: int, route: str, version: str) -> None:
    """Log ``frame`` as one request per row spread over ``span`` ms from ``start``, and label it."""
    import shipyard as sy
    from shipyard.monitoring._predictions import PredictionLog

    labels = {}
    with PredictionLog(ws, PROJECT, "churn-prod", flush_seconds=60) as log:
        for n, row in enumerate(frame.to_dict("records")):
            pred = int(row.pop("prediction"))
            rid = f"{start}-{route}-{n}"
            log.log(rid, route=route, model_version=version, inputs=[row], predictions=[pred],
                    latency_ms=2.0 + (n % 7) * 0.5, ts=start + n * (span // max(len(frame), 1)))
            labels[rid] = pred
    sy.monitoring.feedback("churn-prod", labels, project=PROJECT)


def refresh_traffic(home: Path) -> int:
    """3,000 predictions over the past hour (90/10 over the two routes), so that the deployment pages
    aggregate live traffic however old the cache is."""
    import numpy as np

    import shipyard as sy
    from shipyard.workspace import current_workspace

    uris = shipyard_uris(home)
    sy.init(store_uri=uris["store"], artifact_uri=uris["artifacts"], online_uri=uris["online"], project=PROJECT)
    ws = current_workspace()
    rng = np.random.default_rng(int(time.time()))
    now = int(time.time() * 1000)
    _predictions(ws, _frame(rng, 2700), now - 3_540_000, 3_500_000, "churn@champion", "churn/3")
    _predictions(ws, _frame(rng, 300), now - 3_540_000, 3_500_000, "churn/2", "churn/2")
    ws.close()
    return 3000


@contextlib.contextmanager
def bulk_connection(db_path: Path, journal_after: str) -> Iterator[sqlite3.Connection]:
    """A connection for loading: no journal, no fsync, a large cache; ``journal_after`` on the way out."""
    db = sqlite3.connect(db_path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode = DELETE")
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        db.execute("PRAGMA cache_size = -500000")
        db.execute("PRAGMA temp_store = MEMORY")
        yield db
        db.execute(f"PRAGMA journal_mode = {journal_after}")
    finally:
        db.close()


def bulk_load(size: Size, home: Path, objects: dict[str, Any]) -> dict[str, int]:
    """The 10,000 runs with their params, tags, history and latest metrics (module docstring)."""
    ids = run_ids(size)
    experiments = objects["experiments"]
    with bulk_connection(home / "shipyard.db", "WAL") as db:
        cols = [c[1] for c in db.execute("PRAGMA table_info(runs)")]
        template = dict(zip(cols, db.execute("SELECT * FROM runs WHERE id = ?", (objects["model_run"],)).fetchone(),
                            strict=True))
        project_id = template["project_id"]
        exp_ids = {row[1]: row[0] for row in db.execute("SELECT id, name FROM experiments WHERE project_id = ?",
                                                        (project_id,))}
        art_root = template["artifact_uri"].rsplit("/", 3)[0]  # …/artifacts/<project>/<exp>/<run>/artifacts
        run_rows = []
        for i in sorted(range(size.runs), key=lambda i: ids[i]):
            exp = exp_ids[f"exp-{i % len(experiments):02d}"]
            t0 = start_time(i)
            row = {**template, "id": ids[i], "experiment_id": exp, "name": f"trial-{i:05d}", "status": "FINISHED",
                   "start_time": t0, "end_time": t0 + size.steps * STEP_MS + 1000, "heartbeat_at": t0,
                   "artifact_uri": f"{art_root}/{exp}/{ids[i]}/artifacts", "parent_run_id": None}
            run_rows.append(tuple(row[c] for c in cols))
        db.execute("BEGIN")
        db.executemany(f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", run_rows)
        db.executemany("INSERT INTO params (run_id, key, value) VALUES (?, ?, ?)",
                       [(ids[i], k, v) for i in range(size.runs) for k, v in params_of(i).items()])
        db.executemany("INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?)",
                       [(ids[i], k, v) for i in range(size.runs) for k, v in tags_of(i).items()])
        fill_temp_tables(db, size, list(range(size.runs)))
        last = size.steps - 1
        db.execute(f"INSERT INTO latest_metrics (run_id, key, value, is_nan, step, timestamp) "
                   f"SELECT br.id, kk.key, {value_sql('br.i', 'kk.k', str(last))}, 0, {last}, "
                   f"br.t0 + {last * STEP_MS} FROM br CROSS JOIN kk")
        db.execute("COMMIT")
        say(f"bulk: {size.runs:,} runs, {size.runs * size.params:,} params, {size.runs * 3:,} tags, "
            f"{size.runs * size.metrics:,} latest metrics inserted")
        insert = (f"INSERT INTO metrics (run_id, key, value, is_nan, step, timestamp) {steps_cte(size)}"
                  f"SELECT br.id, kk.key, {value_sql('br.i', 'kk.k', 's.step')}, 0, s.step, "
                  f"br.t0 + s.step * {STEP_MS} FROM br CROSS JOIN kk CROSS JOIN s WHERE br.pos BETWEEN ? AND ?")
        chunk, t0 = 50, time.perf_counter()
        per_run = size.metrics * size.steps
        for lo in range(0, size.runs, chunk):
            db.execute("BEGIN")
            db.execute(insert, (lo, lo + chunk - 1))
            db.execute("COMMIT")
            done = min(lo + chunk, size.runs)
            if done % (chunk * 10) == 0 or done == size.runs:
                el = time.perf_counter() - t0
                rate = done * per_run / el
                say(f"bulk: history {done * per_run:>11,} / {size.history_rows:,} rows ({rate / 1e3:,.0f} k rows/s, "
                    f"{(size.runs - done) * per_run / rate / 60:.1f} min left)")
    return {"runs": size.runs, "params": size.runs * size.params, "tags": size.runs * 3,
            "latest_metrics": size.runs * size.metrics, "history_rows": size.history_rows}


def check_shipyard(size: Size, home: Path) -> dict[str, Any]:
    """Read the bulk rows back through Shipyard's own API and compare them with the formula."""
    import shipyard as sy
    from shipyard.workspace import current_workspace

    uris = shipyard_uris(home)
    sy.init(store_uri=uris["store"], artifact_uri=uris["artifacts"], online_uri=uris["online"], project=PROJECT)
    ws = current_workspace()
    client = sy.TrackingClient(ws, PROJECT)
    ids = run_ids(size)
    want = expected(size)
    found = client.search(filter=FILTER, order_by=["metrics.m3 DESC"], limit=size.runs)
    problems = []
    if len(found) != want["filter_count"] or [r.id for r in found[:5]] != want["filter_top"]:
        problems.append(f"search: {len(found)} runs (want {want['filter_count']}), top {[r.id for r in found[:5]]}")
    for i in (0, DETAIL_RUN, size.runs // 2, size.runs - 1):
        run = client.get_run(ids[i])
        latest = {f"m{k}": value(i, k, size.steps - 1) for k in range(size.metrics)}
        if dict(run.params) != params_of(i) or {k: v for k, v in run.tags.items() if k in tags_of(i)} != tags_of(i):
            problems.append(f"run {i}: params or tags differ")
        if set(run.metrics) != set(latest) or any(not math.isclose(run.metrics[k], v, rel_tol=1e-12)
                                                  for k, v in latest.items()):
            problems.append(f"run {i}: latest metrics differ")
        for k in (0, 3, size.metrics - 1):
            history = ws.metadata.get_metric_history(ids[i], f"m{k}")
            if [m.step for m in history] != list(range(size.steps)) or any(
                    not math.isclose(m.value, value(i, k, m.step), rel_tol=1e-12) for m in history):
                problems.append(f"run {i}: history of m{k} differs")
    total = len(client.search(limit=size.runs + 10))
    ws.close()
    if total != size.runs + 1:
        problems.append(f"{total} runs in the project, want {size.runs + 1}")
    if problems:
        raise SystemExit("The loaded Shipyard store does not read back as written:\n  " + "\n  ".join(problems))
    say(f"check: Shipyard reads back the rows as written ({want['filter_count']:,} runs match the filter)")
    return {"filter_count": want["filter_count"], "runs_in_project": total, "ok": True}


# -- the MLflow side ----------------------------------------------------------------------------------
def ensure_mlflow_env() -> dict[str, Any]:
    """bench/.venv-mlflow as bench/tracking.py makes it (its ``ensure_mlflow``); the version facts."""
    import tracking

    return tracking.ensure_mlflow()  # type: ignore[no-any-return]


def mlflow_python() -> Path:
    return BENCH / ".venv-mlflow" / "bin" / "python"


def ensure_mlflow_store(size: Size, home: Path, quick: bool) -> dict[str, Any]:
    want = {"version": DATA_VERSION, "size": asdict(size)}
    got = _marker(home)
    if got is not None and all(got.get(k) == v for k, v in want.items()):
        say(f"MLflow store: reusing {_rel(home)} (built {got['built']}, {_gib(got['disk_bytes'])})")
        return got
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    need = size.mlflow_history_runs * size.metrics * size.steps * MLFLOW_BYTES_PER_HISTORY_ROW
    say(f"MLflow store: about {_gib(need)} on disk, {_gib(shutil.disk_usage(home).free)} free")
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(mlflow_python()), str(WORKER), "load", "--home", str(home),
                             *(["--quick"] if quick else [])], cwd=str(WORK), stdout=subprocess.PIPE, text=True)
    result = None
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("BENCH_RESULT "):
            result = json.loads(line[len("BENCH_RESULT "):])
        else:
            print(line, end="", flush=True)
    if proc.wait() != 0 or result is None:
        raise RuntimeError(f"the MLflow loader failed (exit {proc.returncode}); see its output above")
    marker = {**want, **result, "built": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "build_s": time.perf_counter() - t0, "disk_bytes": dir_bytes(home)}
    (home / "complete.json").write_text(json.dumps(marker, indent=1))
    say(f"MLflow store: built in {marker['build_s'] / 60:.1f} min, {_gib(marker['disk_bytes'])} on disk")
    return marker


# -- servers ------------------------------------------------------------------------------------------
#: The servers start without this process's Shipyard and MLflow settings (each gets its own).
_ENV = ("SHIPYARD_", "MLFLOW_")


def shipyard_server(home: Path, log: Path) -> _proc.Server:
    uris = shipyard_uris(home)
    exe = Path(sys.executable).with_name("shipyard")
    return _proc.Server("shipyard server", [str(exe), "server", "--store", uris["store"], "--artifacts", uris["artifacts"],
                                      "--online", uris["online"], "--port", "{port}", "--workers", "1",
                                      "--no-monitors"], "/healthz", log, core=SERVER_CORE, drop_env=_ENV)


def mlflow_server(home: Path, log: Path) -> _proc.Server:
    exe = mlflow_python().with_name("mlflow")
    return _proc.Server("mlflow server", [str(exe), "server", "--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}",
                                    "--default-artifact-root", (home / "artifacts").as_uri(), "--host", "127.0.0.1",
                                    "--port", "{port}", "--workers", "1"], "/health", log,
                  {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}, core=SERVER_CORE, drop_env=_ENV)


# -- quiet machine --------------------------------------------------------------------------------------
def wait_quiet(max_wait: float) -> dict[str, Any]:
    """Never measure beside another benchmark (wait while one runs); then wait up to ``max_wait`` s for
    the 1-minute load average to fall under LOAD_QUIET. Returns what was waited and the load then."""
    t0, shown = time.perf_counter(), False
    while others := _proc.others_running(("bench/ui.py", "bench/_ui_worker", ".work/ui")):
        if not shown:
            say("waiting: another benchmark is running: " + "; ".join(others))
            shown = True
        time.sleep(15)
    t1 = time.perf_counter()
    while os.getloadavg()[0] >= LOAD_QUIET and time.perf_counter() - t1 < max_wait:
        if not shown:
            say(f"waiting up to {max_wait:.0f} s for the load average ({os.getloadavg()[0]:.2f}) to fall under "
                f"{LOAD_QUIET}")
            shown = True
        time.sleep(5)
    return {"waited_s": time.perf_counter() - t0, "load": os.getloadavg()[0]}


# -- requests ------------------------------------------------------------------------------------------
@dataclass
class View:
    """One view: the requests it takes (one, or several in a row for MLflow's compare page)."""

    key: str
    label: str
    requests: list[tuple[str, str, bytes | None]]  # (method, path, JSON body)
    check: str = ""  # "html", "series:<points>", "json"


class Client:
    """One keep-alive HTTP/1.1 connection; ``call`` returns (status, first-byte s, full s, body)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, float, float, bytes]:
        headers = {"Accept-Encoding": "identity"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (0, 1):
            try:
                t0 = time.perf_counter()
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                t1 = time.perf_counter()
                data = resp.read()
                t2 = time.perf_counter()
                if resp.getheader("connection", "").lower() == "close":
                    self.conn.close()
                return resp.status, t1 - t0, t2 - t0, data
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def view(self, v: View) -> dict[str, Any]:
        first = full = 0.0
        size, statuses, bodies = 0, [], []
        for n, (method, path, body) in enumerate(v.requests):
            status, a, b, data = self.call(method, path, body)
            if n == 0:
                first = a
            full += b
            size += len(data)
            statuses.append(status)
            bodies.append(data)
        return {"status": max(statuses), "first": first, "full": full, "bytes": size, "bodies": bodies}


def _check(v: View, got: dict[str, Any]) -> str | None:
    """Why the response is wrong, or None."""
    if got["status"] != 200:
        return f"HTTP {got['status']}: {got['bodies'][0][:300]!r}"
    if v.check.startswith("series:"):
        limit = int(v.check.split(":")[1])
        series = json.loads(got["bodies"][0])["series"]
        counts = [len(s["step"]) for s in series]
        if not series or max(counts) > limit:
            return f"{counts} points for points={limit}"
    if v.check.startswith("rows:"):
        want = int(v.check.split(":")[1])
        rows = got["bodies"][0].count(b'<td><a href="/ui/runs/')
        if rows != want:
            return f"{rows} rows in the table, want {want}"
    if v.check.startswith("mlflow-series:"):
        limit = int(v.check.split(":")[1])
        body = json.loads(got["bodies"][0])
        if len(body.get("metrics", [])) > limit or not body.get("metrics"):
            return f"{len(body.get('metrics', []))} points for max_results={limit}"
    if v.check.startswith("mlflow-runs:"):
        want = int(v.check.split(":")[1])
        runs = json.loads(got["bodies"][0]).get("runs", [])
        if len(runs) != want:
            return f"{len(runs)} runs, want {want}"
    return None


def shipyard_views(size: Size, client: Client, experiment: str) -> list[View]:
    ids = run_ids(size)
    base = f"/ui/p/{PROJECT}/runs"
    q = urllib.parse.urlencode
    sorted_100 = f"{base}?{q({'sort': 'metrics.m3', 'desc': '1', 'size': 100})}"
    status, _, _, html = client.call("GET", sorted_100)
    nxt = re.search(rb'rel="next" href="([^"]+)"', html)
    if status != 200 or nxt is None:
        raise RuntimeError(f"the sorted runs page has no next link (HTTP {status})")
    page2 = nxt.group(1).decode().replace("&amp;", "&")
    detail, compare = ids[DETAIL_RUN], ids[:COMPARE_RUNS]
    n_filter = min(100, expected(size)["filter_count"])
    total, per_exp = size.runs + 1, len(range(1, size.runs, size.experiments))  # + the model run; exp-01's runs

    def rows(n: int, available: int = total) -> str:
        return f"rows:{min(n, available)}"

    views = [
        View("runs", "runs: default view (newest first, 50 rows)", [("GET", base, None)], rows(50)),
        View("runs_100", "runs: 100 rows, newest first", [("GET", f"{base}?size=100", None)], rows(100)),
        View("runs_sorted", "runs: sorted by metrics.m3 ↓, 100 rows", [("GET", sorted_100, None)], rows(100)),
        View("runs_filter", f"runs: filter `{FILTER}`, sorted by m3 ↓, 100 rows",
             [("GET", f"{base}?{q({'filter': FILTER, 'sort': 'metrics.m3', 'desc': '1', 'size': 100})}", None)],
             rows(n_filter)),
        View("runs_page2", "runs: page 2 of the sorted view (its rel=next link)", [("GET", page2, None)],
             rows(100, total - 100)),
        View("runs_250", "runs: 250 rows, newest first", [("GET", f"{base}?size=250", None)], rows(250)),
        View("runs_cols", "runs: chosen columns (8), 50 rows", [("GET", f"{base}?{q({'cols': COLS})}", None)],
             rows(50)),
        View("runs_experiment", "runs: one experiment, 100 rows",
             [("GET", f"{base}?{q({'experiment': experiment, 'size': 100})}", None)], rows(100, per_exp)),
        View("run", "run detail (20 metrics, 10 params)", [("GET", f"/ui/runs/{detail}", None)], "html"),
        View("series_800", "chart data: m3 of one run (1,000 steps), points=800",
             [("GET", f"/ui/api/series?{q({'key': 'm3', 'run': detail, 'points': 800})}", None)], "series:800"),
        View("series_300", "chart data: m3 of one run (1,000 steps), points=300",
             [("GET", f"/ui/api/series?{q({'key': 'm3', 'run': detail, 'points': 300})}", None)], "series:300"),
        View("series_10", "chart data: m3 of the 10 compared runs, points=800",
             [("GET", f"/ui/api/series?{q([('key', 'm3'), *[('run', r) for r in compare], ('points', 800)])}",
               None)], "series:800"),
        View("compare", "compare 10 runs", [("GET", f"/ui/compare?{q([('run', r) for r in compare])}", None)], "html"),
        View("models", "models", [("GET", f"/ui/p/{PROJECT}/models", None)], "html"),
        View("model", "model detail (churn: versions, alias history, card, lineage)",
             [("GET", f"/ui/p/{PROJECT}/models/churn", None)], "html"),
        View("deployments", "deployments (traffic of the past hour)", [("GET", f"/ui/p/{PROJECT}/deployments", None)],
             "html"),
        View("deployment", "deployment detail (churn-prod, past hour)",
             [("GET", f"/ui/p/{PROJECT}/deployments/churn-prod", None)], "html"),
        View("deployment_24h", "deployment detail, window=24h",
             [("GET", f"/ui/p/{PROJECT}/deployments/churn-prod?window=24h", None)], "html"),
        View("monitors", "monitors", [("GET", f"/ui/p/{PROJECT}/monitors", None)], "html"),
        View("monitor", "monitor detail (churn-drift)", [("GET", f"/ui/p/{PROJECT}/monitors/churn-drift", None)],
             "html"),
        View("features", "feature catalog", [("GET", f"/ui/p/{PROJECT}/features", None)], "html"),
        View("feature", "feature view detail (weather)",
             [("GET", f"/ui/p/{PROJECT}/features/feature_view/weather", None)], "html"),
        View("admin", "admin (users, tokens, quotas)", [("GET", "/ui/admin", None)], "html"),
        View("audit", "audit log", [("GET", "/ui/admin/audit", None)], "html"),
    ]
    return views


def mlflow_views(size: Size, client: Client, experiments: list[str]) -> list[View]:
    ids = run_ids(size)
    detail, compare = ids[DETAIL_RUN], ids[:COMPARE_RUNS]
    api = "/ajax-api/2.0/mlflow"
    n_filter = min(100, expected(size)["filter_count"])
    per_exp = len(range(0, size.runs, size.experiments))  # the first experiment's runs

    def runs(n: int, available: int = size.runs) -> str:
        return f"mlflow-runs:{min(n, available)}"

    def search(n: int, order: str, flt: str = "", exps: list[str] | None = None, token: str | None = None) -> bytes:
        body: dict[str, Any] = {"experiment_ids": exps or experiments, "max_results": n, "order_by": [order],
                                "run_view_type": "ACTIVE_ONLY", "filter": flt}
        if token:
            body["page_token"] = token
        return json.dumps(body).encode()

    by_metric = "metrics.`m3` DESC"
    status, _, _, data = client.call("POST", f"{api}/runs/search", search(100, by_metric))
    token = json.loads(data).get("next_page_token") if status == 200 else None
    if not token:
        raise RuntimeError(f"MLflow's sorted search gave no next_page_token (HTTP {status}): {data[:300]!r}")
    q = urllib.parse.urlencode
    interval = f"{api}/metrics/get-history-bulk-interval"
    many = q([*[("run_ids", r) for r in compare], ("metric_key", "m3"), ("max_results", 800)])
    return [
        View("ml_html", "MLflow UI's HTML page (`GET /`)", [("GET", "/", None)], "html"),
        View("runs_100", "runs/search, 100, start_time DESC",
             [("POST", f"{api}/runs/search", search(100, "attributes.start_time DESC"))], runs(100)),
        View("runs_sorted", "runs/search, 100, metrics.m3 DESC",
             [("POST", f"{api}/runs/search", search(100, by_metric))], runs(100)),
        View("runs_filter", "runs/search, 100, the filter, metrics.m3 DESC",
             [("POST", f"{api}/runs/search", search(100, by_metric, FILTER))], runs(n_filter)),
        View("runs_page2", "runs/search, 100, metrics.m3 DESC, page 2 (page_token)",
             [("POST", f"{api}/runs/search", search(100, by_metric, token=token))], runs(100, size.runs - 100)),
        View("runs_250", "runs/search, 250, start_time DESC",
             [("POST", f"{api}/runs/search", search(250, "attributes.start_time DESC"))], runs(250)),
        View("runs_experiment", "runs/search, one experiment, 100, start_time DESC",
             [("POST", f"{api}/runs/search", search(100, "attributes.start_time DESC", exps=experiments[:1]))],
             runs(100, per_exp)),
        View("run", "runs/get", [("GET", f"{api}/runs/get?{q({'run_id': detail})}", None)], "json"),
        View("history", "metrics/get-history, m3 (all 1,000 points)",
             [("GET", f"{api}/metrics/get-history?{q({'run_id': detail, 'metric_key': 'm3'})}", None)],
             f"mlflow-series:{size.steps}"),
        View("series_800", "metrics/get-history-bulk-interval, m3, max_results=800",
             [("GET", f"{interval}?{q({'run_ids': detail, 'metric_key': 'm3', 'max_results': 800})}", None)],
             "mlflow-series:800"),
        View("series_300", "metrics/get-history-bulk-interval, m3, max_results=300",
             [("GET", f"{interval}?{q({'run_ids': detail, 'metric_key': 'm3', 'max_results': 300})}", None)],
             "mlflow-series:300"),
        View("series_10", "metrics/get-history-bulk-interval, m3 of the 10 runs, max_results=800",
             [("GET", f"{interval}?{many}", None)], "mlflow-series:8000"),
        View("compare", "10 × runs/get (what its compare page fetches)",
             [("GET", f"{api}/runs/get?{q({'run_id': r})}", None) for r in compare], "json"),
    ]


def _pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[max(0, math.ceil(p * len(s)) - 1)]


@dataclass
class Side:
    """One server under test and how to make its views (given a connected client)."""

    name: str
    server: _proc.Server
    make_views: Any
    client: Client | None = None
    views: list[View] | None = None


def measure(sides: list[Side], rounds: int, max_wait: float) -> dict[str, Any]:
    """Start every side's server, warm each view up and check it, then time ``rounds`` rounds in which
    each side in turn (the order alternates) gets every view once; stop the servers. Both servers are up
    together and interleaved, so a busy moment on the shared machine hits both alike."""
    quiet = wait_quiet(max_wait)
    say(f"measuring: load {quiet['load']:.2f} (waited {quiet['waited_s']:.0f} s); starting "
        + ", ".join(s.name for s in sides))
    out: dict[str, Any] = {"load_before": quiet["load"], "waited_s": quiet["waited_s"], "loads": [], "sides": {}}
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    try:
        for side in sides:
            ready = side.server.start()
            out["sides"][side.name] = {"ready_s": ready, "views": {}}
        if affinity is not None and len(affinity) > 1:
            os.sched_setaffinity(0, {CLIENT_CORE})
        for side in sides:
            side.client = Client(side.server.port)
            side.views = side.make_views(side.client)
            res = out["sides"][side.name]
            say(f"{side.name}: ready in {res['ready_s']:.1f} s (port {side.server.port}, pids {side.server.pids()}); "
                f"{len(side.views)} views")
            for v in side.views:
                firsts = [side.client.view(v) for _ in range(3)]
                problem = next((p for p in (_check(v, g) for g in firsts) if p), None)
                if problem:
                    raise RuntimeError(f"{side.name}, {v.label}: {problem}")
                res["views"][v.key] = {"label": v.label, "paths": [f"{m} {p}" for m, p, _ in v.requests],
                                       "cold_s": firsts[0]["full"], "first": [], "full": [],
                                       "bytes": firsts[-1]["bytes"]}
        cpu0 = {s.name: sum(_proc.cpu_seconds(p) for p in s.server.pids()) for s in sides}
        t0 = time.perf_counter()
        for r in range(rounds):
            for side in sides if r % 2 == 0 else list(reversed(sides)):
                assert side.client is not None and side.views is not None
                for v in side.views:
                    got = side.client.view(v)
                    if got["status"] != 200:
                        raise RuntimeError(f"{side.name}, {v.label}: HTTP {got['status']} in round {r}")
                    out["sides"][side.name]["views"][v.key]["first"].append(got["first"])
                    out["sides"][side.name]["views"][v.key]["full"].append(got["full"])
            out["loads"].append(os.getloadavg()[0])
        out["timed_s"] = time.perf_counter() - t0
        for s in sides:
            out["sides"][s.name]["server_cpu_s"] = sum(_proc.cpu_seconds(p) for p in s.server.pids()) - cpu0[s.name]
        out["load_after"] = os.getloadavg()[0]
    finally:
        if affinity is not None:
            os.sched_setaffinity(0, affinity)
        for side in sides:
            side.server.stop()
    for res in out["sides"].values():
        for v in res["views"].values():
            v.update({"first_med": statistics.median(v["first"]), "first_p95": _pct(v["first"], 0.95),
                      "full_med": statistics.median(v["full"]), "full_p95": _pct(v["full"], 0.95)})
    say(f"timed {rounds} rounds in {out['timed_s']:.0f} s; load {min(out['loads']):.2f} – {max(out['loads']):.2f}")
    for name, res in out["sides"].items():
        worst = max(res["views"].values(), key=lambda v: v["first_p95"])
        say(f"{name}: slowest p95 first byte {worst['first_p95'] * 1000:.0f} ms ({worst['label']})")
    return out


# -- the run ------------------------------------------------------------------------------------------
def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def versions(mlflow_facts: dict[str, Any] | None) -> dict[str, str]:
    from importlib import metadata

    def v(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "?"

    out = {"python": sys.version.split()[0], "shipyard": v("shipyard-mlops"), "starlette": v("starlette"),
           "uvicorn": v("uvicorn"), "jinja2": v("jinja2"), "sqlalchemy": v("sqlalchemy"), "sqlite": sqlite3.sqlite_version}
    if mlflow_facts:
        out.update({f"mlflow_{k}": str(val) for k, val in mlflow_facts.items() if k != "executable"})
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    size = QUICK if args.quick else FULL
    base = CACHE / ("quick" if args.quick else "full")
    started = dt.datetime.now(dt.timezone.utc)
    host = host_facts(ROOT)  # before the run: the commit that is measured
    raw: dict[str, Any] = {"size": asdict(size), "started": started.strftime("%Y-%m-%d %H:%M UTC"), "host": host,
                           "command": "python bench/ui.py" + (" --quick" if args.quick else "")}
    raw["shipyard_store"] = ensure_shipyard(size, base / "shipyard")
    mlflow_facts = None
    try:
        mlflow_facts = ensure_mlflow_env()
        raw["mlflow_store"] = ensure_mlflow_store(size, base / "mlflow", args.quick)
    except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
        raw["mlflow_error"] = str(exc)[-3000:]
        say(f"MLflow: not measured: {raw['mlflow_error']}")
    raw["versions"] = versions(mlflow_facts)
    raw["traffic"] = refresh_traffic(base / "shipyard")
    logs = base / "logs"
    logs.mkdir(exist_ok=True)
    exp_id = _experiment_id(base / "shipyard", "exp-01")

    sides = [Side("Shipyard", shipyard_server(base / "shipyard", logs / "shipyard.log"),
                  lambda client: shipyard_views(size, client, exp_id))]
    if "mlflow_store" in raw:
        experiments = [str(e) for e in raw["mlflow_store"]["experiments"]]
        sides.append(Side("MLflow", mlflow_server(base / "mlflow", logs / "mlflow.log"),
                          lambda client: mlflow_views(size, client, experiments)))
    try:
        got = measure(sides, size.rounds, args.max_wait)
    except RuntimeError as exc:
        if len(sides) == 1 or str(exc).startswith("Shipyard"):
            raise
        raw["mlflow_error"] = str(exc)[-3000:]
        say(f"MLflow: not measured: {raw['mlflow_error']}; measuring Shipyard alone")
        got = measure(sides[:1], size.rounds, args.max_wait)
    raw["measure"] = {k: v for k, v in got.items() if k != "sides"}
    raw["shipyard"] = got["sides"]["Shipyard"]
    if "MLflow" in got["sides"]:
        raw["mlflow"] = got["sides"]["MLflow"]
    raw["elapsed_s"] = time.perf_counter() - T0
    return raw


def _experiment_id(home: Path, name: str) -> str:
    db = sqlite3.connect(f"file:{home / 'shipyard.db'}?mode=ro", uri=True)
    try:
        return str(db.execute("SELECT id FROM experiments WHERE name = ?", (name,)).fetchone()[0])
    finally:
        db.close()


def serve(args: argparse.Namespace) -> None:
    base = CACHE / ("quick" if args.quick else "full")
    if _marker(base / "shipyard") is None:
        raise SystemExit(f"No complete store under {_rel(base / 'shipyard')}: run the benchmark first.")
    server = shipyard_server(base / "shipyard", base / "serve.log")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # kill PID stops the server too
    server.start()
    print(f"http://127.0.0.1:{server.port}/ui/p/{PROJECT}/runs  (server pid {server.pids()}; Ctrl-C stops)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data, 5 rounds: a smoke test (no write)")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing it")
    parser.add_argument("--render", type=Path, help="render the section from a saved bench/.work/ui.json")
    parser.add_argument("--serve", action="store_true", help="serve the cached store until Ctrl-C")
    parser.add_argument("--max-wait", type=float, default=300.0,
                        help="seconds to wait for a quiet machine before each server's measurement")
    args = parser.parse_args()
    if args.serve:
        serve(args)
        return
    if args.render:
        raw = json.loads(args.render.read_text())
    else:
        WORK.mkdir(exist_ok=True)
        raw = run(args)
        if not args.quick:
            RAW.write_text(json.dumps(raw, indent=1))
    section = render(raw)
    if args.quick or args.no_write:
        print(section)
        return
    write_section(BENCH / "RESULTS.md", section, HEADING)
    say(f"wrote the section '{HEADING[3:]}' of {_rel(BENCH / 'RESULTS.md')}")


# -- the report ---------------------------------------------------------------------------------------
def _ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.1f}" if ms < 100 else f"{ms:.0f}"


def _bytes(n: int) -> str:
    return f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n} B"


#: Comparable views: Shipyard's view key → MLflow's view keys.
PAIRS = {"runs_100": ["runs_100"], "runs_sorted": ["runs_sorted"], "runs_filter": ["runs_filter"],
         "runs_page2": ["runs_page2"], "runs_250": ["runs_250"], "runs_experiment": ["runs_experiment"],
         "run": ["run"], "series_800": ["history", "series_800"], "series_300": ["series_300"],
         "series_10": ["series_10"], "compare": ["compare"]}


def render(raw: dict[str, Any]) -> str:
    return "\n".join(_render_lines(raw)) + "\n"


def _render_lines(raw: dict[str, Any]) -> list[str]:  # noqa: PLR0915 - one linear report
    size = Size(**raw["size"])
    ver, host, store = raw["versions"], raw["host"], raw["shipyard_store"]
    sy, ml = raw["shipyard"], raw.get("mlflow")
    ml_store = raw.get("mlflow_store")
    meas = raw["measure"]
    interleaved = ", MLflow's server up at the same time and its rounds interleaved with these" if ml else ""
    loads = meas["loads"]
    lines = [
        HEADING, "",
        "Generated by `bench/ui.py`; do not edit by hand, re-run it.", "",
        f"- **Command:** `{raw['command']}` (run from the repository root)",
        f"- **Date:** {raw['started']} (whole run: {raw['elapsed_s'] / 60:.1f} min"
        + (", the data set read from its cache)" if store.get("reused") else ", building the data set included)"),
        f"- **Machine:** {host['machine']}",
        f"- **Versions:** Shipyard {ver['shipyard']} at {host['commit']}{host['dirty']} (Python {ver['python']}, "
        f"Starlette {ver['starlette']}, uvicorn {ver['uvicorn']}, Jinja2 {ver['jinja2']}, SQLAlchemy {ver['sqlalchemy']}, "
        f"SQLite {ver['sqlite']})"
        + (f"; MLflow {ver['mlflow_mlflow']} (Python {ver['mlflow_python']}, SQLAlchemy {ver['mlflow_sqlalchemy']}, "
           f"SQLite {ver['mlflow_sqlite']}) in bench/.venv-mlflow" if "mlflow_mlflow" in ver else ""),
        f"- **Load:** 1-minute load average over the timed rounds {min(loads):.2f} – {max(loads):.2f} (median "
        f"{statistics.median(loads):.2f}), {meas['load_before']:.2f} when they began (after waiting "
        f"{meas['waited_s']:.0f} s for a load under {LOAD_QUIET}) on 2 cores; the machine was shared with another "
        f"engineer's work while this ran"
        + (" (the load was above 1 at times: read the ratios before the absolute times)" if max(loads) >= 1 else ""),
        f"- **Data set:** project `{PROJECT}`: {size.runs:,} runs in {size.experiments} experiments, each with "
        f"{size.params} params, 3 tags and {size.metrics} metrics × {size.steps:,} steps — "
        f"**{size.history_rows:,} metric-history rows** and {size.runs * size.metrics:,} latest values; plus, through "
        f"the SDK, 1 run that logged a model, 2 registered models with 5 versions and 6 alias moves, 1 deployment "
        f"(2 routes; {raw['traffic']:,} predictions logged in the hour before the measurement), 1 monitor (3 evaluated "
        f"1-hour windows, a firing alert), 1 entity and 1 feature view (materialized), 2 users with tokens, "
        f"300 audit events",
        f"- **On disk:** Shipyard **{_gib(store['disk_bytes'])}** (`shipyard.db` {_gib(store['db_bytes'])}); "
        f"built in {store['build_s'] / 60:.1f} min on {store['built']} and cached in "
        f"`bench/.work/ui/{'quick' if size.runs < FULL.runs else 'full'}/` (git-ignored; reused while its parameters "
        f"match)"
        + (f". MLflow: {_gib(ml_store['disk_bytes'])} with the history of {size.mlflow_history_runs:,} runs "
           f"({ml_store['history_rows']:,} rows), built in {ml_store['build_s'] / 60:.1f} min" if ml_store else ""),
        "",
        f"Server: `shipyard server --store sqlite:///… --workers 1 --no-monitors` (no auth on loopback), pinned to "
        f"core {SERVER_CORE}; client: this script on core {CLIENT_CORE}, one keep-alive `http.client` connection. "
        f"Each page: 3 warm-up requests (the first is the *first request* column), then {size.rounds} rounds over all "
        f"pages in turn{interleaved}. *First byte*: until `getresponse()` returns (status line and headers read); *full*: until the "
        f"body is read. p95 is the nearest rank of {size.rounds}. Every response was checked: HTTP 200, the runs "
        f"tables hold the rows asked for, the chart data at most `points` points.",
        "",
        "### Shipyard: every page",
        "",
        f"Target: first byte under {TARGET_MS:.0f} ms, judged on the p95.",
        "",
        "| page | first byte, median | p95 | full, median | p95 | first request | bytes | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    over = []
    for key, v in sy["views"].items():
        ok = v["first_p95"] * 1000 < TARGET_MS
        if not ok:
            over.append(v["label"])
        lines.append(f"| {v['label']} | {_ms(v['first_med'])} ms | **{_ms(v['first_p95'])} ms** | {_ms(v['full_med'])} ms "
                     f"| {_ms(v['full_p95'])} ms | {_ms(v['cold_s'])} ms | {_bytes(v['bytes'])} | "
                     f"{'met' if ok else '**not met**'} |")
        del key
    n = len(sy["views"])
    lines += ["", f"**{n - len(over)} of {n} pages meet the target**"
              + (f"; over it: {', '.join(over)}." if over else "."), ""]
    lines += ["Requests (project `ui-bench`; run ids are 32 hex digits):", ""]
    lines += [f"- {v['label']}: `{_shorten(v['paths'][0])}`" for v in sy["views"].values()]
    lines += ["", "### MLflow as the anchor", ""]
    if ml is None:
        lines += [f"MLflow was not measured: {raw.get('mlflow_error', 'unknown error')}", ""]
        return lines
    lines += [
        f"The same data in MLflow {ver.get('mlflow_mlflow', '?')}'s SQLite store (schema made by `MlflowClient`, "
        f"rows bulk-inserted, values checked through `MlflowClient`), served by `mlflow server --workers 1` "
        f"(uvicorn), pinned and measured the same way. **MLflow holds the full runs, params, tags and latest metrics "
        f"but the metric history of only {size.mlflow_history_runs:,} of the {size.runs:,} runs** "
        f"({ml_store['history_rows']:,} of {size.history_rows:,} rows; all of it would take about "
        f"{_gib(size.history_rows / ml_store['history_rows'] * ml_store['db_bytes'])} of disk and, at the rate it "
        f"loaded here, {size.history_rows / ml_store['history_rows'] * ml_store['build_s'] / 60:.0f} min more): "
        f"every history asked for is "
        f"among them, and MLflow finds a history through its index on (run_uuid, key, step), so the table's size "
        f"costs it a few B-tree levels, not a scan.",
        "",
        "Shipyard serves finished HTML (the table, the run page) where MLflow serves JSON that its browser code then "
        "renders; the ratio compares what each server does for the view. Ratio: MLflow's median full time ÷ "
        "Shipyard's (above 1: Shipyard is faster).",
        "",
        "| view | Shipyard request | median (p95) | MLflow request | median (p95) | bytes, Shipyard / MLflow | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for skey, mkeys in PAIRS.items():
        s = sy["views"].get(skey)
        for mkey in mkeys:
            m = ml["views"].get(mkey)
            if s is None or m is None:
                continue
            lines.append(f"| {_view_name(skey)} | {s['label']} | {_ms(s['full_med'])} ms ({_ms(s['full_p95'])}) | "
                         f"{m['label']} | {_ms(m['full_med'])} ms ({_ms(m['full_p95'])}) | "
                         f"{_bytes(s['bytes'])} / {_bytes(m['bytes'])} | **{m['full_med'] / s['full_med']:.1f}×** |")
    h = ml["views"].get("ml_html")
    if h:
        lines += ["", f"MLflow's UI page itself (`GET /`, the single-page app's HTML): {_ms(h['full_med'])} ms median "
                  f"({_bytes(h['bytes'])}); its tables and charts then come from the requests above."]
    lines += ["", "MLflow's time to first byte, median (p95), for the record: "
              + "; ".join(f"{v['label']} {_ms(v['first_med'])} ms ({_ms(v['first_p95'])})"
                          for k, v in ml["views"].items() if k != "compare") + "."]
    return lines


def _view_name(key: str) -> str:
    return {"runs_100": "runs table, newest first", "runs_sorted": "runs table sorted by a metric",
            "runs_filter": "runs table, filtered and sorted", "runs_page2": "runs table, page 2",
            "runs_250": "runs table, 250 rows", "runs_experiment": "runs table, one experiment",
            "run": "a run", "series_800": "one chart (800 px)", "series_300": "one chart (300 px)",
            "series_10": "a chart of 10 runs", "compare": "compare 10 runs"}.get(key, key)


def _shorten(path: str) -> str:
    path = re.sub(r"[0-9a-f]{32}", "<id>", urllib.parse.unquote(path.split(" ", 1)[1]))
    path = re.sub(r"page=[^&]+", "page=<token>", path)
    return re.sub(r"(run=<id>&){2,}", "run=<id>&…&", path)


if __name__ == "__main__":
    main()
