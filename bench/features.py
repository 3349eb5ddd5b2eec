"""Feature-store benchmark: Shipyard's feature store against Feast, in one run.

    python bench/features.py             # writes its section of bench/RESULTS.md
    python bench/features.py --no-write  # print the tables only
    python bench/features.py --quick     # small data, 1 repetition: a smoke test of the script (no write)
    python bench/features.py --render bench/.work/features.json   # the section again from the last run's
                                         # saved measurements (after a change to the wording only)

Feast is the anchor. It runs in its own environment, bench/.venv-feast (created here on first use:
``python3 -m venv`` + ``pip install`` of FEAST_SPEC below); it is never installed into the project's
environment. Every measurement runs bench/features_worker.py in a fresh process, with the project's
python for Shipyard and the venv's python for Feast; both read the same Parquet files, written once
per run from seeded NumPy generators (``feature_rows`` and ``entity_rows`` below):

* **Feature rows**: one feature view ``driver_stats`` keyed by ``driver_id`` — 100,000 drivers × 100
  event times each (10 million rows, uniform over 2025) with a ``created`` time, five features (three
  floats, one with 1% nulls, two integers), 2% of the rows tied on event time with the driver's
  previous row but created at another time, 0.5% exact duplicates of the previous row; the file is
  sorted by event time (a tie's two rows in random created order). The view's TTL is 30 days; the
  large training set is also measured without a TTL (``CASES``): Feast's DuckDB join pairs each entity
  row with every earlier feature row of its driver then, which is where the issue's 7.4 GiB comes from.
* **Entity rows**: 1 million (``row_id``, ``driver_id``, ``event_timestamp``), uniform from 1 Dec 2024
  (before any feature row) to 31 Mar 2026 (past the last feature row plus the TTL); 2% unknown drivers;
  0.5% each at exactly a feature row's event time, at exactly that time plus the TTL, one second after
  that; 0.5% duplicate entity rows (same driver and time, another row id).
* A smaller set of the same shape (10,000 drivers: 1 million feature rows; 100,000 entity rows) for
  Feast's default file (Dask) offline store, which cannot do the large one in 12 GiB (the issue).

Measured (Shipyard: the project's SQLite metadata store and its default online store, SQLite, under a
fresh ``SHIPYARD_HOME``; Feast: a feature repository with ``offline_store: duckdb`` — or ``file`` —
and ``online_store: sqlite``):

1. **Training set**: the entity rows read from Parquet into a DataFrame (timed apart), then the timed
   call, DataFrame out. Peak RSS of the process tree (VmHWM of the worker, and the process tree's RSS
   polled every 0.1 s by this script; the larger). ``--reps`` processes per store at the large size
   (interleaved), one at the small size.
2. **Correctness**: every result against an independent pandas ``merge_asof`` (bench/features_worker.py
   ``reference``), and Shipyard's against each Feast store's, row by row (aligned on ``row_id``) and
   value by value; mismatches are classified (rows dropped or duplicated, a tie broken otherwise, TTL).
3. **Materialization**: everything into a fresh online store (``sy.features.materialize(end=...)``,
   ``FeatureStore.materialize(start, end)``); then the online values of 1,000 drivers are checked
   against each driver's latest feature row.
4. **Online reads in-process**: after a warm-up, 1,000 reads of 1 driver and 300 reads of 100 drivers
   (each its own random drivers), every call timed; median and p99. ``--online-reps`` processes per
   tool, interleaved: Shipyard's 300 reads of 100 take well under a second, shorter than the stretches
   in which this shared machine runs slower, so a few processes could all land in one; more of them
   sample more stretches on both sides.
5. **Online reads over HTTP**: ``feast serve`` and ``shipyard server``, each pinned to core 0, one
   keep-alive client (``http.client``) on core 1 POSTing the same reads one after another;
   ``--online-reps`` server starts per tool, interleaved.

Targets (from the issue): the 1M × 10M training set at least 10× faster than Feast's DuckDB store and
under 2 GiB (judged with and without the TTL); online reads of 100 entities at least 5× faster; HTTP
reads of 1 entity under 1 ms median. Takes about 12 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
import _proc  # noqa: E402
from _results import host_facts, write_section  # noqa: E402

HEADING = "## Feature store (bench/features.py)"
VENV = BENCH / ".venv-feast"
WORKER = BENCH / "features_worker.py"
WORK = BENCH / ".work"  # git-ignored: the last run's raw measurements
RAW = WORK / "features.json"
FEAST_VERSION = "0.67.0"
FEAST_SPEC = [f"feast[duckdb]=={FEAST_VERSION}"]
SPEED_TARGET = 10.0
MEMORY_TARGET_GIB = 2.0
ONLINE_TARGET = 5.0
HTTP_TARGET_MS = 1.0
SERVER_CORE, CLIENT_CORE = 0, 1
TTL_DAYS = 30
FEATURES = ["conv_rate", "acc_rate", "avg_daily_trips", "lifetime_trips", "rating"]
REFS = [f"driver_stats:{f}" for f in FEATURES]
DATA_START = "2025-01-01T00:00:00Z"  # feature event times: [DATA_START, DATA_START + 365 days)
ENTITY_START, ENTITY_END = "2024-12-01T00:00:00Z", "2026-03-31T00:00:00Z"
MATERIALIZE_START, MATERIALIZE_END = "2024-01-01T00:00:00Z", "2026-01-01T00:00:00Z"
ONLINE_AT = "2026-01-01T00:00:00Z"  # when Shipyard judges online TTLs (the data is from 2025)
READS_ONE, READS_HUNDRED, CHECK_ENTITIES = 1000, 300, 1000
US = 1_000_000
DAY_US = 86_400 * US
T0 = time.perf_counter()


def say(message: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f}s] {message}", flush=True)


def _us(text: str) -> int:
    return int(pd.Timestamp(text).value // 1000)


# -- data -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Size:
    key: str
    drivers: int
    per_driver: int
    entity_rows: int
    seed: int

    @property
    def feature_rows(self) -> int:
        return self.drivers * self.per_driver

    @property
    def label(self) -> str:
        return f"{_count(self.entity_rows)} × {_count(self.feature_rows)}"


def _count(n: int) -> str:
    for div, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= div and n % (div // 10) == 0:
            return f"{n / div:g}{suffix}"
    return f"{n:,}"


SIZES = {"big": Size("big", 100_000, 100, 1_000_000, seed=7), "small": Size("small", 10_000, 100, 100_000, seed=8)}
QUICK_SIZES = {"big": Size("big", 5_000, 40, 50_000, seed=7), "small": Size("small", 1_000, 40, 10_000, seed=8)}
#: Training-set cases: name → (data size, the view's TTL in days or None, the stores run on it).
CASES: dict[str, tuple[str, int | None, tuple[str, ...]]] = {
    "small": ("small", TTL_DAYS, ("shipyard", "feast-duckdb", "feast-file")),
    "big": ("big", TTL_DAYS, ("shipyard", "feast-duckdb")),
    "big-nottl": ("big", None, ("shipyard", "feast-duckdb")),
}


def feature_rows(size: Size) -> pd.DataFrame:
    """``size.drivers`` × ``size.per_driver`` rows; ties and exact duplicates planted (module docstring)."""
    r = np.random.default_rng(size.seed)
    n_drv, per = size.drivers, size.per_driver
    n = n_drv * per
    driver = np.repeat(np.arange(1001, 1001 + n_drv, dtype=np.int64), per)
    secs = r.integers(0, 365 * 86_400, size=(n_drv, per))
    secs.sort(axis=1)
    ts = _us(DATA_START) + secs.reshape(-1) * US
    created = ts + r.integers(0, 3_600 * US, n)  # written up to an hour after the event
    values = {
        "conv_rate": r.random(n),
        "acc_rate": r.random(n),
        "avg_daily_trips": r.integers(0, 50, n),
        "lifetime_trips": r.integers(0, 10_000, n),
        "rating": np.round(r.uniform(1.0, 5.0, n), 2),
    }
    values["conv_rate"][r.random(n) < 0.01] = np.nan
    k = np.tile(np.arange(per), n_drv)
    odd = k % 2 == 1  # a planted row copies from its even predecessor, which is never planted itself
    tie = odd & (r.random(n) < 0.04)  # same event time as the previous row, another created time
    dup = odd & ~tie & (r.random(n) < 0.01)  # the previous row again, exactly
    ts[tie] = ts[np.flatnonzero(tie) - 1]
    src = np.flatnonzero(dup) - 1
    ts[dup], created[dup] = ts[src], created[src]
    for col in values.values():
        col[dup] = col[src]
    frame = pd.DataFrame({"driver_id": driver, "event_timestamp": ts, "created": created, **values})
    frame = frame.iloc[np.argsort(ts, kind="stable")].reset_index(drop=True)  # the file in event-time order
    for col in ("event_timestamp", "created"):
        frame[col] = pd.to_datetime(frame[col], unit="us", utc=True)
    return frame


def entity_rows(size: Size, feats: pd.DataFrame) -> pd.DataFrame:
    """``size.entity_rows`` rows: random drivers and times, 2% unknown drivers, and planted rows at a
    feature row's exact time, at that time plus the TTL and one second later, and duplicates."""
    r = np.random.default_rng(size.seed + 1000)
    n = size.entity_rows
    known = r.integers(1001, 1001 + size.drivers, n)
    driver = np.where(r.random(n) < 0.02, r.integers(10_000_000, 20_000_000, n), known).astype(np.int64)
    ts = r.integers(_us(ENTITY_START) // US, _us(ENTITY_END) // US, n) * US
    f_driver = feats["driver_id"].to_numpy()
    f_ts = feats["event_timestamp"].dt.tz_localize(None).to_numpy().astype("datetime64[us]").astype(np.int64)
    kind = r.random(n)
    for lo, hi, shift in ((0.00, 0.005, 0), (0.005, 0.01, TTL_DAYS * DAY_US), (0.01, 0.015, TTL_DAYS * DAY_US + US)):
        at = (kind >= lo) & (kind < hi)
        j = r.integers(0, len(feats), int(at.sum()))
        driver[at], ts[at] = f_driver[j], f_ts[j] + shift
    dup = (kind >= 0.015) & (kind < 0.02)
    src = r.integers(0, n, int(dup.sum()))
    driver[dup], ts[dup] = driver[src], ts[src]
    order = r.permutation(n)
    return pd.DataFrame({"row_id": np.arange(n, dtype=np.int64), "driver_id": driver[order],
                         "event_timestamp": pd.to_datetime(ts[order], unit="us", utc=True)})


def write_data(tmp: Path, size: Size) -> dict[str, Any]:
    feats = feature_rows(size)
    ents = entity_rows(size, feats)
    fpath, epath = tmp / f"features-{size.key}.parquet", tmp / f"entities-{size.key}.parquet"
    feats.to_parquet(fpath, index=False, row_group_size=1_000_000)
    ents.to_parquet(epath, index=False)
    ties = feats.duplicated(["driver_id", "event_timestamp"], keep=False) & \
        ~feats.duplicated(["driver_id", "event_timestamp", "created"], keep=False)
    facts = {"features_path": str(fpath), "entities_path": str(epath), "feature_rows": len(feats),
             "entity_rows": len(ents), "drivers": size.drivers,
             "feature_mib": fpath.stat().st_size / 2**20, "entity_mib": epath.stat().st_size / 2**20,
             "tied_rows": int(ties.sum()),
             "duplicate_rows": int(feats.duplicated(["driver_id", "event_timestamp", "created"]).sum()),
             "null_conv_rate": int(feats["conv_rate"].isna().sum()),
             "unknown_entity_rows": int((ents["driver_id"] >= 10_000_000).sum()),
             "duplicate_entity_rows": int(ents.duplicated(["driver_id", "event_timestamp"]).sum()),
             "entity_rows_before_data": int((ents["event_timestamp"] < pd.Timestamp(DATA_START)).sum())}
    return facts


# -- workers ----------------------------------------------------------------------------------------
def _python(tool: str) -> Path:
    return Path(sys.executable) if tool == "shipyard" else VENV / "bin" / "python"


def _tree_rss_kib(root: int) -> int:
    total = 0
    for pid, _, _ in _proc.process_tree(root):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def wait_quiet() -> None:
    """Never measure beside another benchmark: wait while one runs."""
    shown = False
    while True:
        others = _proc.others_running(("bench/features", ".venv-feast"))
        if not others:
            return
        if not shown:
            say("waiting: another benchmark is running: " + "; ".join(others))
            shown = True
        time.sleep(15)


def worker(tool: str, *args: str, env: dict[str, str] | None = None, timeout: float = 1800,
           quiet: bool = True) -> dict[str, Any]:
    """Run bench/features_worker.py for ``tool`` in a fresh process (after waiting for other benchmarks);
    its JSON result, with ``wall_s`` and ``tree_peak_kib`` (the process tree's RSS, polled every 0.1 s),
    or ``{"timeout": seconds}``."""
    if quiet:
        wait_quiet()
    argv = [str(_python(tool)), str(WORKER), *args]
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(ROOT),
                            env={**os.environ, "FEAST_USAGE": "False", **(env or {})}, start_new_session=True)
    peak = [0]
    done = threading.Event()

    def poll() -> None:
        while not done.wait(0.1):
            peak[0] = max(peak[0], _tree_rss_kib(proc.pid))

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"timeout": timeout, "tree_peak_kib": peak[0], "load": load}
    finally:
        done.set()
        poller.join()
    wall = time.perf_counter() - t0
    for line in reversed(out.splitlines()):
        if line.startswith("BENCH_RESULT "):
            got: dict[str, Any] = json.loads(line[len("BENCH_RESULT "):])
            return {**got, "wall_s": wall, "tree_peak_kib": peak[0], "load": load}
    return {"error": f"exit {proc.returncode}: " + (err.strip().splitlines() or ["(no stderr)"])[-1][:500],
            "stderr_tail": err[-4000:], "wall_s": wall, "tree_peak_kib": peak[0], "load": load}


