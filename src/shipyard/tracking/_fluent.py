"""The module-level tracking API (``sy.start_run``, ``sy.log_metric``, ``sy.search_runs`` ...).

Each call goes through a :class:`TrackingClient` bound to the process-wide workspace and the
current project. Active runs form a per-thread stack; ``nested=True`` makes the new run a child of
the one on top. At interpreter exit, open runs are ended (FINISHED, or FAILED after an unhandled
exception); on SIGTERM they are flushed and ended as KILLED.
"""

from __future__ import annotations

import atexit
import signal
import sys
import threading
import traceback
from collections.abc import Mapping, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

from shipyard import config
from shipyard.entities import Experiment, Run, RunStatus
from shipyard.exceptions import InvalidParameter
from shipyard.tracking._client import TrackingClient
from shipyard.tracking._run import ActiveRun
from shipyard.workspace import current_workspace

if TYPE_CHECKING:
    import pandas as pd

_local = threading.local()
_all_runs: list[ActiveRun] = []
_all_lock = threading.Lock()
_hooks_installed = False
_terminated_by: int | None = None
_clients: dict[tuple[int, str], TrackingClient] = {}


def _stack() -> list[ActiveRun]:
    stack: list[ActiveRun] | None = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def client(project: str | None = None) -> TrackingClient:
    """A tracking client for ``project`` (default: the current project) on the current workspace."""
    workspace = current_workspace()
    name = project or config.get_settings().project
    key = (id(workspace), name)
    found = _clients.get(key)
    if found is None or found.workspace is not workspace:
        found = _clients[key] = TrackingClient(workspace, name)
    return found


