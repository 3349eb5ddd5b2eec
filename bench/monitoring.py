"""Monitoring benchmark: Shipyard's drift detection against Evidently's DataDriftPreset, in one run.

    python bench/monitoring.py             # part of `make bench`; writes its section of bench/RESULTS.md
    python bench/monitoring.py --no-write  # print the tables only
    python bench/monitoring.py --quick     # 20k rows and 1 repetition: a smoke test of the script
    python bench/monitoring.py --render bench/.work/monitoring.json   # the section again from the last run's
                                           # saved measurements (after a change to the wording only)

Evidently is the anchor. It runs in its own environment, bench/.venv-evidently (created here on
first use: ``python3 -m venv`` + ``pip install`` of EVIDENTLY_SPEC below); it is never installed into
the project's environment. Every measurement runs bench/_drift_worker.py in a fresh process, with
the project's python for Shipyard and the venv's python for Evidently; both read the same Parquet
files, written once per run from seeded NumPy generators.

1. **Speed and memory.** Reference and current windows of 100,000 and 1,000,000 rows each, 25
   columns (20 numeric of five shapes, some with 2% missing; 5 categorical: 4 colours, 50 regions
   with a long tail, 1,000 store ids, a boolean, integer codes 1–8), both drawn from one
   distribution. Per measurement: read both files (timed apart), an untimed warm-up on their first
   2,000 rows, then the timed drift computation with the per-column verdicts. Memory: peak RSS of
   the process (imports + data + drift) and the peak during the timed call above the RSS at its
   start. ``--reps`` processes per side and size, interleaved; medians.
2. **Detection quality.** A suite with known answers per column: thirteen planted changes (mean,
   variance, scale, category frequencies, new categories, missing-value jump, heavier tails, a
   heavy-tailed location shift, integer-coded categorical, a boolean rate, three at once, and two
   inside a high-cardinality column of 1,000 store ids: half its ids replaced with unseen ones, its
   ids concentrated on a few), each in a window of 5,000 and one of 1,000 rows against a 20,000-row
   reference; in every data set the store column (unchanged except in its two scenarios), an
   all-null column and six more columns that do not change. And data sets with nothing to find:
   two samples of one distribution, 500 vs 500 rows (8 seeds), 1k vs 1k (4 seeds), 10k vs 10k (4
   seeds) and 1M vs 1M (1 seed). Each column verdict is scored: precision and recall over the
   planted suite, false alarms everywhere. (The two store scenarios were unscored probes in the
   first version of this benchmark, when Shipyard's profile could not see inside such a column.)

Targets (from the issue): at 1M rows Shipyard at least 20× faster than Evidently, with less peak
memory, and better precision and recall on the planted-drift data.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
from _results import host_facts, write_section  # noqa: E402

HEADING = "## Monitoring: drift detection (bench/monitoring.py)"
VENV = BENCH / ".venv-evidently"
WORKER = BENCH / "_drift_worker.py"
WORK = BENCH / ".work"  # git-ignored: the last run's raw measurements
RAW = WORK / "monitoring.json"
# Evidently 0.7.23 imports a pandas internal that pandas 3 removed, so its venv keeps pandas 2.
EVIDENTLY_SPEC = ["evidently==0.7.23", "pandas>=2.2,<3", "pyarrow"]
EVIDENTLY_VERSION = "0.7.23"
SPEED_TARGET = 20.0
T0 = time.perf_counter()

PlantFn = Callable[[pd.DataFrame, np.random.Generator], None]


def say(message: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f}s] {message}", flush=True)


# -- data -------------------------------------------------------------------------------------------
COLORS = np.array(["red", "green", "blue", "black"])
COLOR_P = [0.4, 0.3, 0.2, 0.1]
CODE_P = [0.1, 0.15, 0.25, 0.3, 0.2]


def timing_frame(n: int, seed: int) -> pd.DataFrame:
    """20 numeric columns (normal, log-normal, Student t(3), exponential, wide integers as floats;
    every fourth with 2% missing) and 5 categorical ones."""
    r = np.random.default_rng(seed)
    cols: dict[str, Any] = {}
    for i in range(20):
        shape = i % 5
        if shape == 0:
            v = r.normal(10 + i, 1 + i / 10, n)
        elif shape == 1:
            v = r.lognormal(0, 0.5 + i / 40, n)
        elif shape == 2:
            v = r.standard_t(3, n) * (1 + i / 10)
        elif shape == 3:
            v = r.exponential(1 + i, n)
        else:
            v = r.integers(0, 10_000, n).astype(np.float64)
        if i % 4 == 1:
            v[r.random(n) < 0.02] = np.nan
        cols[f"num_{i:02d}"] = v
    cols["cat_color"] = COLORS[r.choice(4, n, p=COLOR_P)]
    cols["cat_region"] = np.char.add("region_", np.minimum(r.zipf(1.5, n), 50).astype(str))
    cols["cat_store"] = np.char.add("store_", r.integers(0, 1000, n).astype(str))
    cols["cat_flag"] = r.random(n) < 0.3
    cols["cat_code"] = r.choice(np.arange(1, 9), n)
    return pd.DataFrame(cols)


def suite_frame(n: int, seed: int) -> pd.DataFrame:
    """The quality suite's columns, all drawn from one distribution."""
    r = np.random.default_rng(seed)
    sparse = r.normal(0.0, 1.0, n)
    sparse[r.random(n) < 0.05] = np.nan
    return pd.DataFrame({
        "normal": r.normal(10.0, 2.0, n),
        "skewed": r.lognormal(0.0, 0.75, n),
        "heavy": r.standard_t(3, n),
        "wide_int": r.integers(0, 1000, n),  # integers with many values: numeric for both tools
        "sparse": sparse,  # 5% missing
        "code": r.choice(np.arange(1, 6), n, p=CODE_P),  # integer codes: categorical for both tools
        "color": COLORS[r.choice(4, n, p=COLOR_P)],
        "store": np.char.add("store_", r.integers(0, 1000, n).astype(str)),  # high cardinality
        "flag": r.random(n) < 0.3,
        "empty": np.full(n, np.nan),  # all null on both sides, never drifts
    })


