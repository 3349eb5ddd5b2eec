"""Load: 16 SDK clients (separate processes) log metrics and upload artifacts through one server at
once for ``SHIPYARD_LOAD_SECONDS`` (default 60). Afterwards every metric value and every artifact
(size, sha256 and bytes) must be on the server, no operation may have failed, and the latency of
each operation (p50 / p95 / p99 / max) is reported in the "server measurements" section of the
pytest output and in ``load-summary.json`` under the test's temporary directory."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from shipyard.artifacts._rest import RestArtifactStore
from shipyard.entities import RunStatus
from shipyard.storage._rest import RestStore

from .conftest import ServerProcess, _env, read_marker

# Read at import: the autouse settings fixture removes SHIPYARD_* variables before each test runs.
SECONDS = float(os.environ.get("SHIPYARD_LOAD_SECONDS", "60"))
CLIENTS = 16
PART_SIZE = 64 * 1024  # small parts, so that the larger uploads are multipart uploads of 2-4 parts
CLIENT = Path(__file__).with_name("_load_client.py")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def _summary(results: list[dict[str, Any]], seconds: float) -> tuple[str, dict[str, Any]]:
    table: dict[str, Any] = {}
    lines = [f"{CLIENTS} clients x {seconds:.0f} s:"]
    for op in ("log_metrics", "upload", "upload_multipart"):
        values = [v for r in results for v in r["latencies"][op]]
        stats = {"count": len(values), "per_s": len(values) / seconds}
        stats.update({f"p{q}_ms": 1000 * _percentile(values, q) for q in (50, 95, 99)})
        stats["max_ms"] = 1000 * max(values)
        table[op] = stats
        lines.append(
            f"  {op:<17} n={stats['count']:>6}  {stats['per_s']:7.1f}/s  p50 {stats['p50_ms']:7.1f} ms  "
            f"p95 {stats['p95_ms']:7.1f} ms  p99 {stats['p99_ms']:7.1f} ms  max {stats['max_ms']:7.1f} ms"
        )
    return "\n".join(lines), table


def _verify(url: str, result: dict[str, Any]) -> int:
    """Every value and file the client logged is on the server; return the number of files checked."""
    client = RestStore(url)
    try:
        run = client.get_run(result["run_id"])
        assert run.status is RunStatus.FINISHED, run
        for key in result["keys"]:
            history = client.get_metric_history(run.id, key)
            assert sorted(m.step for m in history) == list(range(result["steps"])), f"{run.id} {key}: lost or doubled"
            assert all(m.value == float(m.step) for m in history)
        records = {r.path: [r.size, r.sha256] for r in client.list_artifacts(run.id)}
        assert records == result["artifacts"], f"{run.id}: artifact records differ"
        files = RestArtifactStore(run.artifact_uri, client.http)
        for path, (size, sha) in result["artifacts"].items():
            with files.open_reader(path) as fh:
                data = fh.read()
            assert (len(data), hashlib.sha256(data).hexdigest()) == (size, sha), f"{run.id} {path}"
        return len(records)
    finally:
        client.close()


@pytest.mark.slow
@pytest.mark.xdist_group("server-load")
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sixteen_clients_for_a_minute_lose_nothing(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, record_property: Any
) -> None:
    store_uri = request.getfixturevalue("postgres_uri") if backend == "postgresql" else f"sqlite:///{tmp_path / 'load.db'}"
    project = f"load-{uuid.uuid4().hex[:8]}"
    with ServerProcess(store_uri, (tmp_path / "artifacts").as_uri(), tmp_path, workers=2) as server:
        settings = {"SHIPYARD_URI": server.url, "SHIPYARD_PROJECT": project, "SHIPYARD_FLUSH_INTERVAL": "3600"}
        procs = []
        try:
            for i in range(CLIENTS):
                out = tmp_path / f"client-{i}.json"
                env = _env({**settings, "SHIPYARD_HOME": str(tmp_path / f"home-{i}")})
                with open(tmp_path / f"client-{i}.err", "wb") as err:
                    procs.append(subprocess.Popen(
                        [sys.executable, str(CLIENT), str(i), str(SECONDS), str(PART_SIZE), str(out)], env=env,
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True,
                    ))
            for proc in procs:
                read_marker(proc, "ready", timeout=180)
            for proc in procs:  # all at once
                assert proc.stdin is not None
                proc.stdin.write("go\n")
                proc.stdin.close()
            for i, proc in enumerate(procs):
                proc.wait(timeout=SECONDS + 300)
                err = (tmp_path / f"client-{i}.err").read_text(errors="replace")
                assert proc.returncode == 0, f"client {i} failed:\n{err[-3000:]}\nserver:\n{server.output()}"
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                if proc.stdout is not None:
                    proc.stdout.close()
        results = [json.loads((tmp_path / f"client-{i}.json").read_text()) for i in range(CLIENTS)]
        errors = [e for r in results for e in r["errors"]]
        assert errors == [], f"{len(errors)} operations failed, e.g. {errors[:5]}\nserver:\n{server.output()}"
        with ThreadPoolExecutor(8) as pool:
            files = sum(pool.map(lambda r: _verify(server.url, r), results))
    text, table = _summary(results, SECONDS)
    text += f"\n  verified: {sum(r['steps'] for r in results) * 20} metric values, {files} files (size, sha256, bytes)"
    (tmp_path / "load-summary.json").write_text(json.dumps({"backend": backend, "seconds": SECONDS, "clients": CLIENTS,
                                                             "operations": table}, indent=2))
    record_property("measurements", f"[{backend}] {text}")
    print(text)
    assert all(table[op]["count"] > 0 for op in table)