def must(got: dict[str, Any], what: str) -> dict[str, Any]:
    if "error" in got or "timeout" in got:
        raise RuntimeError(f"{what} failed: {got.get('error') or 'timed out'}\n{got.get('stderr_tail', '')}")
    return got


def ensure_feast() -> dict[str, Any]:
    """bench/.venv-feast with FEAST_SPEC (created on first use); the worker's version facts."""
    if _python("feast").exists():
        got = worker("feast", "info", "feast", timeout=300, quiet=False)
        if "error" not in got and got["versions"].get("feast") == FEAST_VERSION:
            return got
        say(f"bench/.venv-feast is not usable or not Feast {FEAST_VERSION} ({got.get('error') or got['versions']}); "
            "installing")
    else:
        base = shutil.which("python3") or sys.executable
        say(f"creating bench/.venv-feast with {base} (one time; installing Feast takes a minute or two)")
        subprocess.run([base, "-m", "venv", str(VENV)], check=True)
    pip = [str(_python("feast")), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, *FEAST_SPEC], check=True)
    return must(worker("feast", "info", "feast", timeout=300, quiet=False), "Feast info")


# -- the stores -------------------------------------------------------------------------------------
@dataclass
class Side:
    """One store under test: a tool, its configuration file and what it reads."""

    key: str  # e.g. "shipyard-big", "feast-duckdb-big", "feast-file-small"
    tool: str
    size: str
    config: Path
    env: dict[str, str]


def split_key(key: str) -> tuple[str, str]:
    """``feast-duckdb-big-nottl`` → ``("feast-duckdb", "big-nottl")``."""
    for case in sorted(CASES, key=len, reverse=True):
        if key.endswith("-" + case):
            return key[: -len(case) - 1], case
    raise ValueError(key)


def make_side(tmp: Path, store: str, case: str, data: dict[str, Any]) -> Side:
    """A store for one training-set case: its configuration file, set up (apply) in a fresh process."""
    key = f"{store}-{case}"
    tool = "shipyard" if store == "shipyard" else "feast"
    ttl = CASES[case][1]
    home = tmp / key
    cfg = {"features_path": data["features_path"], "ttl_days": ttl or 0,
           "offline": store.partition("-")[2] or "duckdb",
           "home": str(home / "shipyard-home"), "repo": str(home / "feast-repo"),
           "materialize_start": MATERIALIZE_START, "materialize_end": MATERIALIZE_END, "at": ONLINE_AT}
    home.mkdir(parents=True, exist_ok=True)
    config = home / "config.json"
    config.write_text(json.dumps(cfg, indent=1))
    env = {"SHIPYARD_HOME": cfg["home"], "SHIPYARD_PROJECT": "bench"} if tool == "shipyard" else {}
    side = Side(key, tool, CASES[case][0], config, env)
    must(worker(tool, "setup", tool, str(config), env=env, timeout=600, quiet=False), f"{key} setup")
    return side


