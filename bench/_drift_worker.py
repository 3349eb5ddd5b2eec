"""One side of the monitoring benchmark (bench/monitoring.py), in a fresh process per measurement.

    .venv/bin/python bench/_drift_worker.py info shipyard
    bench/.venv-evidently/bin/python bench/_drift_worker.py time evidently REF.parquet CUR.parquet
    bench/.venv-evidently/bin/python bench/_drift_worker.py suite evidently MANIFEST.json

Runs with either environment's python (the project's for Shipyard, bench/.venv-evidently's for
Evidently), so it uses only the standard library, pandas (with pyarrow) and the tool itself. Both
tools read the same Parquet files with ``pandas.read_parquet`` and are called with their defaults:

* Shipyard: ``shipyard.monitoring.drift(reference, current)``; a column drifted when
  ``report.columns[name].drifted``.
* Evidently: ``Report([DataDriftPreset()], include_tests=True).run(current_data=current,
  reference_data=reference)``, then ``snapshot.dict()``; a column drifted when its
  "Value Drift for column …" test failed (``drift_detected`` of Evidently's own per-column check).

``time`` reads the two files (timed apart), runs one untimed warm-up on their first 2,000 rows, then
times the drift computation, verdicts included (wall clock, and CPU time of all the process's threads). Memory comes from /proc/self/status: VmRSS after the
imports and after reading, and VmHWM (peak resident set) before the timed call, then, after resetting
the high-water mark (``/proc/self/clear_refs``), the peak during the timed call.

``suite`` runs every case of a manifest (reference, current, columns) in this one process. When a
tool raises, the case is recorded as a crash with the error, and run again without the columns that
hold no value at all on either side (all-null columns); the verdicts of that second run are reported
together with the crash and the dropped columns.

Prints one line ``BENCH_RESULT {json}`` on stdout.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Before evidently is imported: no usage telemetry (the benchmark machine has no network anyway).
os.environ["DO_NOT_TRACK"] = "1"
os.environ["EVIDENTLY_DISABLE_TELEMETRY"] = "1"
warnings.simplefilter("ignore")

WARM_UP_ROWS = 2_000
Verdict = dict[str, Any]


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0); False where the kernel refuses."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def shipyard_drift() -> Callable[[Any, Any], Verdict]:
    from shipyard.monitoring import drift

    def run(reference: Any, current: Any) -> Verdict:
        report = drift(reference, current)
        return {"flagged": report.drifted_columns, "columns": list(report.columns),
                "dataset_drifted": bool(report.dataset_drifted),
                "methods": {n: c.test for n, c in report.columns.items()}}

    return run


def evidently_drift() -> Callable[[Any, Any], Verdict]:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    def run(reference: Any, current: Any) -> Verdict:
        snapshot = Report([DataDriftPreset()], include_tests=True).run(current_data=current, reference_data=reference)
        result = snapshot.dict()
        flagged, columns, methods = [], [], {}
        for test in result["tests"]:
            params = test["metric_config"]["params"]
            if params.get("type", "").endswith(":ValueDrift"):
                columns.append(params["column"])
                methods[params["column"]] = params.get("method")
                if str(test["status"]).upper().endswith("FAIL"):
                    flagged.append(params["column"])
        counts = next(m["value"] for m in result["metrics"] if m["metric_name"].startswith("DriftedColumnsCount"))
        return {"flagged": flagged, "columns": columns, "dataset_drifted": bool(counts["share"] >= 0.5),
                "methods": methods}

    return run


TOOLS = {"shipyard": shipyard_drift, "evidently": evidently_drift}


def info(tool: str) -> dict[str, Any]:
    from importlib import metadata

    dists = {"shipyard": ["shipyard-mlops"], "evidently": ["evidently"]}[tool] + ["pandas", "numpy", "scipy", "pyarrow"]
    versions = {}
    for dist in dists:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "?"
    return {"python": platform.python_version(), "executable": sys.executable, "versions": versions}


def time_one(tool: str, reference_path: str, current_path: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    import pandas as pd

    run = TOOLS[tool]()
    imported = time.perf_counter() - t0
    rss_imported = _status_kib("VmRSS")
    t0 = time.perf_counter()
    reference = pd.read_parquet(reference_path)
    current = pd.read_parquet(current_path)
    read = time.perf_counter() - t0
    run(reference.iloc[:WARM_UP_ROWS], current.iloc[:WARM_UP_ROWS])  # untimed: lazy imports, first calls
    rss_loaded = _status_kib("VmRSS")
    peak_before = _status_kib("VmHWM")
    reset = _reset_peak()
    rss_start = _status_kib("VmRSS")
    t0, c0 = time.perf_counter(), time.process_time()
    verdict = run(reference, current)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak_during = _status_kib("VmHWM")
    return {"tool": tool, "rows": [len(reference), len(current)], "import_s": imported, "read_s": read,
            "drift_s": seconds, "cpu_s": cpu, "rss_imported_kib": rss_imported, "rss_loaded_kib": rss_loaded,
            "rss_start_kib": rss_start, "peak_before_kib": peak_before, "peak_during_kib": peak_during,
            "peak_kib": max(peak_before, peak_during), "peak_reset": reset, **verdict}


def suite(tool: str, manifest_path: str) -> dict[str, Any]:
    import pandas as pd

    run = TOOLS[tool]()
    cases = json.loads(Path(manifest_path).read_text())
    out = []
    for case in cases:
        reference, current = pd.read_parquet(case["reference"]), pd.read_parquet(case["current"])
        record: dict[str, Any] = {"name": case["name"], "crash": None, "dropped": []}
        t0 = time.perf_counter()
        try:
            record.update(run(reference, current))
        except Exception as exc:  # noqa: BLE001 - a crash is a result here
            record["crash"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            record["crash_at"] = traceback.extract_tb(exc.__traceback__)[-1].filename.split("site-packages/")[-1]
            empty = [c for c in reference.columns if reference[c].isna().all() or current[c].isna().all()]
            record["dropped"] = [str(c) for c in empty]
            try:
                record.update(run(reference.drop(columns=empty), current.drop(columns=empty)))
            except Exception as again:  # noqa: BLE001
                record["crash_again"] = f"{type(again).__name__}: {str(again).splitlines()[0] if str(again) else ''}"
        record["seconds"] = time.perf_counter() - t0
        out.append(record)
        print(f"  {tool}: {case['name']}: {record.get('flagged')} {record['crash'] or ''} "
              f"({record['seconds']:.1f} s)", file=sys.stderr, flush=True)
    return {"tool": tool, "cases": out}


def main() -> None:
    mode, tool, *paths = sys.argv[1:]
    if tool not in TOOLS:
        raise SystemExit(f"unknown tool {tool!r}; one of {sorted(TOOLS)}")
    if mode == "info":
        result = info(tool)
    elif mode == "time":
        result = time_one(tool, *paths)
    elif mode == "suite":
        result = suite(tool, *paths)
    else:
        raise SystemExit(f"unknown mode {mode!r}: info, time or suite")
    print("BENCH_RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
