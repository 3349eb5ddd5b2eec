"""Faults: a process killed in the middle of logging or of an upload, SIGTERM, and exit paths."""

from __future__ import annotations

import signal
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from shipyard.artifacts._local import LocalArtifactStore
from shipyard.config import configure
from shipyard.entities import RunStatus
from shipyard.storage._sql import SqlStore
from shipyard.tracking._gc import collect
from shipyard.workspace import build_workspace

from .conftest import read_marker


def _settings(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "SHIPYARD_STORE_URI": f"sqlite:///{tmp_path / 'crash.db'}",
        "SHIPYARD_ARTIFACT_URI": (tmp_path / "artifacts").as_uri(),
        "SHIPYARD_HEARTBEAT_INTERVAL": "0.2",
        "SHIPYARD_HEARTBEAT_TIMEOUT": "1.5",
        "SHIPYARD_FLUSH_INTERVAL": "0.1",
        **extra,
    }


def _wait_status(store: SqlStore, run_id: str, status: RunStatus, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while store.get_run(run_id).status is not status:
        assert time.monotonic() < deadline, f"run {run_id} is {store.get_run(run_id).status}, expected {status}"
        time.sleep(0.1)


@pytest.mark.slow
def test_sigkill_while_logging_leaves_a_readable_store_and_a_killed_run(spawn: Any, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    proc = spawn(settings, "log_forever")
    run_id = read_marker(proc, "ready")
    time.sleep(0.5)  # keep logging (and flushing) for a while
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    db = tmp_path / "crash.db"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    store = SqlStore(settings["SHIPYARD_STORE_URI"])
    history = store.get_metric_history(run_id, "m")
    assert len(history) >= 2000
    assert [m.step for m in history] == list(range(len(history)))  # a prefix, no holes, no duplicates
    _wait_status(store, run_id, RunStatus.KILLED)
    assert [r.id for r in store.search_runs("default", filter="attributes.status = 'KILLED'").runs] == [run_id]
    report = collect(build_workspace(configure(store_uri=settings["SHIPYARD_STORE_URI"], artifact_uri=settings["SHIPYARD_ARTIFACT_URI"])))
    assert report.killed == 1
    persisted = store.get_run(run_id)
    assert persisted.status is RunStatus.KILLED and persisted.end_time is not None
    assert "heartbeat" in (persisted.failure or "")
    store.close()


@pytest.mark.slow
def test_sigkill_during_local_upload_leaves_no_visible_partial_artifact(spawn: Any, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    proc = spawn(settings, "upload_forever", str(tmp_path))
    run_id = read_marker(proc, "uploading")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = SqlStore(settings["SHIPYARD_STORE_URI"])
    run = store.get_run(run_id)
    assert [a.path for a in store.list_artifacts(run_id)] == ["ok.txt"]
    artifacts = LocalArtifactStore(run.artifact_uri)
    assert artifacts.list() == ["ok.txt"]  # the partial file is not under any real name
    assert not (Path(run.artifact_uri.removeprefix("file://")) / "model" / "huge.bin").exists()
    workspace = build_workspace(configure(store_uri=settings["SHIPYARD_STORE_URI"], artifact_uri=settings["SHIPYARD_ARTIFACT_URI"]))
    assert len(LocalArtifactStore(settings["SHIPYARD_ARTIFACT_URI"]).temporaries()) == 1
    assert collect(workspace, temp_age_s=0).temporaries == 1
    assert LocalArtifactStore(settings["SHIPYARD_ARTIFACT_URI"]).temporaries() == []
    store.close()


@pytest.mark.slow
@pytest.mark.backend("s3")
def test_sigkill_during_s3_upload_leaves_no_object(spawn: Any, tmp_path: Path, s3_endpoint: str) -> None:
    prefix = f"s3://shipyard/crash-{uuid.uuid4().hex[:8]}"
    settings = _settings(tmp_path, SHIPYARD_ARTIFACT_URI=prefix, SHIPYARD_S3_ENDPOINT_URL=s3_endpoint)
    proc = spawn(settings, "upload_forever", str(tmp_path))
    run_id = read_marker(proc, "uploading")
    time.sleep(2.5)  # past the first 8 MiB part: a multipart upload is in flight
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    from shipyard.artifacts._s3 import S3ArtifactStore

    store = SqlStore(settings["SHIPYARD_STORE_URI"])
    run = store.get_run(run_id)
    assert [a.path for a in store.list_artifacts(run_id)] == ["ok.txt"]
    assert S3ArtifactStore(run.artifact_uri, endpoint_url=s3_endpoint).list() == ["ok.txt"]
    store.close()


def test_sigterm_flushes_every_accepted_value_and_marks_killed(spawn: Any, tmp_path: Path) -> None:
    settings = _settings(tmp_path, SHIPYARD_FLUSH_INTERVAL="3600", SHIPYARD_FLUSH_MAX_ITEMS="1000000")
    proc = spawn(settings, "buffered", "10000", "sleep")
    run_id = read_marker(proc, "ready")
    store = SqlStore(settings["SHIPYARD_STORE_URI"])
    assert store.get_metric_history(run_id, "m") == []  # all still buffered
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    assert len(store.get_metric_history(run_id, "m")) == 10_000
    run = store.get_run(run_id)
    assert run.status is RunStatus.KILLED and run.end_time is not None
    store.close()


@pytest.mark.parametrize(("mode", "status", "code"), [("exit", RunStatus.FINISHED, 0), ("raise", RunStatus.FAILED, 1)])
def test_exit_without_ending_the_run(spawn: Any, tmp_path: Path, mode: str, status: RunStatus, code: int) -> None:
    settings = _settings(tmp_path, SHIPYARD_FLUSH_INTERVAL="3600", SHIPYARD_FLUSH_MAX_ITEMS="1000000")
    proc = spawn(settings, "buffered", "5000", mode)
    run_id = read_marker(proc, "ready")
    assert proc.wait(timeout=30) == code
    store = SqlStore(settings["SHIPYARD_STORE_URI"])
    run = store.get_run(run_id)
    assert run.status is status and len(store.get_metric_history(run_id, "m")) == 5000
    if mode == "raise":
        assert "boom at top level" in (run.failure or "")
    store.close()


def test_unreachable_store_keeps_values_buffered(tmp_path: Path) -> None:
    """A flush that cannot reach the store keeps the values and raises on flush(); nothing is lost."""
    from shipyard.entities import Metric
    from shipyard.exceptions import BackendUnavailable
    from shipyard.tracking._writer import BufferedWriter

    class Flaky:
        def __init__(self) -> None:
            self.fail = True
            self.got: list[Metric] = []

        def log_batch(self, run_id: str, metrics: Any = (), params: Any = (), tags: Any = ()) -> None:
            if self.fail:
                raise ConnectionError("database is down")
            self.got.extend(metrics)

    store = Flaky()
    writer = BufferedWriter(flush_interval=3600, max_items=10**6)
    writer.add(store, "r1", metrics=[Metric("m", float(i), i, 0) for i in range(100)])  # type: ignore[arg-type]
    with pytest.raises(BackendUnavailable, match="kept in memory"):
        writer.flush()
    writer.add(store, "r1", metrics=[Metric("m", 100.0, 100, 0)])  # type: ignore[arg-type]
    store.fail = False
    writer.flush()
    assert [m.step for m in store.got] == list(range(101))
    writer.close()