def train(side: Side, entities: str, out: Path, timeout: float) -> dict[str, Any]:
    got = worker(side.tool, "train", side.tool, str(side.config), entities, str(out), env=side.env, timeout=timeout)
    if "timeout" in got:
        say(f"training set, {side.key}: timed out after {timeout:.0f} s (peak tree RSS {_gib(got['tree_peak_kib'])})")
    elif "error" in got:
        say(f"training set, {side.key}: FAILED: {got['error']}")
    else:
        got["peak_all_kib"] = max(got["peak_kib"], got["tree_peak_kib"])
        got["output"] = str(out)
        say(f"training set, {side.key}: {got['train_s']:.2f} s, peak {_gib(got['peak_all_kib'])}, "
            f"{got['rows']:,} rows out of {got['entity_rows']:,}")
    return got


# -- correctness ------------------------------------------------------------------------------------
def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a == b) | (np.isnan(a) & np.isnan(b))


def compare(tool_path: str, ref_path: str, with_flags: bool = True) -> dict[str, Any]:
    """One training set against another (usually the reference), aligned on ``row_id``."""
    got = pd.read_parquet(tool_path)
    ref = pd.read_parquet(ref_path)
    out: dict[str, Any] = {"rows": len(got), "expected_rows": len(ref)}
    dup = got["row_id"].duplicated(keep="first")
    out["duplicated_rows"] = int(dup.sum())
    got = got[~dup]
    ids = set(got["row_id"].to_numpy().tolist())
    ref_ids = ref["row_id"].to_numpy()
    present = np.fromiter((i in ids for i in ref_ids), bool, len(ref_ids))
    out["dropped_rows"] = int((~present).sum())
    out["unexpected_rows"] = int(len(ids - set(ref_ids.tolist())))
    got = got.set_index("row_id")
    ref = ref.set_index("row_id")
    common = ref.index[present]
    g, e = got.loc[common], ref.loc[common]
    bad_any = np.zeros(len(common), bool)
    kinds = {"value_vs_null": 0, "null_vs_value": 0, "different_values": 0}
    per_col = {}
    for f in FEATURES:
        a, b = g[f].to_numpy(np.float64), e[f].to_numpy(np.float64)
        bad = ~_same(a, b)
        per_col[f] = int(bad.sum())
        bad_any |= bad
        kinds["value_vs_null"] += int((bad & ~np.isnan(a) & np.isnan(b)).sum())
        kinds["null_vs_value"] += int((bad & np.isnan(a) & ~np.isnan(b)).sum())
        kinds["different_values"] += int((bad & ~np.isnan(a) & ~np.isnan(b)).sum())
    out.update(mismatched_rows=int(bad_any.sum()), mismatched_values=int(sum(per_col.values())), per_column=per_col,
               kinds=kinds, compared_rows=int(len(common)))
    if with_flags and "tie" in e.columns:
        out["mismatched_at_ties"] = int((bad_any & e["tie"].to_numpy()).sum())
        out["mismatched_stale"] = int((bad_any & e["stale"].to_numpy()).sum())
        out["mismatched_unmatched"] = int((bad_any & ~e["matched"].to_numpy()).sum())
        out["ref_rows_at_ties"] = int(e["tie"].sum())
        out["ref_rows_stale"] = int(e["stale"].sum())
        out["ref_rows_unmatched"] = int((~e["matched"]).sum())
        if out["dropped_rows"]:
            flags = ref.loc[ref_ids[~present]]
            out["dropped_unmatched"] = int((~flags["matched"]).sum())
            out["dropped_stale"] = int(flags["stale"].sum())
            fresh = flags["matched"] & ~flags["stale"]
            out["dropped_with_features"] = int(fresh.sum())
            out["dropped_with_features_dup"] = int((fresh & flags["dup_entity"]).sum())
            out["ref_dup_entity_rows"] = int(ref["dup_entity"].sum())
    examples = common[bad_any][:3]
    out["examples"] = [{"row_id": int(i), "got": {f: _num(g.at[i, f]) for f in FEATURES},
                        "expected": {f: _num(e.at[i, f]) for f in FEATURES},
                        **({"tie": bool(e.at[i, "tie"]), "stale": bool(e.at[i, "stale"])} if "tie" in e.columns else {})}
                       for i in examples]
    out["identical"] = (out["dropped_rows"] == 0 and out["duplicated_rows"] == 0 and out["unexpected_rows"] == 0
                        and out["mismatched_values"] == 0)
    return out


def _num(x: Any) -> Any:
    x = float(x)
    return None if x != x else x


def expected_online(latest: pd.DataFrame, check_ids: list[int], ttl_at: str | None) -> pd.DataFrame:
    """Each check driver's latest feature row; with ``ttl_at``, null where that row is older than the TTL
    at that time (Shipyard's online TTL; Feast's online read applies none)."""
    want = latest.reindex(check_ids)
    if ttl_at is not None:
        stale = want["__fts"] < pd.Timestamp(ttl_at) - pd.Timedelta(days=TTL_DAYS)
        want.loc[stale, FEATURES] = np.nan
    return want


def _tally(values: dict[str, list[Any]], statuses: list[list[str]], want: pd.DataFrame) -> dict[str, Any]:
    bad = 0
    for f in FEATURES:
        a = np.array([np.nan if v is None else float(v) for v in values[f]])
        bad += int((~_same(a, want[f].to_numpy(np.float64))).sum())
    counts: dict[str, int] = {}
    for col in statuses:
        for s in col:
            counts[s] = counts.get(s, 0) + 1
    return {"mismatched_values": bad, "values": len(want) * len(FEATURES), "statuses": counts}


def check_online(values_path: str, latest: pd.DataFrame, check_ids: list[int], ttl_at: str | None) -> dict[str, Any]:
    """Online values read back in-process for ``check_ids`` against each driver's latest feature row."""
    got = json.loads(Path(values_path).read_text())
    statuses = got["statuses"][-len(FEATURES):]  # the features' (Shipyard lists the join key first)
    return _tally(got["values"], statuses, expected_online(latest, check_ids, ttl_at))


def http_bodies(plan: dict[str, Any], extra: dict[str, Any]) -> dict[str, list[str]]:
    def body(ids: list[int]) -> str:
        return json.dumps({"features": REFS, "entities": {"driver_id": ids}, "full_feature_names": False, **extra})

    return {"one": [body(b) for b in plan["one"]], "hundred": [body(b) for b in plan["hundred"]],
            "check": [body(plan["check"])]}


def measure_http(name: str, server: _proc.Server, path: str, plan: dict[str, Any], extra: dict[str, Any],
                 tmp: Path) -> dict[str, Any]:
    wait_quiet()
    bodies = tmp / f"http-{name}.json"
    bodies.write_text(json.dumps(http_bodies(plan, extra)))
    load = os.getloadavg()[0]
    ready = server.start()
    try:
        say(f"HTTP, {name}: server ready in {ready:.1f} s on port {server.port} (pids {server.pids()})")
        pids = [str(p) for p in server.pids()]
        argv = ["taskset", "-c", str(CLIENT_CORE), sys.executable, str(WORKER), "http",
                f"http://127.0.0.1:{server.port}{path}", str(bodies), str(tmp / f"http-{name}-check.json"),
                *pids]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=900, cwd=str(ROOT), check=False)
        got = next((json.loads(line[len("BENCH_RESULT "):]) for line in reversed(proc.stdout.splitlines())
                    if line.startswith("BENCH_RESULT ")), None)
        if got is None:
            got = {"error": f"client exit {proc.returncode}: {proc.stderr[-2000:]}"}
    finally:
        server.stop()
    got["ready_s"] = ready
    got["load"] = load
    got["check_path"] = str(tmp / f"http-{name}-check.json")
    if "error" in got:
        say(f"HTTP, {name}: FAILED: {got['error'][:500]}")
    else:
        say(f"HTTP, {name}: 1 entity median {got['one']['median_ms']:.2f} ms (p99 {got['one']['p99_ms']:.2f}), "
            f"100 entities median {got['hundred']['median_ms']:.2f} ms (p99 {got['hundred']['p99_ms']:.2f})")
    return got


def check_http(check_path: str, latest: pd.DataFrame, check_ids: list[int], ttl_at: str | None) -> dict[str, Any]:
    """The values of the check body's response (Feast's response shape) against the latest rows."""
    body = json.loads(json.loads(Path(check_path).read_text())["check"]["body"])
    names = body["metadata"]["feature_names"]
    results = dict(zip(names, body["results"], strict=True))
    values = {f: results[f]["values"] for f in FEATURES}
    return {**_tally(values, [results[f]["statuses"] for f in FEATURES], expected_online(latest, check_ids, ttl_at)),
            "names": names}