def _set(col: str, make: Callable[[np.random.Generator, int], Any]) -> PlantFn:
    def plant(df: pd.DataFrame, r: np.random.Generator) -> None:
        df[col] = make(r, len(df))
    return plant


def _nulls(col: str, rate: float) -> PlantFn:
    def plant(df: pd.DataFrame, r: np.random.Generator) -> None:
        df[col] = df[col].where(r.random(len(df)) >= rate)
    return plant


def _new_categories(df: pd.DataFrame, r: np.random.Generator) -> None:
    new = np.array(["purple", "orange"])[r.integers(0, 2, len(df))]
    df["color"] = np.where(r.random(len(df)) < 0.15, new, df["color"].to_numpy())


# name → (changes to the current window, the columns that must be flagged)
PLANTED: dict[str, tuple[list[PlantFn], set[str]]] = {
    "mean shift +0.5 sd": ([_set("normal", lambda r, n: r.normal(11.0, 2.0, n))], {"normal"}),
    "variance ×2.25 (sd 2 → 3)": ([_set("normal", lambda r, n: r.normal(10.0, 3.0, n))], {"normal"}),
    "log-normal scale ×1.5": ([_set("skewed", lambda r, n: 1.5 * r.lognormal(0.0, 0.75, n))], {"skewed"}),
    "category frequencies": ([_set("color", lambda r, n: COLORS[r.choice(4, n, p=[0.25, 0.3, 0.25, 0.2])])],
                             {"color"}),
    "new categories (15%)": ([_new_categories], {"color"}),
    "missing 5% → 25%": ([_nulls("sparse", 0.2)], {"sparse"}),
    "heavier tails: t(3) → t(1)": ([_set("heavy", lambda r, n: r.standard_t(1, n))], {"heavy"}),
    "heavy-tailed shift: t(3) + 0.5": ([_set("heavy", lambda r, n: r.standard_t(3, n) + 0.5)], {"heavy"}),
    "integer codes reweighted": ([_set("code", lambda r, n: r.choice(np.arange(1, 6), n, p=CODE_P[::-1]))], {"code"}),
    "boolean 30% → 45%": ([_set("flag", lambda r, n: r.random(n) < 0.45)], {"flag"}),
    "three at once": ([_set("normal", lambda r, n: r.normal(11.0, 2.0, n)), _new_categories,
                       _set("code", lambda r, n: r.choice(np.arange(1, 6), n, p=CODE_P[::-1]))],
                      {"normal", "color", "code"}),
    # Inside the high-cardinality column (1,000 near-equally frequent ids; last, so the other
    # scenarios keep their seeds from the benchmark's first version, where these two were probes).
    "store: half the ids unseen": (
        [_set("store", lambda r, n: np.char.add("store_", r.integers(500, 1500, n).astype(str)))], {"store"}),
    "store: ids concentrated (Zipf)": (
        [_set("store", lambda r, n: np.char.add("store_", np.minimum(r.zipf(1.3, n), 1000).astype(str)))], {"store"}),
}
HIGH_CARDINALITY = ("store: half the ids unseen", "store: ids concentrated (Zipf)")
PLANTED_REFERENCE_ROWS = 20_000
PLANTED_WINDOWS = (5_000, 1_000)
NO_DRIFT = ((500, 8), (1_000, 4), (10_000, 4), (1_000_000, 1))  # (rows on each side, seeds)


@dataclass(frozen=True)
class Case:
    name: str
    group: str  # "planted" or "no drift"
    reference: Path
    current: Path
    rows: tuple[int, int]
    expected: frozenset[str]


