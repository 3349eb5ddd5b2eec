"""Several processes registering versions and moving one alias at once (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from shipyard.config import configure
from shipyard.registry import Registry
from shipyard.workspace import build_workspace

WORKERS, VERSIONS, MOVES = 4, 10, 15


def _logged_model(settings: dict[str, str], project: str) -> str:
    from sklearn.linear_model import LogisticRegression

    from shipyard.tracking import TrackingClient

    ws = build_workspace(configure(store_uri=settings["SHIPYARD_STORE_URI"], artifact_uri=settings["SHIPYARD_ARTIFACT_URI"]))
    run = TrackingClient(ws, project).start_run(experiment="conc")
    info = run.log_model(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), input_example=[[0.5]])
    run.end()
    return info.uri


def _scenario(spawn: Any, settings: dict[str, str], project: str) -> None:
    uri = _logged_model(settings, project)
    procs = [spawn(settings, "register_many", uri, str(VERSIONS)) for _ in range(WORKERS)]
    for proc in procs:
        _out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    ws = build_workspace(configure(store_uri=settings["SHIPYARD_STORE_URI"], artifact_uri=settings["SHIPYARD_ARTIFACT_URI"]))
    registry = Registry(ws, project)
    versions = sorted(v.version for v in registry.search_versions("shared-model"))
    assert versions == list(range(1, WORKERS * VERSIONS + 1))
    procs = [spawn(settings, "move_alias", str(w), str(MOVES)) for w in range(WORKERS)]
    for proc in procs:
        _out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    history = registry.alias_history("shared-model", "champion")
    assert len(history) == WORKERS * MOVES
    assert {e.reason for e in history} == {f"w{w}-{i}" for w in range(WORKERS) for i in range(MOVES)}
    for before, after in zip(history, history[1:], strict=False):
        assert after.previous_version == before.version  # every move saw the one before it
    assert registry.get_model("shared-model").aliases["champion"] == history[-1].version
    ws.close()


@pytest.mark.slow
def test_concurrent_registration_sqlite(spawn: Any, tmp_path: Path) -> None:
    settings = {"SHIPYARD_STORE_URI": f"sqlite:///{tmp_path / 'reg.db'}", "SHIPYARD_ARTIFACT_URI": (tmp_path / "a").as_uri(),
                "SHIPYARD_PROJECT": "reg"}
    _scenario(spawn, settings, "reg")


@pytest.mark.slow
@pytest.mark.backend("postgres")
def test_concurrent_registration_postgres(spawn: Any, tmp_path: Path, postgres_uri: str) -> None:
    project = f"reg-{uuid.uuid4().hex[:8]}"
    settings = {"SHIPYARD_STORE_URI": postgres_uri, "SHIPYARD_ARTIFACT_URI": (tmp_path / "a").as_uri(), "SHIPYARD_PROJECT": project}
    _scenario(spawn, settings, project)