# -- the run ----------------------------------------------------------------------------------------
def read_plan(size: Size, seed: int = 99) -> dict[str, Any]:
    """Which drivers each online read asks for (the same for both tools)."""
    r = np.random.default_rng(seed)
    ids = lambda n: (1001 + r.integers(0, size.drivers, n)).tolist()  # noqa: E731
    return {"warm_up": ids(200), "one": [[i] for i in ids(READS_ONE)],
            "hundred": [ids(100) for _ in range(READS_HUNDRED)],
            "check": [*ids(CHECK_ENTITIES - 10), *range(30_000_000, 30_000_010)]}


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    sizes = QUICK_SIZES if args.quick else SIZES
    parts = set(args.parts.split(","))
    raw: dict[str, Any] = {"sizes": {k: asdict(v) for k, v in sizes.items()}, "data": {}, "train": {}, "checks": {},
                           "materialize": {}, "online": {}, "http": {}, "errors": []}
    for key, size in sizes.items():
        t0 = time.perf_counter()
        raw["data"][key] = write_data(tmp, size)
        say(f"data {key}: {size.feature_rows:,} feature rows, {size.entity_rows:,} entity rows in "
            f"{time.perf_counter() - t0:.0f} s")
    data = raw["data"]

    say("setting up the stores (apply) and the reference answers")
    sides = {f"{store}-{case}": make_side(tmp, store, case, data[size])
             for case, (size, _, stores) in CASES.items() for store in stores}
    refs = {}
    for case, (size, _, _) in CASES.items():
        out = tmp / f"reference-{case}.parquet"
        got = must(worker("shipyard", "reference", str(sides[f"shipyard-{case}"].config), data[size]["entities_path"],
                          str(out), str(tmp / f"latest-{size}.parquet"), timeout=1800), f"reference {case}")
        refs[case] = str(out)
        raw.setdefault("reference", {})[case] = got
        say(f"reference {case}: {got['reference_s']:.1f} s")

    if "train" in parts:
        say(f"training sets: the small set on every store, then each large case ({args.reps} processes per store, "
            "interleaved)")
        for case, (size, _, stores) in CASES.items():
            reps = 1 if size == "small" else args.reps
            for rep in range(reps):
                for store in stores:
                    key = f"{store}-{case}"
                    raw["train"].setdefault(key, []).append(
                        train(sides[key], data[size]["entities_path"], tmp / f"train-{key}-{rep}.parquet", args.timeout))
        say("correctness: every training set against the reference and against each other")
        for key, results in raw["train"].items():
            ok = [r for r in results if "output" in r]
            if ok:
                raw["checks"][f"{key} vs reference"] = compare(ok[0]["output"], refs[split_key(key)[1]])
        for case, (_, _, stores) in CASES.items():
            for other in stores[1:]:
                a, b = f"shipyard-{case}", f"{other}-{case}"
                ra = [r for r in raw["train"].get(a, []) if "output" in r]
                rb = [r for r in raw["train"].get(b, []) if "output" in r]
                if ra and rb:
                    raw["checks"][f"{a} vs {b}"] = compare(ra[0]["output"], rb[0]["output"], with_flags=False)
        for name, c in raw["checks"].items():
            say(f"  {name}: {'identical' if c['identical'] else 'DIFFERENT'} (rows {c['rows']:,}/{c['expected_rows']:,}, "
                f"dropped {c['dropped_rows']:,}, mismatched rows {c['mismatched_rows']:,})")
        for runs in raw["train"].values():  # the outputs are not needed any more (1M rows each)
            for r in runs:
                if "output" in r:
                    Path(r["output"]).unlink(missing_ok=True)

    plan = read_plan(sizes["big"])
    latest = pd.read_parquet(tmp / "latest-big.parquet").set_index("driver_id")
    if parts & {"materialize", "online", "http"}:
        say("materialization: everything into a fresh online store")
        for key in ("shipyard-big", "feast-duckdb-big"):
            side = sides[key]
            got = worker(side.tool, "materialize", side.tool, str(side.config), env=side.env, timeout=args.timeout)
            raw["materialize"][key] = got
            say(f"materialize, {key}: " + (f"{got['materialize_s']:.1f} s" if "materialize_s" in got else
                                            f"FAILED {got.get('error') or 'timeout'}"))
    if "online" in parts:
        reads = tmp / "reads.json"
        reads.write_text(json.dumps(plan))
        say(f"online reads in-process: {READS_ONE} × 1 entity, {READS_HUNDRED} × 100 entities, {args.online_reps} "
            "processes per tool")
        for rep in range(args.online_reps):
            for key in ("shipyard-big", "feast-duckdb-big"):
                side = sides[key]
                out = tmp / f"online-{key}-{rep}.json"
                got = worker(side.tool, "online", side.tool, str(side.config), str(reads), str(out), env=side.env,
                             timeout=900)
                if "error" not in got:
                    got["check"] = check_online(str(out), latest, plan["check"],
                                                ONLINE_AT if side.tool == "shipyard" else None)
                    say(f"online, {key}, process {rep + 1}: 1 entity median {got['one']['median_ms']:.3f} ms "
                        f"(p99 {got['one']['p99_ms']:.3f}), 100 entities median {got['hundred']['median_ms']:.2f} ms "
                        f"(p99 {got['hundred']['p99_ms']:.2f}); check mismatches {got['check']['mismatched_values']}")
                else:
                    say(f"online, {key}: FAILED {got['error']}")
                raw["online"].setdefault(key, []).append(got)
    if "http" in parts:
        feast_repo = json.loads(sides["feast-duckdb-big"].config.read_text())["repo"]
        servers = {
            "feast": (_proc.Server("feast serve", [str(VENV / "bin" / "feast"), "-c", feast_repo, "serve", "-h",
                                                   "127.0.0.1", "-p", "{port}", "--no-access-log", "--max-requests", "0"],
                                   "/health", tmp / "feast-serve.log", {"FEAST_USAGE": "False"}, core=SERVER_CORE,
                                   cwd=ROOT), "/get-online-features", {}),
            "shipyard": (_proc.Server("shipyard server", [str(Path(sys.executable).with_name("shipyard")), "server",
                                                          "--host", "127.0.0.1", "--port", "{port}"],
                                      "/healthz", tmp / "shipyard-server.log", sides["shipyard-big"].env,
                                      core=SERVER_CORE, cwd=ROOT), "/v1/features/online", {"at": ONLINE_AT}),
        }
        for _ in range(args.online_reps):
            for name, (server, path, extra) in servers.items():
                try:
                    got = measure_http(name, server, path, plan, extra, tmp)
                except RuntimeError as exc:
                    got = {"error": str(exc)}
                    say(f"HTTP, {name}: FAILED: {exc}")
                if "error" not in got:
                    got["check"] = check_http(got["check_path"], latest, plan["check"],
                                              ONLINE_AT if name == "shipyard" else None)
                raw["http"].setdefault(name, []).append(got)
    return raw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3, help="training-set processes per store at the large size")
    parser.add_argument("--online-reps", type=int, default=7, help="processes (in-process reads) and server starts "
                                                                     "(HTTP reads) per tool")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds per training / materialization process")
    parser.add_argument("--quick", action="store_true", help="small data, 1 repetition; no write")
    parser.add_argument("--parts", default="train,materialize,online,http", help="what to measure (for debugging)")
    parser.add_argument("--output", type=Path, default=BENCH / "RESULTS.md")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--render", type=Path, help="re-render the section from a saved run (bench/.work/features.json)")
    parser.add_argument("--keep", type=Path, help="keep the data and stores in this directory (for debugging)")
    args = parser.parse_args()
    args.command = "python bench/features.py" + "".join(f" {shlex.quote(a)}" for a in sys.argv[1:])
    if args.quick:
        args.reps, args.online_reps, args.no_write = 1, 1, True

    if args.render:
        raw = json.loads(args.render.read_text())
    else:
        feast = ensure_feast()
        shipyard = must(worker("shipyard", "info", "shipyard", timeout=300, quiet=False), "Shipyard info")
        started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        host_start = host_facts(ROOT)  # the checkout measured (the other engineer may commit meanwhile)
        t_start = time.perf_counter()
        with _proc.shipyard_bytecode():  # as a pip install leaves it (Feast's venv has its bytecode too)
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                raw = run(args, args.keep)
            else:
                with tempfile.TemporaryDirectory(prefix="shipyard-bench-features-") as tmp_dir:
                    raw = run(args, Path(tmp_dir))
        raw.update(command=args.command, reps=args.reps, online_reps=args.online_reps, timeout=args.timeout, started=started,
                   elapsed=time.perf_counter() - t_start, quick=args.quick,
                   facts=machine_facts(feast, shipyard, host_start))
        WORK.mkdir(exist_ok=True)
        RAW.write_text(json.dumps(raw, indent=1, default=str))
        say(f"measurements saved in {_rel(str(RAW))} (re-render with --render {_rel(str(RAW))})")
    text = render(raw)
    print(text)
    if not args.no_write:
        write_section(args.output, text, HEADING)
        say(f"wrote the feature-store section of {args.output}")