def set_project(name: str) -> None:
    """Make ``name`` the project that following calls record into (``"default"`` if never set)."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameter(f"Project name must be a non-empty string, got {name!r}.")
    config.configure(project=name)


def init(
    store_uri: str | None = None,
    artifact_uri: str | None = None,
    project: str | None = None,
    home: str | None = None,
    **settings: Any,
) -> config.Settings:
    """Point Shipyard at stores explicitly (highest precedence); returns the effective settings."""
    from shipyard.workspace import reset_workspace

    given = {"store_uri": store_uri, "artifact_uri": artifact_uri, "project": project, "home": home, **settings}
    result = config.configure(**{k: v for k, v in given.items() if v is not None})  # None: keep the current value
    reset_workspace()
    _clients.clear()
    return result


def connect(uri: str, token: str | None = None, project: str | None = None) -> config.Settings:
    """Send every following call to the Shipyard server at ``uri`` (same as ``SHIPYARD_URI`` and
    ``SHIPYARD_TOKEN``); artifacts then go through the server too."""
    return init(store_uri=uri, token=token, project=project)


def start_run(
    experiment: str | None = None,
    run_name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    description: str | None = None,
) -> ActiveRun:
    """Start a run in ``experiment`` (created if missing; default ``"Default"``).

    Use it as a context manager; the run ends FINISHED, FAILED (with the traceback) or KILLED.
    With a run already active in this thread, pass ``nested=True`` to start a child run.
    """
    stack = _stack()
    if stack and not nested and parent_run_id is None:
        raise InvalidParameter(
            f"Run {stack[-1].name!r} is already active in this thread. End it first, or pass nested=True "
            "to start a child run."
        )
    if nested and parent_run_id is None and stack:
        parent_run_id = stack[-1].id
    experiment_id = None
    if experiment is None and parent_run_id is not None:
        experiment_id = stack[-1].experiment_id if stack and stack[-1].id == parent_run_id else get_run(parent_run_id).experiment_id
    run = client().start_run(experiment, run_name, tags, parent_run_id, description, experiment_id)
    _install_hooks()
    run._callbacks.append(_pop)
    stack.append(run)
    with _all_lock:
        _all_runs.append(run)
    return run


def _pop(run: ActiveRun) -> None:
    stack = _stack()
    for i in range(len(stack) - 1, -1, -1):
        if stack[i].id == run.id:
            del stack[i]
            break
    with _all_lock:
        _all_runs[:] = [r for r in _all_runs if r.id != run.id]


def active_run() -> ActiveRun | None:
    """The innermost active run of this thread, or ``None``."""
    stack = _stack()
    return stack[-1] if stack else None


def _require_run() -> ActiveRun:
    run = active_run()
    if run is None:
        raise InvalidParameter("No active run: wrap your code in `with sy.start_run():` first.")
    return run


def end_run(status: RunStatus | str = RunStatus.FINISHED) -> None:
    """End the innermost active run of this thread."""
    run = active_run()
    if run is not None:
        run.end(status)


def log_param(key: str, value: Any) -> None:
    _require_run().log_param(key, value)


def log_params(params: Mapping[str, Any]) -> None:
    _require_run().log_params(params)


def log_metric(key: str, value: Any, step: int | None = None) -> None:
    _require_run().log_metric(key, value, step)


def log_metrics(metrics: Mapping[str, Any], step: int | None = None) -> None:
    _require_run().log_metrics(metrics, step)


def set_tag(key: str, value: Any) -> None:
    _require_run().set_tag(key, value)


def set_tags(tags: Mapping[str, Any]) -> None:
    _require_run().set_tags(tags)


def log_artifact(local_path: str, artifact_path: str | None = None) -> None:
    _require_run().log_artifact(local_path, artifact_path)


def log_dataset(data: Any, name: str, role: str = "training", source: str | None = None) -> None:
    _require_run().log_dataset(data, name=name, role=role, source=source)


def flush() -> None:
    """Write everything buffered, for every run of this process."""
    from shipyard.tracking._writer import _writer

    if _writer is not None:
        _writer.flush()


def get_run(run_id: str) -> Run:
    return client().get_run(run_id)


def search_runs(
    experiment: str | Sequence[str] | None = None,
    filter: str | None = None,
    order_by: Sequence[str] | str | None = None,
    limit: int = 1000,
    include_deleted: bool = False,
) -> pd.DataFrame:
    """Runs as a DataFrame, filtered in the database. See the tracking guide for the filter language::

        sy.search_runs(experiment="delay", filter="metrics.auc > 0.8 and params.model = 'lgbm'",
                       order_by=["metrics.auc DESC"], limit=50)
    """
    return client().search_runs(experiment, filter, order_by, limit, include_deleted)


def get_metric_history(run_id: str, key: str) -> pd.DataFrame:
    return client().metric_history(run_id, key)


def compare_runs(run_ids: Sequence[str]) -> pd.DataFrame:
    return client().compare_runs(run_ids)


def create_experiment(name: str, tags: Mapping[str, str] | None = None) -> Experiment:
    return client().create_experiment(name, tags)


def list_experiments(include_deleted: bool = False) -> list[Experiment]:
    return client().list_experiments(include_deleted)


def download_artifacts(run_id: str, path: str | None = None, dest: str = ".") -> str:
    return client().download_artifacts(run_id, path, dest)


# -- process exit and signals ---------------------------------------------------------------


def _end_all(status: RunStatus, failure: str | None = None) -> None:
    with _all_lock:
        runs = list(reversed(_all_runs))
    for run in runs:
        try:
            run.end(status, failure)
        except Exception as exc:  # noqa: BLE001 - keep ending the others
            sys.stderr.write(f"shipyard: could not end run {run.id}: {exc}\n")


def _at_exit() -> None:
    if _terminated_by is not None:
        _end_all(RunStatus.KILLED, f"terminated by signal {_terminated_by}")
        return
    last = getattr(sys, "last_value", None)
    if last is not None:
        text = "".join(traceback.format_exception(type(last), last, last.__traceback__))
        _end_all(RunStatus.FAILED, text)
    else:
        _end_all(RunStatus.FINISHED)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Unwind the main thread: `with start_run()` blocks end their runs as KILLED on the way out,
    # releasing any lock they hold, and atexit then flushes the rest.
    global _terminated_by
    _terminated_by = signum
    raise SystemExit(128 + signum)


def _install_hooks() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_at_exit)
    if threading.current_thread() is threading.main_thread():
        try:
            if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
                signal.signal(signal.SIGTERM, _on_sigterm)
        except (ValueError, OSError):  # not allowed here (embedded interpreters)
            pass
