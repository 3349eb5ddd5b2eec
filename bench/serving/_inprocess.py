"""The in-process limit of bench/serving/run.py: ``model.predict_proba`` on a numpy batch in a loop.

    taskset -c 0 python bench/serving/_inprocess.py MODEL.pkl BATCHES.npz SECONDS

Run pinned to the core the servers get, in a fresh process (so LightGBM's OpenMP sees one core, as
in the servers). For each array in BATCHES.npz (``rows_1``, ``rows_100``): an untimed warm-up, then
calls for SECONDS; prints ``BENCH_RESULT {"1": {"calls", "seconds", "rows_per_s", "us_per_call"}, ...}``.
"""

from __future__ import annotations

import json
import pickle
import sys
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore", message="X does not have valid feature names")


def main() -> None:
    model_path, batches_path, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    with open(model_path, "rb") as f:
        model = pickle.load(f)  # noqa: S301 - written by run.py
    out = {}
    with np.load(batches_path) as batches:
        for key in sorted(batches.files, key=lambda k: int(k.split("_")[1])):
            x = np.ascontiguousarray(batches[key], dtype=np.float64)
            warm_end = time.perf_counter() + min(1.0, seconds / 4)
            while time.perf_counter() < warm_end:
                model.predict_proba(x)
            calls, started = 0, time.perf_counter()
            end = started + seconds
            while True:
                model.predict_proba(x)
                calls += 1
                now = time.perf_counter()
                if now >= end:
                    break
            elapsed = now - started
            out[str(len(x))] = {"calls": calls, "seconds": elapsed, "rows_per_s": calls * len(x) / elapsed,
                                "us_per_call": elapsed / calls * 1e6}
    print("BENCH_RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