# -- reporting --------------------------------------------------------------------------------------
def machine_facts(feast: dict[str, Any], shipyard: dict[str, Any], host: dict[str, str]) -> dict[str, str]:
    """What the section says about the machine and versions; ``host``: :func:`host_facts` at the start.
    If HEAD moved while the benchmark ran, the files under src/ it changed are named."""
    end = host_facts(ROOT)
    moved = ""
    if end["commit"] != host["commit"]:
        changed = subprocess.run(["git", "diff", "--name-only", host["commit"], end["commit"], "--", "src"], cwd=ROOT,
                                 capture_output=True, text=True, check=False).stdout.split()
        moved = (f" (HEAD moved to {end['commit']} while this ran; under src/ that changed "
                 + (", ".join(f"`{c}`" for c in changed) if changed else "nothing") + ")")
    sv, fv = shipyard["versions"], feast["versions"]
    return {
        "machine": host["machine"],
        "python": f"{shipyard['python']} for Shipyard ({_rel(shipyard['executable'])}); {feast['python']} for "
                  f"Feast ({_rel(feast['executable'])})",
        "versions": f"Shipyard {sv['shipyard']} at {host['commit']}{host['dirty']}{moved} with DuckDB {sv['duckdb']}, "
                    f"pandas {sv['pandas']}, PyArrow {sv['pyarrow']}; Feast {fv['feast']} with DuckDB {fv['duckdb']}, "
                    f"ibis {fv['ibis-framework']}, Dask {fv['dask']}, pandas {fv['pandas']}, PyArrow {fv['pyarrow']}",
    }


def _rel(path: str) -> str:
    try:
        return str(Path(path).relative_to(ROOT))
    except ValueError:
        return path


def _gib(kib: float) -> str:
    return f"{kib / 2**20:.2f} GiB"


def _secs(x: float) -> str:
    return f"{x:.2f} s" if x < 10 else f"{x:.1f} s"


def _ms(x: float) -> str:
    return f"{x:.3f} ms" if x < 1 else f"{x:.2f} ms" if x < 100 else f"{x:.0f} ms"


def _faster(ratio: float) -> str:
    """``other / shipyard`` as words: "3.2× faster" or "1.3× slower"."""
    return f"{ratio:,.1f}× faster" if ratio >= 1 else f"{1 / ratio:,.1f}× slower"


def _status(ok: bool | None) -> str:
    return "—" if ok is None else "**met**" if ok else "**not met**"


def render(raw: dict[str, Any]) -> str:
    return "\n".join(_render_lines(raw)) + "\n"


def _ok(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in runs if "error" not in r and "timeout" not in r]


def _pooled(runs: list[dict[str, Any]], phase: str) -> dict[str, float]:
    times = [t for r in _ok(runs) for t in r[phase]["times_ms"]]
    if not times:
        return {}
    ordered = sorted(times)
    pick = lambda q: ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]  # noqa: E731
    return {"median": statistics.median(times), "p99": pick(0.99), "p90": pick(0.90), "n": len(times),
            "runs": [r[phase]["median_ms"] for r in _ok(runs)]}


def _train_head(runs: list[dict[str, Any]]) -> dict[str, Any]:
    done = _ok(runs)
    if not done:
        first = runs[0] if runs else {}
        return {"failed": first.get("error") or (f"timed out after {first['timeout']:.0f} s" if "timeout" in first
                                                  else "not run"), "tree_peak": first.get("tree_peak_kib", 0)}
    times = [r["train_s"] for r in done]
    return {"time": statistics.median(times), "min": min(times), "max": max(times), "n": len(done),
            "peak": statistics.median(r["peak_all_kib"] for r in done),
            "peak_max": max(r["peak_all_kib"] for r in done),
            "vmhwm": statistics.median(r["peak_kib"] for r in done), "tree": statistics.median(r["tree_peak_kib"]
                                                                                              for r in done),
            "cpu": statistics.median(r["cpu_s"] for r in done), "read": statistics.median(r["read_s"] for r in done),
            "loaded": statistics.median(r["rss_loaded_kib"] for r in done), "rows": done[0]["rows"],
            "entity_rows": done[0]["entity_rows"], "load": [r["load"] for r in done]}


STORE_NAMES = {"shipyard": "Shipyard", "feast-duckdb": "Feast, DuckDB offline store",
               "feast-file": "Feast, file (Dask) offline store (the default)"}


def _store(key: str) -> str:
    return STORE_NAMES[split_key(key)[0]]


def _ttl_words(case: str) -> str:
    ttl = CASES[case][1]
    return f"TTL {ttl} days" if ttl else "no TTL"


def _verdict(c: dict[str, Any] | None) -> str:
    if c is None:
        return "—"
    if c["identical"]:
        return "identical"
    parts = []
    if c["dropped_rows"]:
        parts.append(f"{c['dropped_rows']:,} entity rows dropped")
    if c["duplicated_rows"]:
        parts.append(f"{c['duplicated_rows']:,} duplicated")
    if c["unexpected_rows"]:
        parts.append(f"{c['unexpected_rows']:,} rows the other lacks")
    if c["mismatched_rows"]:
        parts.append(f"{c['mismatched_rows']:,} rows with other values")
    return "**different**: " + ", ".join(parts)


