"""One side of the feature-store benchmark (bench/features.py), in a fresh process per measurement.

    .venv/bin/python bench/features_worker.py info shipyard
    .venv/bin/python bench/features_worker.py setup shipyard CONFIG.json
    bench/.venv-feast/bin/python bench/features_worker.py train feast CONFIG.json ENTITIES.parquet OUT.parquet
    bench/.venv-feast/bin/python bench/features_worker.py materialize feast CONFIG.json
    .venv/bin/python bench/features_worker.py online shipyard CONFIG.json READS.json OUT.json
    .venv/bin/python bench/features_worker.py http URL BODIES.json OUT.json [SERVER_PID ...]
    .venv/bin/python bench/features_worker.py reference CONFIG.json ENTITIES.parquet OUT.parquet LATEST.parquet

Runs with either environment's python (the project's for Shipyard, bench/.venv-feast's for Feast), so
it uses only the standard library, pandas, pyarrow and the tool itself. CONFIG.json (written by
bench/features.py) names the feature Parquet file, the view's TTL (0: none), the Shipyard home or the Feast
repository, the Feast offline store (``duckdb`` or ``file``), the materialization range and the time
the online TTLs are judged at. Both tools are called as their documentation shows, with defaults:

* Shipyard: ``sy.features.apply``, ``sy.features.training_set(entity_df, refs).to_pandas()``,
  ``sy.features.materialize(end=...)``, ``sy.features.online(refs, entity_rows=..., at=...).to_dict()``.
* Feast: ``FeatureStore.apply``, ``get_historical_features(entity_df, refs).to_df()``,
  ``materialize(start, end)``, ``get_online_features(refs, entity_rows).to_dict()``.

``train`` reads the entity rows with ``pandas.read_parquet`` (timed apart), times the training-set call
(DataFrame out), notes the peak RSS (VmHWM, whole process) before anything else happens, then writes
the result with the features as float64 (nulls as NaN) for the correctness checks. ``reference`` is
the independent answer: pandas ``merge_asof`` after keeping the last-created row per key and event
time, then the TTL. ``http`` is the keep-alive client (``http.client``): per request, POST a
pre-built body and read the whole response. Prints one line ``BENCH_RESULT {json}`` on stdout.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("FEAST_USAGE", "False")  # no usage telemetry (nothing outside is reachable anyway)
os.environ.setdefault("DO_NOT_TRACK", "1")
warnings.simplefilter("ignore")

VIEW = "driver_stats"
KEY = "driver_id"
FEATURES = ["conv_rate", "acc_rate", "avg_daily_trips", "lifetime_trips", "rating"]
INT_FEATURES = {"avg_daily_trips", "lifetime_trips"}
REFS = [f"{VIEW}:{f}" for f in FEATURES]
WARM_UP = 50


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def _emit(result: dict[str, Any]) -> None:
    print("BENCH_RESULT " + json.dumps(result), flush=True)


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.timezone.utc)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _summary(ms: list[float]) -> dict[str, Any]:
    return {"n": len(ms), "median_ms": statistics.median(ms), "p99_ms": _pct(ms, 0.99), "p90_ms": _pct(ms, 0.90),
            "min_ms": min(ms), "max_ms": max(ms), "mean_ms": statistics.fmean(ms)}


# -- the two tools ----------------------------------------------------------------------------------
class Shipyard:
    name = "shipyard"

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        os.environ["SHIPYARD_HOME"] = cfg["home"]
        os.environ.setdefault("SHIPYARD_PROJECT", "bench")

    @staticmethod
    def versions() -> dict[str, str]:
        from importlib import metadata

        import duckdb

        return {"shipyard": metadata.version("shipyard-mlops"), "duckdb": duckdb.__version__}

    def setup(self) -> dict[str, Any]:
        import shipyard as sy

        driver = sy.Entity("driver", join_keys=[KEY])
        stats = sy.FeatureView(
            name=VIEW, entities=[driver],
            source=sy.ParquetSource(self.cfg["features_path"], timestamp="event_timestamp", created="created"),
            features={f: (int if f in INT_FEATURES else float) for f in FEATURES},
            ttl=f"{self.cfg['ttl_days']}d" if self.cfg["ttl_days"] else None)
        sy.features.apply([driver, stats])
        return {}

    def train(self, entity_df: Any) -> Any:
        import shipyard as sy

        return sy.features.training_set(entity_df, REFS).to_pandas()

    def materialize(self) -> dict[str, Any]:
        import shipyard as sy

        reports = sy.features.materialize(end=self.cfg["materialize_end"])
        return {"rows": sum(r.rows for r in reports), "chunks": sum(r.chunks for r in reports)}

    def online_call(self) -> Any:
        import shipyard as sy

        at = self.cfg["at"]

        def call(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
            return sy.features.online(REFS, entity_rows=rows, at=at).to_dict()

        return call

    def online_statuses(self, rows: list[dict[str, Any]]) -> list[list[str]]:
        import shipyard as sy

        return sy.features.online(REFS, entity_rows=rows, at=self.cfg["at"]).statuses


class Feast:
    name = "feast"

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.repo = Path(cfg["repo"])
        self._store: Any = None

    @staticmethod
    def versions() -> dict[str, str]:
        from importlib import metadata

        out = {}
        for dist in ("feast", "duckdb", "ibis-framework", "dask", "pandas", "pyarrow"):
            try:
                out[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                out[dist] = "-"
        return out

    @property
    def store(self) -> Any:
        if self._store is None:
            from feast import FeatureStore

            self._store = FeatureStore(repo_path=str(self.repo))
        return self._store

    def setup(self) -> dict[str, Any]:
        from feast import Entity, FeatureView, Field, FileSource, ValueType
        from feast.types import Float64, Int64

        self.repo.mkdir(parents=True, exist_ok=True)
        data = self.repo / "data"
        data.mkdir(exist_ok=True)
        offline = "  type: duckdb\n" if self.cfg["offline"] == "duckdb" else "  type: file\n"
        (self.repo / "feature_store.yaml").write_text(
            "project: bench\n"
            f"registry: {data / 'registry.db'}\n"
            "provider: local\n"
            "online_store:\n"
            "  type: sqlite\n"
            f"  path: {data / 'online.db'}\n"
            "offline_store:\n" + offline +
            "entity_key_serialization_version: 3\n")
        driver = Entity(name="driver", join_keys=[KEY], value_type=ValueType.INT64)
        source = FileSource(path=self.cfg["features_path"], timestamp_field="event_timestamp",
                            created_timestamp_column="created")
        stats = FeatureView(name=VIEW, entities=[driver], ttl=dt.timedelta(days=self.cfg["ttl_days"]),
                            schema=[Field(name=f, dtype=Int64 if f in INT_FEATURES else Float64) for f in FEATURES],
                            source=source, online=True)
        self.store.apply([driver, stats])
        return {}

    def train(self, entity_df: Any) -> Any:
        return self.store.get_historical_features(entity_df=entity_df, features=REFS).to_df()

    def materialize(self) -> dict[str, Any]:
        self.store.materialize(start_date=_utc(self.cfg["materialize_start"]),
                               end_date=_utc(self.cfg["materialize_end"]))
        return {}

    def online_call(self) -> Any:
        store = self.store

        def call(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
            return store.get_online_features(features=REFS, entity_rows=rows).to_dict()  # type: ignore[no-any-return]

        return call

    def online_statuses(self, rows: list[dict[str, Any]]) -> list[list[str]]:
        resp = self.store.get_online_features(features=REFS, entity_rows=rows)
        proto = resp.proto
        from feast.protos.feast.serving.ServingService_pb2 import FieldStatus

        return [[FieldStatus.Name(s) for s in r.statuses] for r in proto.results]


TOOLS = {"shipyard": Shipyard, "feast": Feast}


# -- commands ---------------------------------------------------------------------------------------
def cmd_info(tool: str) -> dict[str, Any]:
    import numpy
    import pandas
    import pyarrow

    versions = TOOLS[tool].versions()
    versions.update(pandas=pandas.__version__, numpy=numpy.__version__, pyarrow=pyarrow.__version__)
    return {"versions": versions, "python": platform.python_version(), "executable": sys.executable}


def cmd_setup(tool: str, config: str) -> dict[str, Any]:
    cfg = json.loads(Path(config).read_text())
    t0 = time.perf_counter()
    out = TOOLS[tool](cfg).setup()
    return {**out, "setup_s": time.perf_counter() - t0}


def _as_float(frame: Any, column: str) -> Any:
    import pandas as pd

    return pd.to_numeric(frame[column], errors="raise").astype("float64")


def cmd_train(tool: str, config: str, entities: str, out: str) -> dict[str, Any]:
    import pandas as pd

    cfg = json.loads(Path(config).read_text())
    side = TOOLS[tool](cfg)
    rss_imported = _status_kib("VmRSS")
    t0 = time.perf_counter()
    entity_df = pd.read_parquet(entities)
    read_s = time.perf_counter() - t0
    rss_loaded = _status_kib("VmRSS")
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    result = side.train(entity_df)
    train_s = time.perf_counter() - t0
    cpu_s = time.process_time() - cpu0
    peak = _status_kib("VmHWM")
    rss_after = _status_kib("VmRSS")
    rows = len(result)
    columns = [str(c) for c in result.columns]
    canonical = pd.DataFrame({"row_id": result["row_id"].astype("int64").to_numpy()})
    for f in FEATURES:
        canonical[f] = _as_float(result, f).to_numpy()
    dtypes = {f: str(result[f].dtype) for f in FEATURES}
    del result
    canonical.to_parquet(out, index=False)
    return {"train_s": train_s, "cpu_s": cpu_s, "read_s": read_s, "rows": rows, "entity_rows": len(entity_df),
            "columns": columns, "dtypes": dtypes, "rss_imported_kib": rss_imported, "rss_loaded_kib": rss_loaded,
            "peak_kib": peak, "rss_after_kib": rss_after}


def cmd_materialize(tool: str, config: str) -> dict[str, Any]:
    cfg = json.loads(Path(config).read_text())
    side = TOOLS[tool](cfg)
    if tool == "feast":
        side.store  # noqa: B018 - open the store (registry, config) before the clock starts
    t0 = time.perf_counter()
    out = side.materialize()
    seconds = time.perf_counter() - t0
    return {**out, "materialize_s": seconds, "peak_kib": _status_kib("VmHWM")}


def cmd_online(tool: str, config: str, reads: str, out: str) -> dict[str, Any]:
    """Warm-up, then every 1-entity read, then every 100-entity read, each call timed on its own; the
    values (and statuses) of the check entities go to ``out``."""
    cfg = json.loads(Path(config).read_text())
    plan = json.loads(Path(reads).read_text())
    side = TOOLS[tool](cfg)
    t0 = time.perf_counter()
    call = side.online_call()
    first = call([{KEY: plan["warm_up"][0]}])
    first_s = time.perf_counter() - t0
    for i in range(WARM_UP):
        call([{KEY: plan["warm_up"][i % len(plan["warm_up"])]}])
        call([{KEY: k} for k in plan["warm_up"][:100]])
    results: dict[str, Any] = {"first_call_s": first_s, "first_keys": sorted(first)}
    for name, batches in (("one", plan["one"]), ("hundred", plan["hundred"])):
        rows_list = [[{KEY: k} for k in batch] for batch in batches]
        times = []
        cpu0 = time.process_time()
        for rows in rows_list:
            s = time.perf_counter_ns()
            call(rows)
            times.append((time.perf_counter_ns() - s) / 1e6)
        results[name] = {**_summary(times), "cpu_ms_per_call": (time.process_time() - cpu0) * 1000 / len(rows_list),
                         "times_ms": times}
    check_rows = [{KEY: k} for k in plan["check"]]
    values = call(check_rows)
    statuses = side.online_statuses(check_rows)
    Path(out).write_text(json.dumps({"values": {k: list(v) for k, v in values.items()}, "statuses": statuses},
                                    default=str))
    return results


def cmd_http(url: str, bodies: str, out: str, *pids: str) -> dict[str, Any]:
    """The keep-alive client: one connection, requests one after another, each timed on its own."""
    import http.client
    from urllib.parse import urlsplit

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _proc

    plan = json.loads(Path(bodies).read_text())
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
    sent = 0

    def post(body: bytes) -> tuple[int, bytes]:
        nonlocal sent
        conn.request("POST", parts.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        sent += 1
        return resp.status, data

    checks = {}
    for name in ("one", "hundred", "check"):
        status, data = post(plan[name][0].encode())
        checks[name] = {"status": status, "body": data.decode(errors="replace")}
        if status != 200:
            return {"error": f"HTTP {status} for the {name} body: {data[:500]!r}"}
    for i in range(WARM_UP * 4):
        post(plan["one"][i % len(plan["one"])].encode())
    for i in range(WARM_UP):
        post(plan["hundred"][i % len(plan["hundred"])].encode())
    meter = _proc.Meter([int(p) for p in pids], lambda: sent)
    results: dict[str, Any] = {}
    for name in ("one", "hundred"):
        encoded = [b.encode() for b in plan[name]]
        times = []
        bad = 0
        with meter.phase(name, len(encoded)):
            for body in encoded:
                s = time.perf_counter_ns()
                status, _ = post(body)
                times.append((time.perf_counter_ns() - s) / 1e6)
                bad += status != 200
        cpu = sum(meter.phases[name]["cpu"].values())
        results[name] = {**_summary(times), "errors": bad, "server_cpu_ms_per_request": cpu * 1000 / len(encoded),
                         "requests": meter.phases[name]["requests"], "times_ms": times}
    conn.close()
    Path(out).write_text(json.dumps(checks))
    return results


def cmd_reference(config: str, entities: str, out: str, latest: str) -> dict[str, Any]:
    """The independent answer with pandas: per key and event time the last-created row (then the last
    in the file), ``merge_asof`` backward (a feature row at the entity row's own time counts), null
    past the TTL (event time older than the entity row's time minus the TTL)."""
    import numpy as np
    import pandas as pd

    cfg = json.loads(Path(config).read_text())
    t0 = time.perf_counter()
    feats = pd.read_parquet(cfg["features_path"], columns=[KEY, "event_timestamp", "created", *FEATURES])
    for f in FEATURES:
        feats[f] = feats[f].astype("float64")
    feats["__order"] = np.arange(len(feats))
    # keys (driver, event time) whose rows were created at different times: the ties the created time decides
    tied = feats.duplicated([KEY, "event_timestamp"], keep=False) & \
        ~feats.duplicated([KEY, "event_timestamp", "created"], keep=False)
    ties = feats.loc[tied, [KEY, "event_timestamp"]].drop_duplicates().rename(columns={"event_timestamp": "__fts"})
    ties["tie"] = True
    feats = feats.sort_values(["event_timestamp", "created", "__order"], kind="stable")
    feats = feats.drop_duplicates([KEY, "event_timestamp"], keep="last")
    feats = feats.rename(columns={"event_timestamp": "__fts"}).drop(columns=["created", "__order"])
    feats.drop_duplicates([KEY], keep="last")[[KEY, "__fts", *FEATURES]].to_parquet(latest, index=False)
    ents = pd.read_parquet(entities)
    ents["dup_entity"] = ents.duplicated([KEY, "event_timestamp"], keep=False)  # same driver and time as another
    ents = ents.sort_values("event_timestamp", kind="stable")
    merged = pd.merge_asof(ents, feats, left_on="event_timestamp", right_on="__fts", by=KEY, direction="backward",
                           allow_exact_matches=True)
    stale = merged["__fts"].isna()
    if cfg["ttl_days"]:
        stale |= merged["event_timestamp"] - merged["__fts"] > pd.Timedelta(days=cfg["ttl_days"])
    merged.loc[stale, FEATURES] = np.nan
    merged = merged.merge(ties, on=[KEY, "__fts"], how="left")
    merged["tie"] = merged["tie"].fillna(False).astype(bool)
    merged["matched"] = ~merged["__fts"].isna()
    merged["stale"] = stale & merged["matched"]
    merged = merged.sort_values("row_id")
    merged[["row_id", *FEATURES, "tie", "matched", "stale", "dup_entity"]].to_parquet(out, index=False)
    return {"reference_s": time.perf_counter() - t0, "rows": len(merged), "peak_kib": _status_kib("VmHWM")}


def main() -> None:
    command, *args = sys.argv[1:]
    handlers = {"info": cmd_info, "setup": cmd_setup, "train": cmd_train, "materialize": cmd_materialize,
                "online": cmd_online, "http": cmd_http, "reference": cmd_reference}
    _emit(handlers[command](*args))


if __name__ == "__main__":
    main()
