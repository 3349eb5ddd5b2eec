"""``TrackingClient``: explicit tracking over a workspace and a project (the primitive layer).

The module-level functions in :mod:`shipyard.tracking._fluent` (``sy.start_run`` ...) are thin
wrappers over a client bound to the process-wide workspace.
"""

from __future__ import annotations

import math
import os
import threading
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shipyard._internal._time import ms_to_datetime, now_ms
from shipyard.entities import Dataset, Experiment, LifecycleStage, Metric, Run, RunPage
from shipyard.exceptions import AlreadyExists, InvalidParameter, NotFound
from shipyard.tracking import _environment, _names
from shipyard.tracking import _validation as v
from shipyard.tracking._artifacts import download, read_bytes, store_for
from shipyard.tracking._datasets import fingerprint, to_frame
from shipyard.tracking._run import ActiveRun
from shipyard.tracking._writer import get_writer

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.entities import ArtifactRecord
    from shipyard.workspace import Workspace

DEFAULT_EXPERIMENT = "Default"


class TrackingClient:
    """Tracking operations for one project of one workspace. Thread-safe."""

    def __init__(self, workspace: Workspace, project: str | None = None) -> None:
        self.workspace = workspace
        self.project = v.name(project or workspace.settings.project, "Project")
        self._active: dict[str, ActiveRun] = {}
        self._lock = threading.Lock()
        self._experiment_refs: dict[str, str] = {}  # name or id → id, for searches

    @property
    def store(self) -> Any:
        return self.workspace.metadata

    # -- experiments -----------------------------------------------------------------------
    def create_experiment(self, name: str, tags: Mapping[str, str] | None = None) -> Experiment:
        return self.store.create_experiment(self.project, v.name(name, "Experiment"), dict(tags or {}))  # type: ignore[no-any-return]

    def get_experiment(self, ref: str) -> Experiment:
        """An experiment by id (digits) or by name."""
        if ref.isdigit():
            try:
                return self.store.get_experiment(self.project, id=ref)  # type: ignore[no-any-return]
            except NotFound:
                pass
        return self.store.get_experiment(self.project, name=ref)  # type: ignore[no-any-return]

    def get_or_create_experiment(self, name: str) -> Experiment:
        try:
            found: Experiment = self.store.get_experiment(self.project, name=name)
            if found.lifecycle is LifecycleStage.DELETED:
                raise InvalidParameter(
                    f"Experiment {name!r} (id {found.id}) is deleted. Restore it with `shipyard experiments restore "
                    f"{found.id}`, or use another name."
                )
            return found
        except NotFound:
            try:
                return self.create_experiment(name)
            except AlreadyExists:  # created meanwhile by another process
                return self.store.get_experiment(self.project, name=name)  # type: ignore[no-any-return]

    def list_experiments(self, include_deleted: bool = False) -> list[Experiment]:
        return self.store.list_experiments(self.project, None if include_deleted else LifecycleStage.ACTIVE)  # type: ignore[no-any-return]

    def rename_experiment(self, ref: str, new_name: str) -> Experiment:
        exp = self.get_experiment(ref)
        self._experiment_refs.clear()
        return self.store.update_experiment(self.project, exp.id, name=v.name(new_name, "Experiment"))  # type: ignore[no-any-return]

    def delete_experiment(self, ref: str) -> Experiment:
        exp = self.get_experiment(ref)
        self._experiment_refs.clear()
        return self.store.update_experiment(self.project, exp.id, lifecycle=LifecycleStage.DELETED)  # type: ignore[no-any-return]

    def restore_experiment(self, ref: str) -> Experiment:
        exp = self.get_experiment(ref)
        return self.store.update_experiment(self.project, exp.id, lifecycle=LifecycleStage.ACTIVE)  # type: ignore[no-any-return]

    # -- runs ------------------------------------------------------------------------------
    def start_run(
        self,
        experiment: str | None = None,
        run_name: str | None = None,
        tags: Mapping[str, Any] | None = None,
        parent_run_id: str | None = None,
        description: str | None = None,
        experiment_id: str | None = None,
    ) -> ActiveRun:
        """Create a RUNNING run and return its handle (heartbeats start at once).

        ``experiment`` is a name (created if missing); ``experiment_id`` names an existing one.
        """
        settings = self.workspace.settings
        if experiment_id is not None:
            exp = self.store.get_experiment(self.project, id=experiment_id)
        else:
            exp = self.get_or_create_experiment(experiment or DEFAULT_EXPERIMENT)
        run_id = uuid.uuid4().hex
        name = v.name(run_name, "Run") if run_name else _names.run_name()
        clean_tags = {v.key(k, "Tag"): v.tag_value(k, val) for k, val in (tags or {}).items()}
        if description:
            clean_tags["shipyard.description"] = v.tag_value("description", description)
        git = _environment.git_state(os.getcwd())
        root = self.workspace.artifacts.uri_for(f"{self.project}/{exp.id}/{run_id}/artifacts")
        run = self.store.create_run(
            self.project,
            exp.id,
            run_id=run_id,
            name=name,
            start_time=now_ms(),
            artifact_uri=root,
            user=_environment.user(),
            host=_environment.host(),
            parent_run_id=parent_run_id,
            heartbeat_timeout_ms=int(settings.heartbeat_timeout * 1000),
            git_commit=git.get("commit"),
            git_dirty=git.get("dirty"),
            source=_environment.source(),
            environment={**_environment.environment(), "git": git},
            tags=clean_tags,
        )
        writer = get_writer(settings.flush_interval, settings.flush_max_items)
        active = ActiveRun(self, run, writer)
        writer.watch(self.store, run_id, settings.heartbeat_interval)
        with self._lock:
            self._active[run_id] = active
        return active

    def _forget(self, run: ActiveRun) -> None:
        with self._lock:
            self._active.pop(run.id, None)

    def active_runs(self) -> list[ActiveRun]:
        with self._lock:
            return list(self._active.values())

    def get_run(self, run_id: str) -> Run:
        return self.store.get_run(run_id)  # type: ignore[no-any-return]

    def delete_run(self, run_id: str) -> None:
        self.store.update_run(run_id, lifecycle=LifecycleStage.DELETED)

    def restore_run(self, run_id: str) -> None:
        self.store.update_run(run_id, lifecycle=LifecycleStage.ACTIVE)

    def metric_history(self, run_id: str, key: str) -> pd.DataFrame:
        """Every value of one metric: columns step, value, timestamp (datetime)."""
        import pandas as pd

        history: list[Metric] = self.store.get_metric_history(run_id, key)
        return pd.DataFrame(
            {
                "step": [m.step for m in history],
                "value": [m.value for m in history],
                "timestamp": pd.to_datetime([m.timestamp for m in history], unit="ms", utc=True),
            }
        )

    def search(
        self,
        experiment: str | Sequence[str] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | str | None = None,
        limit: int = 1000,
        include_deleted: bool = False,
    ) -> list[Run]:
        """Runs matching ``filter`` (evaluated in the database), at most ``limit``."""
        if not isinstance(limit, int) or limit < 1:
            raise InvalidParameter(f"limit must be a positive integer, got {limit!r}.")
        runs: list[Run] = []
        token = None
        while len(runs) < limit:
            page = self.search_page(experiment, filter, order_by, page_size=min(limit - len(runs), 5000),
                                    page_token=token, include_deleted=include_deleted)
            runs.extend(page.runs)
            token = page.next_page_token
            if token is None:
                break
        return runs

    def search_page(
        self,
        experiment: str | Sequence[str] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | str | None = None,
        page_size: int = 100,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> RunPage:
        """One page of :meth:`search` (at most ``page_size`` runs); pass its ``next_page_token`` back for
        the next. For tables that page on the server (the UI)."""
        if not isinstance(page_size, int) or page_size < 1:
            raise InvalidParameter(f"page_size must be a positive integer, got {page_size!r}.")
        ids = self._experiment_ids(experiment)
        if ids == []:
            return RunPage((), None)
        orders = [order_by] if isinstance(order_by, str) else list(order_by or [])
        page: RunPage = self.store.search_runs(self.project, ids, filter, orders, max_results=min(page_size, 5000),
                                               page_token=page_token,
                                               lifecycle=None if include_deleted else LifecycleStage.ACTIVE)
        return page

    def metric_series(self, run_id: str, key: str, points: int | None = None) -> dict[str, list[Any]]:
        """One metric's history as ``{"step": [...], "time": [...] (epoch ms), "value": [...]}``, by step;
        with ``points``, down-sampled to at most that many by largest-triangle-three-buckets over the
        steps (the first and last points, and spikes, survive) — what a chart of that width can show."""
        history: list[Metric] = self.store.get_metric_history(run_id, key)
        if points is not None and len(history) > points:
            import numpy as np

            from shipyard._internal._lttb import lttb

            steps = np.fromiter((m.step for m in history), dtype=np.float64, count=len(history))
            values = np.fromiter((m.value for m in history), dtype=np.float64, count=len(history))
            history = [history[i] for i in lttb(steps, values, points)]
        return {"step": [m.step for m in history], "time": [m.timestamp for m in history],
                "value": [None if m.value != m.value else m.value for m in history]}

    def _experiment_ids(self, experiment: str | Sequence[str] | None) -> list[str] | None:
        if experiment is None:
            return None
        refs = [experiment] if isinstance(experiment, str) else list(experiment)
        ids = []
        for ref in refs:
            known = self._experiment_refs.get(ref)
            if known is not None:
                ids.append(known)
                continue
            try:
                ids.append(self.get_experiment(ref).id)
            except NotFound:
                if len(refs) == 1:
                    raise
                continue
            self._experiment_refs[ref] = ids[-1]
        return ids

    def search_runs(self, *args: Any, **kwargs: Any) -> pd.DataFrame:
        """Like :meth:`search`, as a DataFrame: one row per run; columns ``params.*``,
        ``metrics.*`` (latest values) and ``tags.*`` after the run attributes."""
        return runs_to_frame(self.search(*args, **kwargs))

    def compare_runs(self, run_ids: Sequence[str]) -> pd.DataFrame:
        """Side by side: one column per run, one row per attribute / param / metric; the
        ``differs`` column marks rows whose values are not all equal."""
        import pandas as pd

        if len(run_ids) < 2:
            raise InvalidParameter("compare_runs needs at least two run ids.")
        runs = [self.get_run(r) for r in run_ids]
        rows: dict[str, list[Any]] = {
            "run_name": [r.name for r in runs],
            "status": [r.status.value for r in runs],
            "duration_s": [None if r.duration_ms is None else r.duration_ms / 1000 for r in runs],
        }
        for prefix, attr in (("params", "params"), ("metrics", "metrics"), ("tags", "tags")):
            keys = sorted({k for r in runs for k in getattr(r, attr)})
            for k in keys:
                rows[f"{prefix}.{k}"] = [getattr(r, attr).get(k) for r in runs]
        columns = [f"{r.name} ({r.id[:8]})" for r in runs]
        frame = pd.DataFrame.from_dict(rows, orient="index", columns=columns)
        frame["differs"] = [not _all_equal(vals) for vals in rows.values()]
        return frame

    # -- datasets and artifacts ------------------------------------------------------------
    def log_dataset(
        self, run_id: str, data: Any, name: str, role: str = "training", source: str | None = None, direction: str = "input"
    ) -> Dataset:
        name = v.name(name, "Dataset")
        frame = to_frame(data)
        digest, schema, profile = fingerprint(frame)
        dataset: Dataset = self.store.log_dataset(
            self.project, name=name, digest=digest, num_rows=len(frame), schema=schema, profile=profile, source=source
        )
        self.store.link_dataset(run_id, dataset.id, v.name(role, "Role"), direction)
        return dataset

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[ArtifactRecord]:
        return self.store.list_artifacts(run_id, path)  # type: ignore[no-any-return]

    def download_artifacts(self, run_id: str, path: str | None = None, dest: str | os.PathLike[str] = ".") -> str:
        """Download a file or folder (``None``: everything), verifying each file's sha256."""
        return str(download(self.workspace, run_id, path, dest))

    def read_artifact(self, run_id: str, path: str) -> bytes:
        """The verified bytes of one artifact file."""
        return read_bytes(self.workspace, run_id, path)

    def artifact_store(self, run_id: str) -> Any:
        return store_for(self.workspace, self.get_run(run_id).artifact_uri)


def _all_equal(values: list[Any]) -> bool:
    first = values[0]
    for value in values[1:]:
        if isinstance(first, float) and isinstance(value, float) and math.isnan(first) and math.isnan(value):
            continue
        if value != first:
            return False
    return True


def runs_to_frame(runs: Sequence[Run]) -> pd.DataFrame:
    import pandas as pd

    records = []
    for r in runs:
        row: dict[str, Any] = {
            "run_id": r.id,
            "run_name": r.name,
            "experiment_id": r.experiment_id,
            "status": r.status.value,
            "start_time": ms_to_datetime(r.start_time),
            "end_time": ms_to_datetime(r.end_time),
            "duration_s": None if r.duration_ms is None else r.duration_ms / 1000.0,
            "user": r.user,
            "parent_run_id": r.parent_run_id,
        }
        row.update({f"params.{k}": val for k, val in r.params.items()})
        row.update({f"metrics.{k}": val for k, val in r.metrics.items()})
        row.update({f"tags.{k}": val for k, val in r.tags.items()})
        records.append(row)
    base = ["run_id", "run_name", "experiment_id", "status", "start_time", "end_time", "duration_s", "user", "parent_run_id"]
    frame = pd.DataFrame.from_records(records, columns=None if records else base)
    extra = sorted(c for c in frame.columns if c not in base)
    ordered = base + [c for p in ("params.", "metrics.", "tags.") for c in extra if c.startswith(p)]
    return frame[ordered]