def write_suite(tmp: Path, quick: bool) -> list[Case]:
    """Every quality case as two Parquet files; the list of cases."""
    cases: list[Case] = []
    reference = suite_frame(PLANTED_REFERENCE_ROWS, seed=1)
    ref_path = tmp / "suite-reference.parquet"
    reference.to_parquet(ref_path)
    for i, (name, (plants, expected)) in enumerate(PLANTED.items()):
        for j, rows in enumerate(PLANTED_WINDOWS):
            seed = 100 + 10 * i + j
            current = suite_frame(rows, seed)
            r = np.random.default_rng(seed + 1000)
            for plant in plants:
                plant(current, r)
            path = tmp / f"suite-planted-{i}-{rows}.parquet"
            current.to_parquet(path)
            cases.append(Case(f"{name}, {rows:,} rows", "planted", ref_path, path,
                              (PLANTED_REFERENCE_ROWS, rows), frozenset(expected)))
    for rows, seeds in NO_DRIFT:
        rows = min(rows, 20_000) if quick else rows
        for seed in range(seeds):
            paths = []
            for side in (0, 1):
                path = tmp / f"suite-same-{rows}-{seed}-{side}.parquet"
                suite_frame(rows, seed=5_000 + 2 * seed + side).to_parquet(path)
                paths.append(path)
            cases.append(Case(f"no drift, {rows:,} vs {rows:,} rows, seed {seed}", "no drift", paths[0], paths[1],
                              (rows, rows), frozenset()))
    return cases


# -- the workers ------------------------------------------------------------------------------------
def _python(tool: str) -> Path:
    return Path(sys.executable) if tool == "shipyard" else VENV / "bin" / "python"


def worker(tool: str, *args: str, timeout: float = 1800) -> dict[str, Any]:
    """Run bench/_drift_worker.py for ``tool`` in a fresh process; its JSON result."""
    proc = subprocess.run([str(_python(tool)), str(WORKER), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=str(ROOT), check=False)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("BENCH_RESULT "):
            return json.loads(line[len("BENCH_RESULT "):])  # type: ignore[no-any-return]
    raise RuntimeError(f"{tool} worker {' '.join(args)} failed (exit {proc.returncode}).\n"
                       f"--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-3000:]}")


def ensure_evidently() -> dict[str, Any]:
    """bench/.venv-evidently with EVIDENTLY_SPEC (created on first use); the worker's version facts."""
    if _python("evidently").exists():
        try:
            facts = worker("evidently", "info", "evidently", timeout=300)
            if facts["versions"]["evidently"] == EVIDENTLY_VERSION:
                return facts
            say(f"bench/.venv-evidently has Evidently {facts['versions']['evidently']}; installing {EVIDENTLY_SPEC}")
        except (RuntimeError, subprocess.SubprocessError) as exc:
            say(f"bench/.venv-evidently is not usable ({str(exc).splitlines()[0]}); (re)installing Evidently")
    else:
        base = shutil.which("python3") or sys.executable
        say(f"creating bench/.venv-evidently with {base} (one time; installing Evidently takes a minute or two)")
        subprocess.run([base, "-m", "venv", str(VENV)], check=True)
    pip = [str(_python("evidently")), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, *EVIDENTLY_SPEC], check=True)
    return worker("evidently", "info", "evidently", timeout=300)


# -- 1. speed and memory ----------------------------------------------------------------------------
def measure_speed(tmp: Path, sizes: list[int], reps: int, timeout: float) -> dict[int, dict[str, list[dict[str, Any]]]]:
    out: dict[int, dict[str, list[dict[str, Any]]]] = {}
    for rows in sizes:
        ref, cur = tmp / f"timing-ref-{rows}.parquet", tmp / f"timing-cur-{rows}.parquet"
        timing_frame(rows, seed=11).to_parquet(ref)
        timing_frame(rows, seed=12).to_parquet(cur)
        out[rows] = {"shipyard": [], "evidently": []}
        for rep in range(reps):
            for tool in ("shipyard", "evidently"):
                try:
                    got = worker(tool, "time", tool, str(ref), str(cur), timeout=timeout)
                except subprocess.TimeoutExpired:
                    got = {"timeout": timeout}
                out[rows][tool].append(got)
                shown = f"> {timeout:.0f} s (timed out)" if "timeout" in got else (
                    f"drift {got['drift_s']:.2f} s, read {got['read_s']:.2f} s, peak {got['peak_kib'] / 1024:,.0f} MiB, "
                    f"flagged {got['flagged']}")
                say(f"{rows:,} rows, {tool}, repetition {rep + 1}/{reps}: {shown}")
        ref.unlink()
        cur.unlink()
    return out


# -- 2. detection quality ---------------------------------------------------------------------------
def run_suite(tmp: Path, cases: list[Case]) -> dict[str, dict[str, dict[str, Any]]]:
    manifest = tmp / "manifest.json"
    manifest.write_text(json.dumps([{"name": c.name, "reference": str(c.reference), "current": str(c.current)}
                                    for c in cases]))
    out = {}
    for tool in ("shipyard", "evidently"):
        t0 = time.perf_counter()
        got = worker(tool, "suite", tool, str(manifest), timeout=3600)
        out[tool] = {case["name"]: case for case in got["cases"]}
        say(f"quality suite, {tool}: {len(cases)} data sets in {time.perf_counter() - t0:.0f} s")
    return out


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    crashed: int = 0  # column verdicts missing because the tool crashed on the data set

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")


