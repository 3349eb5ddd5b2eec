"""Who may call which store operation: the role each operation needs and the project it touches."""

from __future__ import annotations

from typing import Any

from shipyard.access import Principal
from shipyard.entities import Role
from shipyard.exceptions import NotFound, PermissionDenied

_READ_PREFIXES = ("get_", "list_", "search_")
_READ_OPS = {"alias_history", "deployment_history"}
_ADMIN_OPS = {"delete_runs_permanently"}
_TARGET_KEYS = ("run_id", "model_id", "name", "id", "experiment_id", "version", "alias", "path", "dataset_id")


_RUN_PROJECTS: dict[tuple[int, str], str] = {}
_RUN_CACHE_SIZE = 100_000


def run_project(store: Any, run_id: str) -> str:
    """The project of a run, remembered per process (a run never changes project, and a run that is
    gone is still refused by the store call that follows)."""
    key = (id(store), run_id)
    project = _RUN_PROJECTS.get(key)
    if project is None:
        project = str(store.get_run(run_id).project)
        if len(_RUN_PROJECTS) >= _RUN_CACHE_SIZE:
            _RUN_PROJECTS.clear()
        _RUN_PROJECTS[key] = project
    return project


def needed_role(op: str) -> Role:
    if op in _ADMIN_OPS:
        return Role.ADMIN
    if op.startswith(_READ_PREFIXES) or op in _READ_OPS:
        return Role.VIEWER
    return Role.EDITOR


def is_mutation(op: str) -> bool:
    return needed_role(op) is not Role.VIEWER


def authorize(store: Any, principal: Principal, op: str, kwargs: dict[str, Any]) -> str | None:
    """Check the call; return the project it touches. A run in a project the caller cannot see is
    reported as missing (404), so ids cannot be probed across tenants."""
    role = needed_role(op)
    if "project" in kwargs:
        project = kwargs["project"]
        principal.require(project, role)
        return str(project)
    if "run_id" in kwargs:
        run_id = kwargs["run_id"]
        project = run_project(store, run_id)
        if not principal.can(project, Role.VIEWER):
            raise NotFound(f"No run with id {run_id!r}. Find runs with `shipyard runs list` or sy.search_runs().")
        principal.require(project, role)
        return str(project)
    if "model_id" in kwargs and op != "create_logged_model":
        model_id = kwargs["model_id"]
        project = store.get_logged_model(model_id).project
        if not principal.can(project, Role.VIEWER):
            raise NotFound(f"No logged model with id {model_id!r}.")
        principal.require(project, role)
        return str(project)
    if op == "list_projects":
        return None  # filtered by the caller
    if not principal.is_admin:
        raise PermissionDenied(f"{op} is for admins.")
    return None


def target(kwargs: dict[str, Any]) -> str | None:
    parts = [f"{k}={kwargs[k]}" for k in _TARGET_KEYS if kwargs.get(k) is not None]
    return ", ".join(parts) or None
