"""The deployment part of ``SqlStore``: current state in ``deployments``, every change in
``deployment_events`` (the full state after it), written together in one transaction."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from shipyard._internal._time import now_ms
from shipyard.entities import Deployment, DeploymentEvent, DeploymentState, Route
from shipyard.exceptions import AlreadyExists, NotFound, QuotaExceeded
from shipyard.storage._sql._registry import did_you_mean, require_name, window
from shipyard.storage._sql._schema import deployment_events, deployments, project_quotas
from shipyard.storage.base import DeploymentStore

_D = deployments.c
_E = deployment_events.c
QUOTA_KIND = "deployments"


class SqlDeploymentMixin(DeploymentStore):
    """Mixed into ``SqlStore``; relies on its ``_tx``, ``_insert`` and ``_project_id``."""

    dialect: str

    if TYPE_CHECKING:  # provided by SqlStore

        def _tx(self, write: bool = False) -> Any: ...

        def _insert(self, table: sa.Table) -> Any: ...

        def _project_id(self, conn: sa.Connection, name: str, create: bool) -> int | None: ...

    def _deployment_row(self, conn: sa.Connection, project: str, name: str, lock: bool = False) -> Any:
        pid = self._project_id(conn, project, create=False)
        row = None
        if pid is not None:
            query = sa.select(deployments).where(_D.project_id == pid, _D.name == name)
            if lock and self.dialect == "postgresql":
                query = query.with_for_update()
            row = conn.execute(query).first()
        if row is None:
            names = conn.execute(sa.select(_D.name).where(_D.project_id == pid)).scalars().all() if pid else []
            raise NotFound(f"No deployment {name!r} in project {project!r}.{did_you_mean(name, names)} List them with "
                           "`shipyard deploy list`.")
        return row

    def _charge_deployment(self, conn: sa.Connection, project: str, pid: int) -> None:
        count = conn.execute(sa.select(sa.func.count()).select_from(deployments).where(_D.project_id == pid)).scalar_one()
        quota = conn.execute(sa.select(project_quotas.c.max_value).where(
            project_quotas.c.project == project, project_quotas.c.kind == QUOTA_KIND)).first()
        if quota is not None and quota.max_value is not None and count + 1 > quota.max_value:
            raise QuotaExceeded(
                f"Project {project!r} would exceed its {QUOTA_KIND} quota: it has {count} deployment(s), "
                f"limit {quota.max_value}."
            )
        conn.execute(self._insert(project_quotas).values(project=project, kind=QUOTA_KIND, max_value=None, used=count + 1)
                     .on_conflict_do_update(index_elements=["project", "kind"], set_={"used": count + 1}))

    def create_deployment(
        self, project: str, name: str, *, routes: Sequence[Route], shadow: Sequence[str] = (),
        sticky_key: str | None = None, config: Mapping[str, Any] | None = None, description: str | None = None,
        actor: str | None = None, reason: str | None = None,
    ) -> Deployment:
        require_name("A deployment", name)
        now = now_ms()
        state = _state(routes, shadow, sticky_key, config, DeploymentState.ACTIVE)
        with self._tx(write=True) as conn:
            pid = self._project_id(conn, project, create=True)
            assert pid is not None
            self._charge_deployment(conn, project, pid)
            inserted = conn.execute(
                self._insert(deployments).on_conflict_do_nothing().values(
                    project_id=pid, name=name, revision=1, description=description, created_at=now, updated_at=now,
                    **state,
                ).returning(_D.id)
            ).first()
            if inserted is None:
                raise AlreadyExists(
                    f"Deployment {name!r} already exists in project {project!r}: change it with `shipyard deploy update` "
                    "or sy.deploy(), which updates an existing deployment."
                )
            conn.execute(deployment_events.insert().values(
                deployment_id=inserted.id, revision=1, action="create", actor=actor, reason=reason, at=now, **state))
            return _deployment(self._deployment_row(conn, project, name), project)

    def get_deployment(self, project: str, name: str) -> Deployment:
        with self._tx() as conn:
            return _deployment(self._deployment_row(conn, project, name), project)

    def list_deployments(self, project: str, *, offset: int = 0, limit: int | None = None) -> list[Deployment]:
        with self._tx() as conn:
            pid = self._project_id(conn, project, create=False)
            if pid is None:
                return []
            rows = conn.execute(window(sa.select(deployments).where(_D.project_id == pid).order_by(_D.name),
                                       offset, limit)).all()
        return [_deployment(r, project) for r in rows]

    def update_deployment(
        self, project: str, name: str, *, action: str, routes: Sequence[Route], shadow: Sequence[str],
        sticky_key: str | None, config: Mapping[str, Any], state: DeploymentState,
        expected_revision: int | None = None, actor: str | None = None, reason: str | None = None,
    ) -> Deployment:
        now = now_ms()
        values = _state(routes, shadow, sticky_key, config, DeploymentState(state))
        with self._tx(write=True) as conn:
            row = self._deployment_row(conn, project, name, lock=True)
            if expected_revision is not None and row.revision != expected_revision:
                raise AlreadyExists(
                    f"Deployment {name!r} is at revision {row.revision}, not {expected_revision}: someone changed it "
                    "meanwhile. Look at `shipyard deploy status` and apply your change again."
                )
            revision = row.revision + 1
            moved = conn.execute(deployments.update().where(_D.id == row.id, _D.revision == row.revision)
                                 .values(revision=revision, updated_at=now, **values)).rowcount
            if moved != 1:  # SQLite: the write lock is held, so this only guards a logic error
                raise AlreadyExists(f"Deployment {name!r} changed concurrently; apply your change again.")
            conn.execute(deployment_events.insert().values(
                deployment_id=row.id, revision=revision, action=action, actor=actor, reason=reason, at=now, **values))
            return _deployment(self._deployment_row(conn, project, name), project)

    def deployment_history(
        self, project: str, name: str, *, at: int | None = None, offset: int = 0, limit: int | None = None
    ) -> list[DeploymentEvent]:
        with self._tx() as conn:
            row = self._deployment_row(conn, project, name)
            query = sa.select(deployment_events).where(_E.deployment_id == row.id)
            if at is not None:
                query = query.where(_E.at <= at)
            rows = conn.execute(window(query.order_by(_E.revision), offset, limit)).all()
        return [
            DeploymentEvent(name, r.revision, r.action, r.actor, r.reason, r.at, DeploymentState(r.state),
                            _routes(r.routes), tuple(json.loads(r.shadow)), r.sticky_key, json.loads(r.config))
            for r in rows
        ]


def _state(routes: Sequence[Route], shadow: Sequence[str], sticky_key: str | None, config: Mapping[str, Any] | None,
           state: DeploymentState) -> dict[str, Any]:
    return {
        "routes": json.dumps([[r.model, int(r.weight)] for r in routes]), "shadow": json.dumps(list(shadow)),
        "sticky_key": sticky_key, "config": json.dumps(dict(config or {}), sort_keys=True), "state": state.value,
    }


def _routes(text: str) -> tuple[Route, ...]:
    return tuple(Route(model, weight) for model, weight in json.loads(text))


def _deployment(row: Any, project: str) -> Deployment:
    return Deployment(
        project=project, name=row.name, revision=row.revision, state=DeploymentState(row.state), routes=_routes(row.routes),
        shadow=tuple(json.loads(row.shadow)), sticky_key=row.sticky_key, created_at=row.created_at,
        updated_at=row.updated_at, config=json.loads(row.config), description=row.description,
    )
