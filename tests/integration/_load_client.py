"""One client of the server load test (``test_server_load.py``), run as a script: the unchanged SDK
pointed at the server by ``SHIPYARD_URI``. It starts a run, prints ``ready <run id>``, waits for a
line on stdin, then for ``seconds`` logs metrics (20 values per step, flushed: one ``log_batch``
each) and uploads artifacts (one in four larger than ``part_size``, so a multipart upload), timing
every operation. It writes what it logged, the latencies and any errors as JSON to ``out``."""

from __future__ import annotations

import hashlib
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

KEYS = [f"m{k:02d}" for k in range(20)]


def main(index: int, seconds: float, part_size: int, out: str) -> None:
    import shipyard as sy
    from shipyard.workspace import current_workspace

    rng = random.Random(index)
    files = Path(out + ".files")
    files.mkdir()
    latencies: dict[str, list[float]] = {"log_metrics": [], "upload": [], "upload_multipart": []}
    errors: list[str] = []
    artifacts: dict[str, list[Any]] = {}
    run = sy.start_run(experiment="load", run_name=f"client-{index}")
    current_workspace().artifacts_for(run.artifact_uri).part_size = part_size  # type: ignore[attr-defined]
    print(f"ready {run.id}", flush=True)
    sys.stdin.readline()
    deadline = time.monotonic() + seconds
    step = 0
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            run.log_metrics({key: float(step) for key in KEYS}, step=step)
            step += 1  # accepted: from here on the values must reach the server
            run.flush()
            latencies["log_metrics"].append(time.perf_counter() - started)
        except Exception as exc:  # noqa: BLE001 - reported to the test, which fails on any
            errors.append(f"log_metrics: {exc!r}")
        multipart = step % 4 == 0
        size = rng.randint(part_size + 1, 4 * part_size) if multipart else rng.randint(1, part_size)
        data = rng.randbytes(size)
        local = files / f"{step:06d}.bin"
        local.write_bytes(data)
        started = time.perf_counter()
        try:
            run.log_artifact(local, "files")
            latencies["upload_multipart" if multipart else "upload"].append(time.perf_counter() - started)
            artifacts[f"files/{local.name}"] = [size, hashlib.sha256(data).hexdigest()]
        except Exception as exc:  # noqa: BLE001
            errors.append(f"upload {local.name}: {exc!r}")
        local.unlink()
    try:
        run.end()
    except Exception as exc:  # noqa: BLE001
        errors.append(f"end: {exc!r}")
    result = {"run_id": run.id, "steps": step, "keys": KEYS, "artifacts": artifacts, "latencies": latencies, "errors": errors}
    Path(out).write_text(json.dumps(result))
    print("done", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