def _render_lines(raw: dict[str, Any]) -> list[str]:  # noqa: C901, PLR0912, PLR0915 - one linear report
    facts, sizes = raw["facts"], raw["sizes"]
    big, small = sizes["big"], sizes["small"]
    big_label = f"{big['entity_rows']:,} entity rows × {big['drivers'] * big['per_driver']:,} feature rows"
    small_label = f"{small['entity_rows']:,} entity rows × {small['drivers'] * small['per_driver']:,} feature rows"
    train = {k: _train_head(v) for k, v in raw["train"].items()}
    checks = raw["checks"]
    loads = [r["load"] for group in (raw["train"].values(), raw["online"].values(), raw["http"].values())
             for runs in group for r in runs if "load" in r]
    lines = [
        HEADING, "",
        "Generated by `bench/features.py`; do not edit by hand, re-run it.", "",
        f"- **Command:** `{raw['command']}` (run from the repository root)",
        f"- **Date:** {raw['started']} (whole run: {raw['elapsed']:.0f} s, excluding the one-time Feast install)",
        f"- **Machine:** {facts['machine']}",
        f"- **Python:** {facts['python']}",
        f"- **Versions:** {facts['versions']}",
        "- **Load:** 1-minute load average when each measured process started: "
        + (f"{min(loads):.1f} – {max(loads):.1f} (median {statistics.median(loads):.1f}) on 2 cores (a 1-minute "
           "average: it still counts the benchmark's own previous process, e.g. Feast's, which used both cores); "
           "the script waits for any other benchmark to finish before each measurement"
           if loads else "not recorded"),
        "",
        "Both tools read the same Parquet files and run with their defaults, each measurement in a fresh "
        "process: Shipyard with its embedded stores under a fresh `SHIPYARD_HOME` (SQLite metadata, SQLite "
        "online store), Feast with a feature repository (`provider: local`, `offline_store: duckdb` — or the "
        "default `file` —, `online_store: sqlite`). Ratios are what to read: both sides ran in this one "
        "invocation, on the same machine.",
        "",
        "### Targets",
        "",
        f"| target | Shipyard | Feast {FEAST_VERSION} (DuckDB offline store, SQLite online store) | ratio | target | "
        "status |",
        "|---|---|---|---|---|---|",
    ]
    for case in ("big-nottl", "big"):
        sy, fd = train.get(f"shipyard-{case}", {}), train.get(f"feast-duckdb-{case}", {})
        what = f"training set, {big_label}, {_ttl_words(case)}"
        if "time" in sy and "time" in fd:
            ratio = fd["time"] / sy["time"]
            lines.append(f"| {what}: time (medians of {sy['n']} and {fd['n']} processes) | {_secs(sy['time'])} | "
                         f"{_secs(fd['time'])} | **{_faster(ratio)}** | ≥ {SPEED_TARGET:.0f}× | "
                         f"{_status(ratio >= SPEED_TARGET)} |")
        elif "time" in sy:
            lines.append(f"| {what}: time | {_secs(sy['time'])} | {fd.get('failed', 'not run')} | | "
                         f"≥ {SPEED_TARGET:.0f}× | — |")
        if "peak" in sy:
            lines.append(f"| {what}: peak RSS of the process tree (largest of {sy['n']}) | "
                         f"{_gib(sy['peak_max'])} | {_gib(fd['peak_max']) if 'peak' in fd else '—'} | "
                         + (f"{fd['peak_max'] / sy['peak_max']:.1f}× less" if "peak" in fd else "") +
                         f" | < {MEMORY_TARGET_GIB:g} GiB | {_status(sy['peak_max'] < MEMORY_TARGET_GIB * 2**20)} |")
    on_sy, on_fd = raw["online"].get("shipyard-big", []), raw["online"].get("feast-duckdb-big", [])
    h_sy, h_fd = raw["http"].get("shipyard", []), raw["http"].get("feast", [])
    p_sy, p_fd = _pooled(on_sy, "hundred"), _pooled(on_fd, "hundred")
    if p_sy and p_fd:
        ratio = p_fd["median"] / p_sy["median"]
        lines.append(f"| online read of 100 entities, in-process (SDK): median of {p_sy['n']:,} calls | "
                     f"{_ms(p_sy['median'])} | {_ms(p_fd['median'])} | **{_faster(ratio)}** | ≥ {ONLINE_TARGET:g}× | "
                     f"{_status(ratio >= ONLINE_TARGET)} |")
    q_sy, q_fd = _pooled(h_sy, "hundred"), _pooled(h_fd, "hundred")
    if q_sy and q_fd:
        ratio = q_fd["median"] / q_sy["median"]
        lines.append(f"| online read of 100 entities, over HTTP: median of {q_sy['n']:,} requests | "
                     f"{_ms(q_sy['median'])} | {_ms(q_fd['median'])} | **{_faster(ratio)}** | "
                     f"≥ {ONLINE_TARGET:g}× | {_status(ratio >= ONLINE_TARGET)} |")
    o_sy, o_fd = _pooled(h_sy, "one"), _pooled(h_fd, "one")
    if o_sy:
        lines.append(f"| online read of 1 entity over HTTP: median of {o_sy['n']:,} requests (keep-alive) | "
                     f"{_ms(o_sy['median'])} | {_ms(o_fd['median']) if o_fd else '—'} | "
                     + (_faster(o_fd['median'] / o_sy['median']) if o_fd else "") +
                     f" | < {HTTP_TARGET_MS:g} ms | {_status(o_sy['median'] < HTTP_TARGET_MS)} |")
    elif "shipyard" in raw["http"]:
        err = raw["http"]["shipyard"][0].get("error", "")
        lines.append(f"| online read of 1 entity over HTTP | failed: {err[:200]} | | | < {HTTP_TARGET_MS:g} ms | — |")
    nottl = train.get("feast-duckdb-big-nottl", {})
    if "time" in nottl and not raw.get("quick"):
        lines += ["", f"The issue measured Feast's DuckDB store at about 220 s and 7.4 GiB for this size; here, "
                  f"without a TTL, it took {_secs(nottl['time'])} and {_gib(nottl['peak_max'])} (same Feast version; "
                  "the memory reproduces, the time does not: the ratios above are against the time measured in this "
                  "run, never the issue's)."]
    ttl_sy, ttl_fd = train.get("shipyard-big", {}), train.get("feast-duckdb-big", {})
    if "time" in ttl_sy and "time" in ttl_fd and ttl_fd["time"] / ttl_sy["time"] < SPEED_TARGET and not raw.get("quick"):
        lines += ["", f"With the 30-day TTL the target is missed: Feast's DuckDB join then pairs each entity row with "
                  f"only about 8 feature rows and takes {_secs(ttl_fd['time'])}, so 10× would mean "
                  f"{_secs(ttl_fd['time'] / SPEED_TARGET)}. Shipyard's time does not depend on the TTL: each of the "
                  "10 million feature rows' keys and event times is read and sorted once by the narrow ASOF join, "
                  "which alone took about 0.9 s of a 2.1 s call when profiled apart (the rest: the tie-break and the "
                  "join back of the values, 0.75 s; the DataFrame, 0.1 s; the dataset record's hash and profile, "
                  "0.2 s; in a fresh process, the imports and opening the store add about 0.3 s). The issue's own measurement of Feast (220 s, 7.4 GiB) is the configuration without a TTL."]
    lines += ["", "The training set is measured twice on the same files: without a TTL — the configuration whose "
              "Feast peak memory matches the issue's (7.4 GiB): Feast's join pairs every entity row with all of "
              "the driver's earlier feature rows — and with the view's 30-day TTL, which Feast turns into a join "
              "condition (about 8 feature rows per entity row here). Shipyard's join (a narrow ASOF join on keys and "
              "event times, then the tie-break among the matched rows and a join back of their values) does the "
              "same work either way. The 100-entity target is judged on the in-process reads (the issue's *online SDK "
              "reads*); the HTTP row shows the same comparison through each tool's feature server.", ""]

    # -- training sets
    lines += ["### Training sets", "",
              "The entity rows are read from Parquet into a DataFrame first (not timed); the timed call returns a "
              "DataFrame: `sy.features.training_set(entity_df, refs).to_pandas()` (it also records the training "
              "set as a dataset: content hash, views and versions) and `store.get_historical_features("
              "entity_df=entity_df, features=refs).to_df()`. Five features of one view. *Peak RSS* is the larger of the worker's VmHWM and the process tree's RSS polled "
              "every 0.1 s (the worker started no other processes).", "",
              "| data | store | time, median (min – max) | CPU time | peak RSS | RSS with the entity rows loaded | "
              "rows out / entity rows | result vs the pandas reference |",
              "|---|---|---|---|---|---|---|---|"]
    for case, (size, _, stores) in CASES.items():
        for store in stores:
            key = f"{store}-{case}"
            if key not in train:
                continue
            t = train[key]
            label = f"{small_label if size == 'small' else big_label}, {_ttl_words(case)}"
            if "failed" in t:
                lines.append(f"| {label} | {_store(key)} | failed: {t['failed'][:300]} (peak tree RSS "
                             f"{_gib(t['tree_peak'])}) | | | | | — |")
                continue
            spread = f" ({_secs(t['min'])} – {_secs(t['max'])}, {t['n']} runs)" if t["n"] > 1 else ""
            lines.append(f"| {label} | {_store(key)} | **{_secs(t['time'])}**{spread} | {_secs(t['cpu'])} | "
                         f"**{_gib(t['peak'])}** | {_gib(t['loaded'])} | {t['rows']:,} / {t['entity_rows']:,} | "
                         f"{_verdict(checks.get(f'{key} vs reference'))} |")
    if "time" in train.get("shipyard-small", {}) and "time" in train.get("feast-duckdb-small", {}):
        lines += ["", f"At the small size Feast's DuckDB store took "
                  f"{train['feast-duckdb-small']['time'] / train['shipyard-small']['time']:.1f}× Shipyard's time"
                  + (f", its file (Dask) store {train['feast-file-small']['time'] / train['shipyard-small']['time']:.1f}×"
                     if "time" in train.get("feast-file-small", {}) else "") + "."]
    lines += [""]

    # -- correctness
    lines += ["### Correctness of the training sets", "",
              "Each result is aligned with the reference on `row_id` (an entity-row column both tools carry "
              "through) and compared value by value (NaN = null). The reference (`reference` in "
              "bench/features_worker.py) is plain pandas: per driver and event time the row created last "
              "(then the last in the file), `merge_asof(direction='backward')`, then null where the chosen "
              "row's event time is more than the TTL before the entity row's. *At a tie*: the reference's chosen "
              "event time has rows with different created times.", "",
              "| comparison | rows compared | entity rows dropped | rows with other values (values) | of those: at a "
              "tie · past the TTL · no feature row | verdict |",
              "|---|---|---|---|---|---|"]
    for name, c in checks.items():
        flags = (f"{c.get('mismatched_at_ties', 0):,} · {c.get('mismatched_stale', 0):,} · "
                 f"{c.get('mismatched_unmatched', 0):,}") if "mismatched_at_ties" in c else "—"
        lines.append(f"| {_pretty(name, sizes)} | "
                     f"{c['compared_rows']:,} of {c['expected_rows']:,} | {c['dropped_rows']:,} | "
                     f"{c['mismatched_rows']:,} ({c['mismatched_values']:,}) | {flags} | {_verdict(c)} |")
    lines += ["", *_correctness_notes(raw), ""]

    # -- materialization
    mat = raw["materialize"]
    ms, mf = mat.get("shipyard-big", {}), mat.get("feast-duckdb-big", {})
    if ms or mf:
        lines += ["### Materialization", "",
                  f"Everything (event times up to {MATERIALIZE_END}) from the {big['drivers'] * big['per_driver']:,} "
                  f"feature rows into a fresh SQLite online store: each of the {big['drivers']:,} drivers' latest row. "
                  f"`sy.features.materialize(end='{MATERIALIZE_END}')`; Feast: `store.materialize(start_date="
                  f"{MATERIALIZE_START[:10]}, end_date={MATERIALIZE_END[:10]})`. One process each (a second run "
                  "would find a filled online store). The online check reads 1,000 drivers (and 10 unknown ones) "
                  "back in-process after the reads below and compares them with each driver's latest feature row.",
                  "", "| | Shipyard | Feast (DuckDB offline store → SQLite) | ratio |", "|---|---|---|---|"]
        if "materialize_s" in ms and "materialize_s" in mf:
            lines.append(f"| full materialization, time | **{_secs(ms['materialize_s'])}** | "
                         f"**{_secs(mf['materialize_s'])}** | {_faster(mf['materialize_s'] / ms['materialize_s'])} |")
            lines.append(f"| peak RSS of the process tree | {_gib(max(ms['peak_kib'], ms['tree_peak_kib']))} | "
                         f"{_gib(max(mf['peak_kib'], mf['tree_peak_kib']))} | |")
            if "rows" in ms:
                lines.append(f"| rows written to the online store (Shipyard's report; Feast writes each driver's latest "
                             f"row once) | {ms['rows']:,} in {ms['chunks']} time chunks, for {big['drivers']:,} drivers | "
                             f"{big['drivers']:,} | |")
        else:
            lines.append(f"| full materialization | {ms.get('error') or ms.get('timeout') or ''} | "
                         f"{mf.get('error') or mf.get('timeout') or ''} | |")
        cs = next((r["check"] for r in _ok(on_sy) if "check" in r), None)
        cf = next((r["check"] for r in _ok(on_fd) if "check" in r), None)
        if cs and cf:
            st = lambda c: ", ".join(f"{k} {v:,}" for k, v in sorted(c["statuses"].items()))  # noqa: E731
            lines.append(f"| online values of the check drivers that differ from the latest row | "
                         f"{cs['mismatched_values']} of {cs['values']:,} | {cf['mismatched_values']} of "
                         f"{cf['values']:,} | |")
            lines.append(f"| statuses of those values | {st(cs)} | {st(cf)} | |")
        lines.append("")

    # -- online reads
    if on_sy or on_fd:
        lines += ["### Online reads, in-process", "",
                  f"After a warm-up ({50} reads of each kind), {READS_ONE:,} reads of 1 driver and {READS_HUNDRED} "
                  "reads of 100 drivers (each read its own random drivers, the same for both tools), one after "
                  "another, every call timed (`time.perf_counter_ns`); five features each. Shipyard: "
                  f"`sy.features.online(refs, entity_rows=rows, at='{ONLINE_AT}').to_dict()`; Feast: "
                  "`store.get_online_features(features=refs, entity_rows=rows).to_dict()`. "
                  f"{len(on_sy)} processes per tool, interleaved; the latencies are pooled.", "",
                  "| read | Shipyard: median · p90 · p99 | Feast: median · p90 · p99 | ratio of medians · of p99 | "
                  "per-process medians (Shipyard; Feast) |", "|---|---|---|---|---|"]
        for phase, label in (("one", "1 entity"), ("hundred", "100 entities")):
            a, b = _pooled(on_sy, phase), _pooled(on_fd, phase)
            if a and b:
                lines.append(f"| {label} | **{_ms(a['median'])}** · {_ms(a['p90'])} · {_ms(a['p99'])} | "
                             f"**{_ms(b['median'])}** · {_ms(b['p90'])} · {_ms(b['p99'])} | "
                             f"{b['median'] / a['median']:.1f}× · {b['p99'] / a['p99']:.1f}× | "
                             f"{', '.join(_ms(x) for x in a['runs'])}; {', '.join(_ms(x) for x in b['runs'])} |")
        first_a = [r["first_call_s"] for r in _ok(on_sy)]
        first_b = [r["first_call_s"] for r in _ok(on_fd)]
        if first_a and first_b:
            lines.append(f"| first read in a fresh process (imports, opening the stores; not in the rows above) | "
                         f"{_secs(statistics.median(first_a))} | {_secs(statistics.median(first_b))} | "
                         f"{_faster(statistics.median(first_b) / statistics.median(first_a))} | |")
        lines.append("")
    if h_sy or h_fd:
        lines += ["### Online reads over HTTP", "",
                  f"Each server on core {SERVER_CORE} (`taskset`), one client on core {CLIENT_CORE}: one keep-alive "
                  "connection (`http.client`), a request at a time, after a warm-up of 200 1-entity and 50 "
                  "100-entity requests; the same reads as in-process. Bodies: `{\"features\": [...], \"entities\": "
                  "{\"driver_id\": [...]}, \"full_feature_names\": false}` to Feast's `POST /get-online-features` "
                  f"and, with `\"at\": \"{ONLINE_AT}\"` added, to Shipyard's `POST /v1/features/online`. "
                  "*Server CPU* is the user + system time of the server's processes over the phase (from /proc) per "
                  "request. "
                  f"{max(len(h_sy), len(h_fd))} server starts per tool, interleaved; latencies pooled.", "",
                  "| read | Shipyard: median · p90 · p99 | Feast: median · p90 · p99 | ratio of medians · of p99 | "
                  "server CPU per request (Shipyard; Feast) | per-run medians (Shipyard; Feast) |",
                  "|---|---|---|---|---|---|"]
        for phase, label in (("one", "1 entity"), ("hundred", "100 entities")):
            a, b = _pooled(h_sy, phase), _pooled(h_fd, phase)
            if a and b:
                cpu_a = statistics.median(r[phase]["server_cpu_ms_per_request"] for r in _ok(h_sy))
                cpu_b = statistics.median(r[phase]["server_cpu_ms_per_request"] for r in _ok(h_fd))
                lines.append(f"| {label} | **{_ms(a['median'])}** · {_ms(a['p90'])} · {_ms(a['p99'])} | "
                             f"**{_ms(b['median'])}** · {_ms(b['p90'])} · {_ms(b['p99'])} | "
                             f"{b['median'] / a['median']:.1f}× · {b['p99'] / a['p99']:.1f}× | "
                             f"{_ms(cpu_a)}; {_ms(cpu_b)} | "
                             f"{', '.join(_ms(x) for x in a['runs'])}; {', '.join(_ms(x) for x in b['runs'])} |")
        if _ok(h_sy) and _ok(h_fd):
            lines.append(f"| server start until healthy (not in the rows above) | "
                         f"{_secs(statistics.median(r['ready_s'] for r in _ok(h_sy)))} | "
                         f"{_secs(statistics.median(r['ready_s'] for r in _ok(h_fd)))} | | | |")
        hc_sy = next((r["check"] for r in _ok(h_sy) if "check" in r), None)
        hc_fd = next((r["check"] for r in _ok(h_fd) if "check" in r), None)
        if hc_sy and hc_fd:
            lines += ["", f"Values over HTTP for the 1,010 check drivers: Shipyard {hc_sy['mismatched_values']} and "
                      f"Feast {hc_fd['mismatched_values']} of {hc_sy['values']:,} differ from the latest rows; "
                      f"response columns: Shipyard {hc_sy['names']}, Feast {hc_fd['names']}."]
        errs = [f"{name}: {r['error'][:300]}" for name, runs in raw["http"].items() for r in runs if "error" in r]
        if errs:
            lines += ["", "HTTP failures: " + "; ".join(errs)]
        lines.append("")
    lines += _how(raw)
    return lines


