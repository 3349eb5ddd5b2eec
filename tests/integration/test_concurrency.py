"""Several processes logging into one store at once: every value stored exactly once."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from shipyard.storage._sql import SqlStore
from shipyard.storage._sql._schema import metrics, runs

WORKERS, RUNS, VALUES = 4, 20, 500


def _check(uri: str, project: str) -> None:
    store = SqlStore(uri)
    try:
        found = store.search_runs(project, max_results=1000).runs
        assert len(found) == WORKERS * RUNS
        assert {r.status.value for r in found} == {"FINISHED"}
        with store.engine.connect() as conn:
            ids = [r.id for r in found]
            total = conn.execute(sa.select(sa.func.count()).select_from(metrics).where(metrics.c.run_id.in_(ids))).scalar()
            distinct = conn.execute(
                sa.select(sa.func.count()).select_from(
                    sa.select(metrics.c.run_id, metrics.c.key, metrics.c.step, metrics.c.value)
                    .where(metrics.c.run_id.in_(ids)).distinct().subquery()
                )
            ).scalar()
            per_run = conn.execute(
                sa.select(runs.c.name, sa.func.count(metrics.c.id))
                .join(metrics, metrics.c.run_id == runs.c.id).where(runs.c.id.in_(ids)).group_by(runs.c.name)
            ).all()
        assert total == distinct == WORKERS * RUNS * VALUES
        assert {count for _name, count in per_run} == {VALUES}
        for run in found[:5]:
            worker, r = (int(x[1:]) for x in run.name.split("-"))
            history = store.get_metric_history(run.id, "m0")
            assert [m.value for m in history] == [float(worker * 1_000_000 + r * 1000 + i) for i in range(0, VALUES, 5)]
    finally:
        store.close()


def _run_workers(spawn: Any, settings: dict[str, str]) -> None:
    procs = [spawn(settings, "concurrent_writer", str(w), str(RUNS), str(VALUES)) for w in range(WORKERS)]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        assert "done" in out


@pytest.mark.slow
def test_four_processes_sqlite(spawn: Any, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'shared.db'}"
    SqlStore(uri).close()  # schema first, as `shipyard store upgrade` would
    settings = {"SHIPYARD_STORE_URI": uri, "SHIPYARD_ARTIFACT_URI": (tmp_path / "a").as_uri(), "SHIPYARD_PROJECT": "conc"}
    _run_workers(spawn, settings)
    _check(uri, "conc")


@pytest.mark.slow
@pytest.mark.backend("postgres")
def test_four_processes_postgres(spawn: Any, tmp_path: Path, postgres_uri: str) -> None:
    project = f"conc-{uuid.uuid4().hex[:8]}"
    SqlStore(postgres_uri).close()
    settings = {"SHIPYARD_STORE_URI": postgres_uri, "SHIPYARD_ARTIFACT_URI": (tmp_path / "a").as_uri(), "SHIPYARD_PROJECT": project}
    _run_workers(spawn, settings)
    _check(postgres_uri, project)


@pytest.mark.slow
def test_four_processes_create_a_fresh_sqlite_store_at_once(spawn: Any, tmp_path: Path) -> None:
    """No store exists yet: the first writers race to create the schema."""
    uri = f"sqlite:///{tmp_path / 'fresh.db'}"
    settings = {"SHIPYARD_STORE_URI": uri, "SHIPYARD_ARTIFACT_URI": (tmp_path / "a").as_uri(), "SHIPYARD_PROJECT": "conc"}
    procs = [spawn(settings, "concurrent_writer", str(w), "2", "50") for w in range(4)]
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-3000:]
    store = SqlStore(uri)
    assert len(store.search_runs("conc").runs) == 8
    store.close()