def score(cases: list[Case], results: dict[str, dict[str, Any]], groups: tuple[str, ...] = ("planted", "no drift"),
          column: str | None = None) -> Score:
    """Column verdicts of one tool against the known answers, over the cases of ``groups`` and the
    column ``column`` (all when None). A column the tool gave no verdict on (it crashed and the
    column was dropped) counts as not flagged, and is counted in ``crashed``."""
    s = Score()
    for case in cases:
        if case.group not in groups:
            continue
        got = results[case.name]
        flagged = set(got.get("flagged") or [])
        judged = set(got.get("columns") or [])
        for col in suite_frame(1, 0).columns if column is None else [column]:
            hit, want = col in flagged, col in case.expected
            s.tp += hit and want
            s.fp += hit and not want
            s.fn += want and not hit
            s.tn += not hit and not want
            s.crashed += col not in judged
    return s


# -- reporting --------------------------------------------------------------------------------------
def machine_facts(evidently: dict[str, Any], shipyard: dict[str, Any]) -> dict[str, str]:
    host = host_facts(ROOT)
    sv, ev = shipyard["versions"], evidently["versions"]
    return {
        "machine": host["machine"],
        "python": f"{shipyard['python']} for Shipyard ({_rel(shipyard['executable'])}); {evidently['python']} for "
                  f"Evidently ({_rel(evidently['executable'])})",
        "versions": f"Shipyard {sv['shipyard-mlops']} at {host['commit']}{host['dirty']}"
                    + f" with pandas {sv['pandas']}, NumPy {sv['numpy']}, SciPy {sv['scipy']}, PyArrow {sv['pyarrow']}; "
                    f"Evidently {ev['evidently']} with pandas {ev['pandas']}, NumPy {ev['numpy']}, SciPy {ev['scipy']}, "
                    f"PyArrow {ev['pyarrow']}",
    }


def _rel(path: str) -> str:
    try:
        return str(Path(path).relative_to(ROOT))
    except ValueError:
        return path


def _mib(kib: float) -> str:
    return f"{kib / 1024:,.0f} MiB"


def _secs(x: float) -> str:
    return f"{x:.2f} s" if x < 10 else f"{x:.1f} s"


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _fmt_ratio(x: float) -> str:
    return f"{x:.2f}" if x == x else "—"


def _status(ok: bool, tie: bool = False) -> str:
    return "**met**" if ok else "**not met** (tied)" if tie else "**not met**"


def speed_rows(speed: dict[int, dict[str, list[dict[str, Any]]]]) -> tuple[list[str], dict[str, Any]]:
    """The speed and memory table, and the headline numbers at the largest size."""
    rows = ["| rows (each side) | tool | drift, median (min – max) | CPU time of the drift call | read both files | "
            "RSS after imports | RSS with the data loaded | peak RSS of the process | peak during drift above its "
            "start | columns flagged |", "|---|---|---|---|---|---|---|---|---|---|"]
    head: dict[str, Any] = {}
    for size, tools in speed.items():
        for tool, runs in tools.items():
            done = [r for r in runs if "timeout" not in r]
            if not done:
                limit = runs[0]["timeout"]
                rows.append(f"| {size:,} | {tool} | > {limit:.0f} s (timed out, {len(runs)} runs) | | | | | | | |")
                head[tool] = {"drift": float("inf"), "timeout": limit}
                continue
            drift = [r["drift_s"] for r in done]
            during = statistics.median(r["peak_during_kib"] - r["rss_start_kib"] for r in done)
            timeouts = len(runs) - len(done)
            flagged = sorted({c for r in done for c in r["flagged"]})
            rows.append(
                f"| {size:,} | {tool} | **{_secs(statistics.median(drift))}** ({_secs(min(drift))} – {_secs(max(drift))}"
                f"{f', {timeouts} timed out' if timeouts else ''}) | {_secs(_median(done, 'cpu_s'))} | "
                f"{_secs(_median(done, 'read_s'))} | "
                f"{_mib(_median(done, 'rss_imported_kib'))} | {_mib(_median(done, 'rss_loaded_kib'))} | "
                f"**{_mib(_median(done, 'peak_kib'))}** | {_mib(during)} | "
                f"{len(flagged)} of {len(done[0]['columns'])}{': ' + ', '.join(flagged) if flagged else ''} |")
            head[tool] = {"drift": statistics.median(drift), "cpu": _median(done, "cpu_s"),
                          "peak": _median(done, "peak_kib"), "during": during,
                          "size": size, "n": len(done)}
    return rows, head


