"""Housekeeping for ``shipyard store gc``: finalise dead runs, purge deleted ones, drop temporaries."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipyard.entities import LifecycleStage, RunStatus
from shipyard.tracking._artifacts import store_for

if TYPE_CHECKING:
    from shipyard.workspace import Workspace


@dataclass(frozen=True)
class GcReport:
    killed: int
    purged_runs: int
    purged_files: int
    temporaries: int


def collect(workspace: Workspace, dry_run: bool = False, temp_age_s: float = 3600.0) -> GcReport:
    """Mark runs with a stale heartbeat KILLED (persisting what reads already show), permanently
    delete runs in the deleted stage with their artifacts, and remove temporary files of
    interrupted uploads older than ``temp_age_s``."""
    store = workspace.metadata
    killed = purged = files = temps = 0
    for project in store.list_projects():
        token = None
        while True:
            page = store.search_runs(
                project.name, filter="attributes.status = 'KILLED' and attributes.end_time IS NULL",
                max_results=1000, page_token=token, lifecycle=None,
            )
            for run in page.runs:
                killed += 1
                if not dry_run:
                    store.update_run(run.id, status=RunStatus.KILLED, end_time=run.heartbeat_at or run.start_time,
                                     failure="heartbeat stopped: the process died")
            token = page.next_page_token
            if token is None:
                break
        deleted, token = [], None
        while True:
            page = store.search_runs(project.name, max_results=1000, page_token=token, lifecycle=LifecycleStage.DELETED)
            deleted += list(page.runs)
            token = page.next_page_token
            if token is None:
                break
        # Runs that back a registered model version keep their record and artifacts.
        backing = {mv.run_id for mv in store.search_model_versions(project.name) if mv.run_id}
        doomed = [r for r in deleted if r.id not in backing]
        release = getattr(store, "charge_quota", None)
        for run in doomed:
            artifacts = store_for(workspace, run.artifact_uri)
            sizes = artifacts.sizes("")
            files += len(sizes)
            if not dry_run:
                artifacts.delete("")
                if release is not None and sizes:  # the bytes leave the project's artifact_bytes usage
                    release(project.name, "artifact_bytes", -sum(sizes.values()))
        purged += len(doomed)
        if not dry_run and doomed:
            store.delete_runs_permanently([r.id for r in doomed])
    temporaries = getattr(workspace.artifacts, "temporaries", None)
    if temporaries is not None:
        cutoff = time.time() - temp_age_s
        for path in temporaries():
            if path.stat().st_mtime < cutoff:
                temps += 1
                if not dry_run:
                    path.unlink(missing_ok=True)
    return GcReport(killed, purged, files, temps)