def _pretty(name: str, sizes: dict[str, Any]) -> str:
    """``shipyard-big vs reference`` → ``Shipyard vs the pandas reference (1M × 10M, TTL 30 days)``."""
    parts = name.split(" vs ")
    case = split_key(parts[0])[1]
    sides = [_store(p) if p != "reference" else "the pandas reference" for p in parts]
    s = sizes[CASES[case][0]]
    return (f"{' vs '.join(sides)} ({_count(s['entity_rows'])} × {_count(s['drivers'] * s['per_driver'])}, "
            f"{_ttl_words(case)})")


def _correctness_notes(raw: dict[str, Any]) -> list[str]:
    """What the comparisons show, in words, computed from them."""
    checks, data = raw["checks"], raw["data"]
    out = ["What the comparisons show:", ""]
    keys = [f"{store}-{case}" for case, (_, _, stores) in CASES.items() for store in stores]
    for key in sorted(keys, key=lambda k: (not k.startswith("shipyard"), k)):
        c = checks.get(f"{key} vs reference")
        if c is None:
            continue
        case = split_key(key)[1]
        who = f"{_store(key)} ({raw['sizes'][CASES[case][0]]['entity_rows']:,} entity rows, {_ttl_words(case)})"
        if c["identical"]:
            out.append(f"- {who}: every entity row kept, in the reference's values "
                       f"(including {c['ref_rows_at_ties']:,} rows decided by a created-time tie, "
                       f"{c['ref_rows_stale']:,} past the TTL, {c['ref_rows_unmatched']:,} with no feature row at or "
                       "before their time).")
            continue
        parts = []
        if c["dropped_rows"]:
            parts.append(f"dropped {c['dropped_rows']:,} of {c['expected_rows']:,} entity rows — "
                         f"{c.get('dropped_stale', 0):,} whose latest feature row is past the TTL and "
                         f"{c.get('dropped_unmatched', 0):,} with no feature row at or before their time "
                         f"(the reference keeps them with null features)"
                         + (f", and {c['dropped_with_features']:,} that had features, "
                            f"{c.get('dropped_with_features_dup', 0):,} of them a duplicate entity row (same driver "
                            "and time as another row, which it kept once)" if c.get("dropped_with_features") else ""))
        if c["mismatched_rows"]:
            parts.append(f"of the rows it kept, {c['mismatched_rows']:,} have other values, "
                         f"{c.get('mismatched_at_ties', 0):,} of them where the chosen event time is a tie "
                         f"between rows created at different times"
                         + (f" (of {c['ref_rows_at_ties']:,} kept rows decided by such a tie)"
                            if c.get("ref_rows_at_ties") else ""))
        ex = c["examples"][0] if c["examples"] else None
        if ex:
            parts.append(f"e.g. row_id {ex['row_id']}: got conv_rate {ex['got']['conv_rate']}, expected "
                         f"{ex['expected']['conv_rate']}{' (a tie)' if ex.get('tie') else ''}")
        out.append(f"- {who}: " + "; ".join(parts) + ".")
    dask = checks.get("feast-file-small vs reference")
    if dask is not None and not dask["identical"]:
        out.append(f"- Where the file (Dask) store's differences come from (`feast/infra/offline_stores/dask.py`, Feast "
                   f"{FEAST_VERSION}): `_filter_ttl` keeps the merged (entity row, feature row) pairs whose event time "
                   "is within [entity time − TTL, entity time] (and entity rows of unknown drivers), so an entity row "
                   "with no such pair disappears instead of getting nulls; `_drop_duplicates` sorts by the created "
                   "time, then by the event time with Dask's partitioned `sort_values` (which does not keep the "
                   "created order among equal event times), and keeps the last row per join keys and entity time — "
                   "so a tie goes to whichever row the second sort leaves last, and duplicate entity rows become one.")
    d = data["big"]
    out += ["- Semantics the two stores share (and the reference implements): a feature row counts from its "
            "event time on (an entity row at exactly that time gets it); it is too old when the entity row's time "
            "minus the TTL is later than its event time (Feast: `event_timestamp + ttl >= entity time`; Shipyard: "
            "`entity time - event time > ttl` is stale) — equal at the boundary, which the planted rows at exactly "
            "*event time + TTL* and one second later test; among rows with the same event time the latest "
            "`created` wins; duplicate entity rows are each kept.",
            f"- The large data: {d['feature_rows']:,} feature rows ({d['feature_mib']:.0f} MiB of Parquet) with "
            f"{d['tied_rows']:,} rows in created-time ties, {d['duplicate_rows']:,} exact duplicates and "
            f"{d['null_conv_rate']:,} null conv_rate values; {d['entity_rows']:,} entity rows "
            f"({d['entity_mib']:.0f} MiB) with {d['unknown_entity_rows']:,} unknown drivers, "
            f"{d['entity_rows_before_data']:,} before the first feature row and {d['duplicate_entity_rows']:,} "
            "duplicates."]
    return out