def quality_rows(cases: list[Case], quality: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    rows = ["| data set | rows (reference / current) | drifted (known) | Shipyard flagged | Evidently flagged |",
            "|---|---|---|---|---|"]
    for case in cases:
        cells = []
        for tool in ("shipyard", "evidently"):
            got = quality[tool][case.name]
            flagged = set(got.get("flagged") or [])
            text = ", ".join(sorted(flagged)) or "—"
            missed = case.expected - flagged
            extra = flagged - case.expected
            marks = ([f"missed {', '.join(sorted(missed))}"] if missed else []) + (
                [f"{len(extra)} false alarm{'s' if len(extra) > 1 else ''}"] if extra else [])
            if got.get("crash"):
                marks.append(f"crashed; re-run without {', '.join(got['dropped'])}")
            cells.append(text + (f" (**{'; '.join(marks)}**)" if marks else ""))
        rows.append(f"| {case.name} | {case.rows[0]:,} / {case.rows[1]:,} | {', '.join(sorted(case.expected)) or '—'} | "
                    f"{cells[0]} | {cells[1]} |")
    return rows


def render(args: argparse.Namespace, facts: dict[str, str], speed: dict[int, dict[str, list[dict[str, Any]]]],
           cases: list[Case], quality: dict[str, dict[str, dict[str, Any]]], started: str, elapsed: float) -> str:
    speed_table, head = speed_rows(speed)
    sy, ev = head["shipyard"], head["evidently"]
    size = sy["size"]
    ratio = ev["drift"] / sy["drift"]
    sp, ep = score(cases, quality["shipyard"], ("planted",)), score(cases, quality["evidently"], ("planted",))
    sn, en = score(cases, quality["shipyard"], ("no drift",)), score(cases, quality["evidently"], ("no drift",))
    sa, ea = score(cases, quality["shipyard"]), score(cases, quality["evidently"])
    crashes = sum(bool(quality["evidently"][c.name].get("crash")) for c in cases)
    sy_crashes = sum(bool(quality["shipyard"][c.name].get("crash")) for c in cases)
    ev_time = f"> {ev['timeout']:.0f} s (timed out)" if "timeout" in ev else _secs(ev["drift"])
    mem_ok = "peak" in ev and sy["peak"] < ev["peak"] and sy["during"] < ev["during"]
    lines = [
        HEADING, "",
        "Generated by `bench/monitoring.py`; do not edit by hand, re-run it (`make bench`).", "",
        f"- **Command:** `{args.command}` (run from the repository root)",
        f"- **Date:** {started} (whole run: {elapsed:.0f} s, excluding the one-time Evidently install)",
        f"- **Machine:** {facts['machine']}",
        f"- **Python:** {facts['python']}",
        f"- **Versions:** {facts['versions']}",
        "",
        "Every measurement is a fresh process; both tools read the same Parquet files and run with their "
        "defaults: `shipyard.monitoring.drift(reference, current)` and Evidently's "
        "`Report([DataDriftPreset()], include_tests=True).run(current_data=…, reference_data=…)` (a column "
        "drifted when its *Value Drift* test failed). Ratios are what to read: the machine is shared.",
        "",
        "### Targets",
        "",
        f"| target | Shipyard | Evidently {EVIDENTLY_VERSION} | ratio | target | status |",
        "|---|---|---|---|---|---|",
        f"| drift time, {size:,} vs {size:,} rows × 25 columns, median of {sy['n']} | {_secs(sy['drift'])} | "
        f"{ev_time} | **{ratio:,.0f}×** faster | ≥ {SPEED_TARGET:.0f}× | {_status(ratio >= SPEED_TARGET)} |",
    ]
    if "peak" in ev:
        lines += [
            f"| peak RSS of the process (imports, data, drift), {size:,} rows | {_mib(sy['peak'])} | "
            f"{_mib(ev['peak'])} | {ev['peak'] / sy['peak']:.1f}× less | less | {_status(sy['peak'] < ev['peak'])} |",
            f"| peak during the drift call above the RSS at its start, {size:,} rows | {_mib(sy['during'])} | "
            f"{_mib(ev['during'])} | {ev['during'] / max(sy['during'], 1):.1f}× less | less | "
            f"{_status(sy['during'] < ev['during'])} |",
        ]
    lines += [
        f"| precision on the planted-drift suite ({len([c for c in cases if c.group == 'planted'])} data sets × 10 "
        f"columns) | {_fmt_ratio(sp.precision)} ({sp.tp} of {sp.tp + sp.fp}) | {_fmt_ratio(ep.precision)} "
        f"({ep.tp} of {ep.tp + ep.fp}) | | higher | {_status(sp.precision > ep.precision, sp.precision == ep.precision)} |",
        f"| recall on the planted-drift suite ({sp.tp + sp.fn} drifted columns) | {_fmt_ratio(sp.recall)} "
        f"({sp.tp} of {sp.tp + sp.fn}) | {_fmt_ratio(ep.recall)} ({ep.tp} of {ep.tp + ep.fn}) | | higher | "
        f"{_status(sp.recall > ep.recall, sp.recall == ep.recall)} |",
        "",
        f"Memory target, read strictly: met only when both memory rows are (here: {_status(mem_ok)}).",
        "",
        "### Speed and memory",
        "",
        f"{args.reps} processes per tool and size, interleaved (Shipyard, Evidently, Shipyard, …). *drift* is the "
        "timed call, verdicts included; reading the two Parquet files is timed apart and not included. Both "
        "windows come from one distribution, so every flagged column is a false alarm.",
        "",
        *speed_table,
        "",
        "### Detection quality",
        "",
        "| | Shipyard | Evidently |",
        "|---|---|---|",
        f"| planted suite: precision (flagged columns that had drifted) | {_fmt_ratio(sp.precision)} "
        f"({sp.tp}/{sp.tp + sp.fp}) | {_fmt_ratio(ep.precision)} ({ep.tp}/{ep.tp + ep.fp}) |",
        f"| planted suite: recall (drifted columns flagged) | {_fmt_ratio(sp.recall)} ({sp.tp}/{sp.tp + sp.fn}) | "
        f"{_fmt_ratio(ep.recall)} ({ep.tp}/{ep.tp + ep.fn}) |",
        f"| planted suite: false alarms (of {sp.fp + sp.tn} unchanged column verdicts) | {sp.fp} | {ep.fp} |",
        f"| no-drift data sets: false alarms (of {sn.fp + sn.tn} column verdicts) | {sn.fp} | {en.fp} |",
        f"| no-drift data sets with any column flagged (of {len([c for c in cases if c.group == 'no drift'])}) | "
        f"{_any_flagged(cases, quality['shipyard'])} | {_any_flagged(cases, quality['evidently'])} |",
        f"| whole suite: precision · recall | {_fmt_ratio(sa.precision)} · {_fmt_ratio(sa.recall)} | "
        f"{_fmt_ratio(ea.precision)} · {_fmt_ratio(ea.recall)} |",
        f"| data sets the tool crashed on (of {len(cases)}) | {sy_crashes} | {crashes} |",
        *_high_cardinality_rows(cases, quality),
        "",
        *_per_column(cases, quality),
        "",
        *_crash_notes(cases, quality),
        "Per data set (a reference of 20,000 rows for the planted changes):",
        "",
        *quality_rows(cases, quality),
        "",
        *_method_notes(cases, quality),
        *_findings(cases, quality),
        "### How it is measured",
        "",
        *_how(args, ratio, ev.get("cpu", float("nan")) / sy["cpu"]),
    ]
    return "\n".join(lines) + "\n"


def _high_cardinality_rows(cases: list[Case], quality: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """The two store scenarios on their own, and the planted suite without them (the first version's)."""
    store = [c for c in cases if any(c.name.startswith(f"{name}, ") for name in HIGH_CARDINALITY)]
    hits = [sum("store" in (quality[t][c.name].get("flagged") or []) for c in store) for t in ("shipyard", "evidently")]
    rest = [c for c in cases if c not in store]
    sr, er = score(rest, quality["shipyard"], ("planted",)), score(rest, quality["evidently"], ("planted",))
    return [f"| store scenarios (1,000 ids; half unseen, Zipf-concentrated): changed column flagged (of {len(store)}) | "
            f"{hits[0]} | {hits[1]} |",
            f"| planted suite without the store scenarios (the first version's): precision · recall | "
            f"{_fmt_ratio(sr.precision)} · {_fmt_ratio(sr.recall)} | {_fmt_ratio(er.precision)} · "
            f"{_fmt_ratio(er.recall)} |"]


def _any_flagged(cases: list[Case], results: dict[str, dict[str, Any]]) -> int:
    return sum(bool(results[c.name].get("flagged")) for c in cases if c.group == "no drift")


def _per_column(cases: list[Case], quality: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    lines = ["Per column, over the whole suite (planted and no-drift data sets): precision · recall · false alarms "
             "(— where the column never drifted or was never flagged).", "",
             "| column | Shipyard | Evidently |", "|---|---|---|"]
    for col in suite_frame(1, 0).columns:
        cells = []
        for tool in ("shipyard", "evidently"):
            s = score(cases, quality[tool], column=col)
            cells.append(f"{_fmt_ratio(s.precision)} · {_fmt_ratio(s.recall)} · {s.fp}"
                         + (f" ({s.crashed} verdicts missing: crash)" if s.crashed else ""))
        lines.append(f"| {col} | {cells[0]} | {cells[1]} |")
    return lines


def _crash_notes(cases: list[Case], quality: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    lines = []
    for tool in ("shipyard", "evidently"):
        crashed = [(c.name, quality[tool][c.name]) for c in cases if quality[tool][c.name].get("crash")]
        if not crashed:
            continue
        messages = sorted({r["crash"] for _, r in crashed})
        dropped = sorted({d for _, r in crashed for d in r["dropped"]})
        again = [n for n, r in crashed if r.get("crash_again")]
        lines += [f"**{tool.capitalize()} crashed on {len(crashed)} of {len(cases)} data sets** "
                  f"({'; '.join(f'`{m}`' for m in messages)}, raised in `{crashed[0][1].get('crash_at')}`). Each "
                  f"was run again without the all-null column{'s' if len(dropped) > 1 else ''} "
                  f"({', '.join(dropped)}); its verdicts come from that second run, and the dropped column counts "
                  "as not flagged (it never drifts, so this cannot cost precision or recall)."
                  + (f" Still crashing without them: {', '.join(again)}." if again else ""), ""]
    return lines


def _findings(cases: list[Case], quality: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """What the verdicts show, in words, computed from them."""
    lines = ["What the verdicts show:", ""]
    scored = cases
    for tool in ("shipyard", "evidently"):
        alarms: dict[str, int] = {}
        missed: list[str] = []
        for case in scored:
            flagged = set(quality[tool][case.name].get("flagged") or [])
            for col in flagged - case.expected:
                alarms[col] = alarms.get(col, 0) + 1
            missed += [f"{col} in *{case.name}*" for col in sorted(case.expected - flagged)]
        by_col = ", ".join(f"{col} {n}" for col, n in sorted(alarms.items(), key=lambda kv: -kv[1]))
        lines.append(f"- {tool.capitalize()}: {sum(alarms.values())} false alarms" + (f" ({by_col})" if by_col else "")
                     + f"; {len(missed)} missed" + (f": {'; '.join(missed)}" if missed else "") + ".")
    ev = quality["evidently"]
    big = [c for c in scored if c.rows[1] >= 5_000 and "store" not in c.expected]
    store = sum("store" in (ev[c.name].get("flagged") or []) for c in big)
    if store:
        lines.append(f"- Evidently flagged `store` (1,000 ids drawn uniformly, unchanged) in {store} of {len(big)} "
                     "data sets with windows of 5,000 rows or more where it did not change: the Jensen–Shannon "
                     "distance between two samples spread over 1,000 categories is over its 0.1 threshold from "
                     "sampling noise alone. Shipyard's effect size subtracts the distance noise alone gives "
                     "(docs/monitoring.md, *Many sparse categories*).")
    small = [c for c in scored if c.rows[0] <= 1_000]
    noisy = sum(bool(ev[c.name].get("flagged")) for c in small)
    if noisy:
        lines.append(f"- With a reference of 1,000 rows or fewer Evidently switches to p-value tests (K-S, chi-squared, "
                     f"Z) at 0.05 per column, uncorrected for the number of columns: {noisy} of {len(small)} such "
                     "no-drift data sets had a false alarm.")
    gaps = [c for c in scored if "sparse" in c.expected and "sparse" not in (ev[c.name].get("flagged") or [])]
    if gaps:
        lines.append(f"- Evidently missed the missing-value jump in {len(gaps)} of "
                     f"{sum('sparse' in c.expected for c in scored)} windows: its drift tests drop missing values "
                     "before comparing (its missing-value checks are separate metrics, not part of DataDriftPreset).")
    store = [c for c in scored if "store" in c.expected]
    if store:
        hits = {tool: sum("store" in (quality[tool][c.name].get("flagged") or []) for c in store)
                for tool in ("shipyard", "evidently")}
        lines.append(
            f"- The store scenarios: Shipyard flagged the changed high-cardinality column in {hits['shipyard']} of "
            f"{len(store)} windows, Evidently in {hits['evidently']}. Shipyard's profile lists every value of a "
            "column of up to 2,000 (`max_categories`), so a new id is known as new and chi-squared runs over the "
            "ids, sparse ones grouped; in the benchmark's first version it kept only values that clearly beat "
            "those left out — none of 1,000 near-equal ids — and flagged 0 of these 4.")
    return [*lines, ""]


def _method_notes(cases: list[Case], quality: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """Which test each tool chose per column, by data-set size (Evidently switches with the size)."""
    lines = ["Tests chosen per column (each tool's defaults):", ""]
    for tool in ("shipyard", "evidently"):
        seen: dict[str, dict[str, set[str]]] = {}
        for case in cases:
            for col, method in (quality[tool][case.name].get("methods") or {}).items():
                size = "reference ≤ 1,000 rows" if case.rows[0] <= 1000 else "reference > 1,000 rows"
                seen.setdefault(size, {}).setdefault(str(method), set()).add(col)
        for size, methods in sorted(seen.items()):
            parts = [f"{m}: {', '.join(sorted(cols))}" for m, cols in sorted(methods.items())]
            lines.append(f"- {tool.capitalize()}, {size}: {'; '.join(parts)}.")
    return [*lines, ""]


def _how(args: argparse.Namespace, ratio: float, cpu_ratio: float) -> list[str]:
    return [
        f"- Evidently runs in `bench/.venv-evidently` (created on first use: `python3 -m venv`, then "
        f"`pip install {' '.join(shlex.quote(s) for s in EVIDENTLY_SPEC)}`); Evidently {EVIDENTLY_VERSION} fails to "
        "import with pandas 3 (`infer_dtype_from_object` is gone), so that environment keeps pandas 2. "
        "Shipyard runs with the project's environment (pandas 3). Both use `pandas.read_parquet` (PyArrow) on the "
        "same files; pandas 3 holds the text columns as Arrow-backed strings, pandas 2 as Python objects — "
        "part of the difference in *RSS with the data loaded*, which is why the drift call's own peak is "
        "reported too.",
        "- Worker: `bench/_drift_worker.py`, one process per measurement (per tool for the quality suite). Timed: "
        "the drift call and turning its result into per-column verdicts (Shipyard: `report.drifted_columns`; "
        "Evidently: `snapshot.dict()` and its tests). Not timed: imports, reading the files, and one warm-up "
        "call on the first 2,000 rows of each window (lazy imports, first-call costs; both tools).",
        "- Memory from `/proc/self/status`: *peak RSS of the process* is VmHWM over the whole process (imports, "
        "both data frames, warm-up, drift); *peak during drift* is VmHWM over the timed call (the high-water mark "
        "is reset through `/proc/self/clear_refs` just before it) minus the RSS at its start.",
        f"- Speed data: `timing_frame` in this script, reference seed 11, current seed 12; "
        f"{args.timeout:.0f} s timeout per process.",
        "- Quality data: `suite_frame` and `PLANTED` in this script. Columns: `normal` N(10, 2); `skewed` "
        "log-normal(0, 0.75); `heavy` Student t(3); `wide_int` integers 0–999; `sparse` N(0, 1) with 5% missing; "
        "`code` integer codes 1–5 (int64; categorical for both tools); `color` 4 strings; `store` 1,000 "
        "uniformly drawn ids (high cardinality; changed only in its two scenarios); `flag` boolean 30%; `empty` "
        "all null (never drifts). A planted change replaces only the named column(s) of the current window, so every other "
        "column is a no-drift column; a column is scored drifted exactly when it was planted.",
        "- Scores count column verdicts: precision = planted columns flagged / all flagged, recall = planted "
        "columns flagged / planted columns. *Higher* in the targets means strictly higher; equal is not met.",
        "- Both tools' data-set verdicts (share of drifted columns ≥ 0.5) are computed but not scored: at most "
        "three of ten columns drift here.",
        "",
        "### Fairness notes",
        "",
        "- Evidently is run as its documentation shows, with every default. `DataDriftPreset` computes each "
        "column's test twice — once for `DriftedColumnsCount` (through the legacy `DatasetDriftMetric`) and once "
        "in the column's `ValueDrift` — and `run` also builds each column's plot data. Even if a leaner use of "
        f"Evidently took half the time, the largest size's ratio would be {ratio / 2:,.0f}×.",
        "- Shipyard spreads the columns over a pool of 4 threads (NumPy's sorts release the GIL); Evidently "
        "goes through the columns one after another. CPU time of all threads is in the speed table: at the "
        f"largest size Evidently used {cpu_ratio:,.0f}× Shipyard's CPU time, against {ratio:,.0f}× its "
        "wall-clock time" + (", so the threads are not where the difference comes from" if cpu_ratio >= ratio / 1.5
                             else "") + ". The machine's cores (listed above) were shared with other work (another "
        "engineer's test runs) while the benchmark ran, which is why the min – max spread is wide.",
        "- The no-drift speed data let every flagged column count as a false alarm; the speed rows' last cell "
        "shows them.",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000", help="rows per side for speed and memory")
    parser.add_argument("--reps", type=int, default=3, help="processes per tool and size")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per timing process")
    parser.add_argument("--quick", action="store_true", help="20k rows, 1 repetition, small no-drift sets; no write")
    parser.add_argument("--output", type=Path, default=BENCH / "RESULTS.md")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--render", type=Path, help="re-render the section from a saved run (bench/.work/monitoring.json)")
    args = parser.parse_args()
    args.command = "python bench/monitoring.py" + "".join(f" {a}" for a in sys.argv[1:])
    if args.quick:
        args.sizes, args.reps, args.no_write = "20000", 1, True
    sizes = [int(s) for s in args.sizes.split(",")]

    if args.render:  # the tables again from a saved run's measurements (no measuring)
        raw = json.loads(args.render.read_text())
        args.command, args.reps, args.timeout = raw["command"], raw["reps"], raw["timeout"]
        speed = {int(k): v for k, v in raw["speed"].items()}
        cases = [Case(c["name"], c["group"], Path(c["reference"]), Path(c["current"]), tuple(c["rows"]),
                      frozenset(c["expected"])) for c in raw["cases"]]
        text = render(args, raw["facts"], speed, cases, raw["quality"], raw["started"], raw["elapsed"])
    else:
        evidently = ensure_evidently()
        shipyard = worker("shipyard", "info", "shipyard", timeout=300)
        started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        t_start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="shipyard-bench-monitoring-") as tmp_dir:
            tmp = Path(tmp_dir)
            say(f"speed and memory: {', '.join(f'{s:,}' for s in sizes)} rows per side, {args.reps} processes per tool")
            speed = measure_speed(tmp, sizes, args.reps, args.timeout)
            say("quality suite: writing the data sets")
            cases = write_suite(tmp, args.quick)
            quality = run_suite(tmp, cases)
        elapsed = time.perf_counter() - t_start
        facts = machine_facts(evidently, shipyard)
        WORK.mkdir(exist_ok=True)
        RAW.write_text(json.dumps({
            "command": args.command, "reps": args.reps, "timeout": args.timeout, "facts": facts, "speed": speed,
            "cases": [{"name": c.name, "group": c.group, "reference": str(c.reference), "current": str(c.current),
                       "rows": list(c.rows), "expected": sorted(c.expected)} for c in cases],
            "quality": quality, "started": started, "elapsed": elapsed}, indent=1))
        say(f"measurements saved in {_rel(str(RAW))} (re-render with --render {_rel(str(RAW))})")
        text = render(args, facts, speed, cases, quality, started, elapsed)
    print(text)
    if not args.no_write:
        write_section(args.output, text, HEADING)
        say(f"wrote the monitoring section of {args.output}")


if __name__ == "__main__":
    main()
