"""The logged-model part of ``SqlStore``: models logged into an experiment before registration."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from shipyard._internal._time import now_ms
from shipyard.entities import LoggedModel, LoggedModelStatus
from shipyard.exceptions import AlreadyExists, InvalidParameter, NotFound
from shipyard.storage._sql._schema import logged_models, projects
from shipyard.storage.base import LoggedModelStore

_LM = logged_models.c
_MAX_PAGE = 1000


class SqlLoggedModelMixin(LoggedModelStore):
    """Mixed into ``SqlStore``; relies on its ``_tx``, ``_insert`` and ``_experiment_where``."""

    if TYPE_CHECKING:  # provided by SqlStore

        def _tx(self, write: bool = False) -> Any: ...

        def _insert(self, table: sa.Table) -> Any: ...

        def _experiment_with_run(self, conn: sa.Connection, project: str, experiment_id: str, run_id: str | None,
                                 what: str) -> Any: ...

        def _project_id(self, conn: sa.Connection, name: str, create: bool) -> int | None: ...

    def create_logged_model(
        self,
        project: str,
        experiment_id: str,
        *,
        model_id: str,
        name: str,
        artifact_uri: str,
        run_id: str | None = None,
        model_type: str | None = None,
        created_by: str | None = None,
        tags: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> LoggedModel:
        if not name or not model_id:
            raise InvalidParameter("A logged model needs a non-empty name and id.")
        now = now_ms()
        tags, params = dict(tags or {}), dict(params or {})
        with self._tx(write=True) as conn:
            exp = self._experiment_with_run(conn, project, experiment_id, run_id, "run")
            inserted = conn.execute(
                self._insert(logged_models).on_conflict_do_nothing().values(
                    id=model_id, project_id=exp.project_id, experiment_id=exp.id, run_id=run_id, name=name,
                    artifact_uri=artifact_uri, status=LoggedModelStatus.PENDING.value, model_type=model_type,
                    created_by=created_by, tags=json.dumps(tags), params=json.dumps(params), created_at=now,
                    updated_at=now,
                ).returning(_LM.id)
            ).first()
            if inserted is None:
                raise AlreadyExists(f"A logged model with id {model_id!r} already exists; let the client generate ids.")
        return LoggedModel(
            id=model_id, project=project, experiment_id=str(exp.id), name=name, run_id=run_id,
            artifact_uri=artifact_uri, status=LoggedModelStatus.PENDING, created_at=now, updated_at=now,
            model_type=model_type, created_by=created_by, tags=tags, params=params,
        )

    def _logged_row(self, conn: sa.Connection, model_id: str) -> Any:
        row = conn.execute(
            sa.select(logged_models, projects.c.name.label("project_name"))
            .join(projects, projects.c.id == _LM.project_id)
            .where(_LM.id == model_id)
        ).first()
        if row is None:
            raise NotFound(f"No logged model with id {model_id!r}. Search them per experiment (search_logged_models).")
        return row

    def get_logged_model(self, model_id: str) -> LoggedModel:
        with self._tx() as conn:
            return _logged(self._logged_row(conn, model_id))

    def update_logged_model(
        self,
        model_id: str,
        *,
        status: LoggedModelStatus | None = None,
        status_message: str | None = None,
        set_tags: Mapping[str, str] | None = None,
        delete_tags: Sequence[str] = (),
        set_params: Mapping[str, str] | None = None,
    ) -> LoggedModel:
        with self._tx(write=True) as conn:
            row = self._logged_row(conn, model_id)
            tags = json.loads(row.tags)
            tags.update(set_tags or {})
            for key in delete_tags:
                tags.pop(key, None)
            params = json.loads(row.params)
            for key, value in (set_params or {}).items():
                if key in params and params[key] != value:
                    raise InvalidParameter(
                        f"Param {key!r} of logged model {model_id!r} is already {params[key]!r}; params are "
                        f"write-once (tried {value!r}). Log a new model for new params."
                    )
                params[key] = value
            values: dict[str, Any] = {"tags": json.dumps(tags), "params": json.dumps(params), "updated_at": now_ms()}
            if status is not None:
                values["status"] = LoggedModelStatus(status).value
            if status_message is not None:
                values["status_message"] = status_message
            conn.execute(logged_models.update().where(_LM.id == model_id).values(**values))
            return _logged(self._logged_row(conn, model_id))

    def search_logged_models(
        self,
        project: str,
        experiment_ids: Sequence[str] | None = None,
        *,
        name: str | None = None,
        run_id: str | None = None,
        statuses: Sequence[LoggedModelStatus] | None = None,
        max_results: int = 100,
        page_token: str | None = None,
    ) -> tuple[list[LoggedModel], str | None]:
        from shipyard.storage._sql._store import _decode_token, _encode_token

        if not 1 <= max_results <= _MAX_PAGE:
            raise InvalidParameter(f"max_results must be between 1 and {_MAX_PAGE}, got {max_results}.")
        offset = _decode_token(page_token)
        with self._tx() as conn:
            pid = self._project_id(conn, project, create=False)
            if pid is None:
                return [], None
            query = (
                sa.select(logged_models, projects.c.name.label("project_name"))
                .join(projects, projects.c.id == _LM.project_id)
                .where(_LM.project_id == pid)
                .order_by(_LM.created_at.desc(), _LM.id)
                .limit(max_results + 1)
                .offset(offset)
            )
            if experiment_ids:
                try:
                    ids = [int(e) for e in experiment_ids]
                except ValueError:
                    raise InvalidParameter(f"Experiment ids are integers, got {list(experiment_ids)!r}.") from None
                query = query.where(_LM.experiment_id.in_(ids))
            if name is not None:
                query = query.where(_LM.name == name)
            if run_id is not None:
                query = query.where(_LM.run_id == run_id)
            if statuses:
                query = query.where(_LM.status.in_([LoggedModelStatus(s).value for s in statuses]))
            rows = conn.execute(query).all()
        more = len(rows) > max_results
        return [_logged(r) for r in rows[:max_results]], _encode_token(offset + max_results) if more else None

    def delete_logged_model(self, model_id: str) -> None:
        with self._tx(write=True) as conn:
            if conn.execute(logged_models.delete().where(_LM.id == model_id)).rowcount == 0:
                raise NotFound(f"No logged model with id {model_id!r}.")


def _logged(row: Any) -> LoggedModel:
    return LoggedModel(
        id=row.id, project=row.project_name, experiment_id=str(row.experiment_id), name=row.name, run_id=row.run_id,
        artifact_uri=row.artifact_uri, status=LoggedModelStatus(row.status), created_at=row.created_at,
        updated_at=row.updated_at, model_type=row.model_type, status_message=row.status_message,
        created_by=row.created_by, tags=json.loads(row.tags), params=json.loads(row.params),
    )