def _dtypes(raw: dict[str, Any], key: str) -> str:
    """The pandas dtypes a store gave the integer features (from its first large training set)."""
    got = next((r["dtypes"] for r in raw["train"].get(key, []) if "dtypes" in r), {})
    kinds = sorted({got.get(f, "?") for f in ("avg_daily_trips", "lifetime_trips")})
    return " / ".join(f"`{k}`" for k in kinds)


def _how(raw: dict[str, Any]) -> list[str]:
    return [
        "### How it is measured", "",
        f"- Feast runs in `bench/.venv-feast` (created on first use: `python3 -m venv`, then `pip install "
        f"{' '.join(shlex.quote(s) for s in FEAST_SPEC)}`); Shipyard with the project's environment. Worker: "
        "`bench/features_worker.py`, a fresh process per measurement (module docstring there).",
        "- Data: `feature_rows` and `entity_rows` in bench/features.py (seeded), written once per run to a temporary "
        "directory; both tools read those files (Shipyard: `sy.ParquetSource(path, timestamp='event_timestamp', "
        "created='created')`; Feast: `FileSource(path=..., timestamp_field='event_timestamp', "
        "created_timestamp_column='created')`). Setting up (apply) is not timed.",
        "- Shipyard's modules are byte-compiled before the run, as a pip install does (this environment sets "
        "PYTHONDONTWRITEBYTECODE=1, so an editable install would otherwise compile them from source in every "
        "worker process, while Feast's venv, installed by pip, loads cached bytecode); the .pyc files are "
        "removed afterwards. Both sides' timed calls include their imports (`import shipyard`; Feast's "
        "`FeatureStore(repo_path)` on first use).",
        "- Feast's file (Dask) store runs only at the small size: the issue measured that it cannot do "
        "1M × 10M in 12 GiB.",
        "- Memory: VmHWM from `/proc/self/status` at the end of the timed call (the whole process, the entity "
        "rows and the result included) and the process tree's summed RSS polled every 0.1 s; the larger.",
        "- HTTP servers: `feast -c REPO serve -h 127.0.0.1 -p PORT --no-access-log --max-requests 0` (gunicorn "
        "with one uvicorn worker; access log off, as Shipyard's is, and no worker restart after 1,000 requests, "
        "Feast's default, which would land inside the timed phases) and `shipyard server --host 127.0.0.1 "
        "--port PORT` with the same `SHIPYARD_HOME`.",
        "- Percentiles (p90, p99) are nearest-rank over all the calls of a kind, pooled across the processes or "
        "server starts (e.g. p99 of 3,000 calls: the 30th slowest).",
        "",
        "### Fairness notes", "",
        f"- Online TTLs: Shipyard judges the TTL at the read's `at` (default now); the data is from 2025, so the "
        f"reads pass `at='{ONLINE_AT}'` — otherwise every value would be OUTSIDE_MAX_AGE and skipped, which "
        "is less work. Feast 0.67's SQLite online read returned every stored value as PRESENT although all of "
        "them are far older than the 30-day TTL now (observed; see the statuses above), i.e. it applies no TTL "
        "here.",
        "- Statuses: Feast reports a stored null value as PRESENT, Shipyard as NULL_VALUE (the check drivers' "
        "null conv_rate values above).",
        f"- Integer features: Shipyard returned {_dtypes(raw, 'shipyard-big')} columns, Feast "
        f"{_dtypes(raw, 'feast-duckdb-big')}; the comparison casts both to float64.",
        "- Shipyard's training-set call also records the result as a dataset (a content hash of the 1M rows), "
        "inside the timing; Feast records nothing.",
        "- Threads: DuckDB uses both cores in both tools. The machine is a shared virtual machine whose speed "
        "drifts, so single runs can be off by tens of percent: the large training sets ran in several "
        "processes per store, interleaved, and the medians are compared.",
        "",
    ]


if __name__ == "__main__":
    main()
