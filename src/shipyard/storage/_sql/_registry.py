"""The registry half of ``SqlStore``: registered models, versions, aliases and their history."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from shipyard._internal._time import now_ms
from shipyard.entities import AliasEvent, ModelVersion, ModelVersionStatus, RegisteredModel
from shipyard.entities._tracking import frozen_map
from shipyard.exceptions import AlreadyExists, InvalidParameter, NotFound
from shipyard.storage._sql._schema import (
    alias_events,
    model_aliases,
    model_version_tags,
    model_versions,
    registered_model_tags,
    registered_models,
    runs,
)
from shipyard.storage.base import RegistryStore

_MV = model_versions.c


def window(query: Any, offset: int, limit: int | None) -> Any:
    """``query`` restricted to ``limit`` rows from ``offset`` (validated: both are counts)."""
    if offset < 0 or (limit is not None and limit < 1):
        raise InvalidParameter(f"offset must be >= 0 and limit >= 1 (got offset={offset}, limit={limit}).")
    if offset:
        query = query.offset(offset)
    return query.limit(limit) if limit is not None else query


def did_you_mean(name: str, names: Sequence[str]) -> str:
    """" Did you mean 'x', 'y'?" for the names close to ``name`` (empty when none is)."""
    close = difflib.get_close_matches(name, list(names), n=3)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def require_name(kind: str, name: object) -> None:
    """A record name is a non-empty string: refuse anything else before it reaches SQL (a missing
    name would otherwise surface as a NOT NULL violation or a crash in the not-found hint)."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameter(f"{kind} name must be a non-empty string, got {name!r}: give the {kind.lower()}'s name.")


class SqlRegistryMixin(RegistryStore):
    """Mixed into ``SqlStore``; relies on its ``_tx``, ``_insert`` and ``_project_id``."""

    dialect: str
    _display: str

    if TYPE_CHECKING:  # provided by SqlStore

        def _tx(self, write: bool = False) -> Any: ...

        def _insert(self, table: sa.Table) -> Any: ...

        def _project_id(self, conn: sa.Connection, name: str, create: bool) -> int | None: ...

    # -- helpers -----------------------------------------------------------------------------
    def _model_row(self, conn: sa.Connection, project: str, name: str, lock: bool = False) -> Any:
        require_name("Registered model", name)
        pid = self._project_id(conn, project, create=False)
        row = None
        if pid is not None:
            query = sa.select(registered_models).where(
                registered_models.c.project_id == pid, registered_models.c.name == name
            )
            if lock and self.dialect == "postgresql":
                query = query.with_for_update()
            row = conn.execute(query).first()
        if row is None:
            names = (
                conn.execute(sa.select(registered_models.c.name).where(registered_models.c.project_id == pid)).scalars().all()
                if pid is not None
                else []
            )
            raise NotFound(
                f"No registered model {name!r} in project {project!r}.{did_you_mean(name, names)} List them with "
                "`shipyard models list`."
            )
        return row

    def _model_entity(self, conn: sa.Connection, row: Any, project: str) -> RegisteredModel:
        tags = dict(
            conn.execute(
                sa.select(registered_model_tags.c.key, registered_model_tags.c.value).where(
                    registered_model_tags.c.model_id == row.id
                )
            ).all()
        )
        aliases = dict(
            conn.execute(
                sa.select(model_aliases.c.alias, model_aliases.c.version).where(model_aliases.c.model_id == row.id)
            ).all()
        )
        latest = conn.execute(sa.select(sa.func.max(_MV.version)).where(_MV.model_id == row.id)).scalar()
        return RegisteredModel(
            id=row.id,
            project=project,
            name=row.name,
            description=row.description,
            created_at=row.created_at,
            updated_at=row.updated_at,
            latest_version=latest,
            tags=frozen_map(tags),
            aliases=frozen_map(aliases),
        )

    def _version_entities(self, conn: sa.Connection, rows: Sequence[Any], project: str, name_by_id: dict[int, str]) -> list[ModelVersion]:
        if not rows:
            return []
        ids = [r.id for r in rows]
        tags: dict[int, dict[str, str]] = {}
        for t in conn.execute(sa.select(model_version_tags).where(model_version_tags.c.version_id.in_(ids))):
            tags.setdefault(t.version_id, {})[t.key] = t.value
        model_ids = {r.model_id for r in rows}
        aliases: dict[tuple[int, int], list[str]] = {}
        for a in conn.execute(sa.select(model_aliases).where(model_aliases.c.model_id.in_(model_ids))):
            aliases.setdefault((a.model_id, a.version), []).append(a.alias)
        return [
            ModelVersion(
                project=project,
                name=name_by_id[r.model_id],
                version=r.version,
                status=ModelVersionStatus(r.status),
                source=r.source,
                storage_uri=r.storage_uri,
                run_id=r.run_id,
                flavor=r.flavor,
                manifest_sha256=r.manifest_sha256,
                manifest=frozen_map(json.loads(r.manifest)),
                signature=frozen_map(json.loads(r.signature)),
                created_at=r.created_at,
                updated_at=r.updated_at,
                created_by=r.created_by,
                description=r.description,
                status_message=r.status_message,
                package_signature=r.package_signature,
                tags=frozen_map(tags.get(r.id)),
                aliases=tuple(sorted(aliases.get((r.model_id, r.version), []))),
            )
            for r in rows
        ]

    def _version_row(self, conn: sa.Connection, model: Any, project: str, version: int) -> Any:
        row = conn.execute(sa.select(model_versions).where(_MV.model_id == model.id, _MV.version == version)).first()
        if row is None:
            existing = conn.execute(sa.select(_MV.version).where(_MV.model_id == model.id).order_by(_MV.version)).scalars().all()
            listed = f"{existing[0]}–{existing[-1]}" if existing else "none"
            raise NotFound(
                f"No version {version} of model {model.name!r} in project {project!r}. Available versions: {listed}. "
                f"List them with `shipyard models versions {model.name}`."
            )
        return row

    # -- models ------------------------------------------------------------------------------
    def create_registered_model(
        self, project: str, name: str, description: str | None = None, tags: Mapping[str, str] | None = None
    ) -> RegisteredModel:
        require_name("Registered model", name)
        now = now_ms()
        with self._tx(write=True) as conn:
            pid = self._project_id(conn, project, create=True)
            inserted = conn.execute(
                self._insert(registered_models)
                .values(project_id=pid, name=name, description=description, created_at=now, updated_at=now)
                .on_conflict_do_nothing()
                .returning(registered_models.c.id)
            ).first()
            if inserted is None:
                raise AlreadyExists(f"Registered model {name!r} already exists in project {project!r}.")
            if tags:
                conn.execute(
                    registered_model_tags.insert(), [{"model_id": inserted.id, "key": k, "value": v} for k, v in tags.items()]
                )
            row = self._model_row(conn, project, name)
            return self._model_entity(conn, row, project)

    def get_registered_model(self, project: str, name: str) -> RegisteredModel:
        with self._tx() as conn:
            return self._model_entity(conn, self._model_row(conn, project, name), project)

    def search_registered_models(
        self, project: str, name_like: str | None = None, tags: Mapping[str, str] | None = None, alias: str | None = None,
        *, offset: int = 0, limit: int | None = None,
    ) -> list[RegisteredModel]:
        with self._tx() as conn:
            pid = self._project_id(conn, project, create=False)
            if pid is None:
                return []
            rm = registered_models.c
            query = sa.select(registered_models).where(rm.project_id == pid).order_by(rm.name)
            if name_like:
                query = query.where(sa.func.lower(rm.name).like(name_like.lower()))
            for key, value in (tags or {}).items():
                query = query.where(
                    sa.exists().where(
                        registered_model_tags.c.model_id == rm.id,
                        registered_model_tags.c.key == key,
                        registered_model_tags.c.value == value,
                    )
                )
            if alias:
                query = query.where(sa.exists().where(model_aliases.c.model_id == rm.id, model_aliases.c.alias == alias))
            return [self._model_entity(conn, row, project) for row in conn.execute(window(query, offset, limit)).all()]

    def update_registered_model(
        self,
        project: str,
        name: str,
        *,
        description: str | None = None,
        set_tags: Mapping[str, str] | None = None,
        delete_tags: Sequence[str] = (),
    ) -> RegisteredModel:
        with self._tx(write=True) as conn:
            row = self._model_row(conn, project, name, lock=True)
            values: dict[str, Any] = {"updated_at": now_ms()}
            if description is not None:
                values["description"] = description
            conn.execute(registered_models.update().where(registered_models.c.id == row.id).values(**values))
            _upsert_tags(self, conn, registered_model_tags, "model_id", row.id, set_tags, delete_tags)
            return self._model_entity(conn, self._model_row(conn, project, name), project)

    # -- versions ----------------------------------------------------------------------------
    def create_model_version(
        self,
        project: str,
        name: str,
        *,
        source: str,
        storage_uri: str,
        run_id: str | None,
        flavor: str,
        manifest: Mapping[str, Any],
        manifest_sha256: str,
        signature: Mapping[str, Any],
        created_by: str | None = None,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        status: ModelVersionStatus = ModelVersionStatus.REGISTERING,
        status_message: str | None = None,
        package_signature: str | None = None,
    ) -> ModelVersion:
        require_name("Registered model", name)
        now = now_ms()
        with self._tx(write=True) as conn:
            pid = self._project_id(conn, project, create=True)
            if run_id is not None:
                run = conn.execute(sa.select(runs.c.project_id).where(runs.c.id == run_id)).first()
                if run is None or run.project_id != pid:
                    raise NotFound(f"Cannot register from run {run_id!r}: no such run in project {project!r}.")
            conn.execute(
                self._insert(registered_models)
                .values(project_id=pid, name=name, created_at=now, updated_at=now)
                .on_conflict_do_nothing()
            )
            model = self._model_row(conn, project, name, lock=True)
            version = (conn.execute(sa.select(sa.func.max(_MV.version)).where(_MV.model_id == model.id)).scalar() or 0) + 1
            vid = conn.execute(
                model_versions.insert()
                .values(
                    model_id=model.id, version=version, status=ModelVersionStatus(status).value, source=source,
                    storage_uri=storage_uri, run_id=run_id, flavor=flavor, manifest=json.dumps(dict(manifest)),
                    manifest_sha256=manifest_sha256, signature=json.dumps(dict(signature)), description=description,
                    created_by=created_by, created_at=now, updated_at=now, status_message=status_message,
                    package_signature=package_signature,
                )
                .returning(_MV.id)
            ).scalar_one()
            if tags:
                conn.execute(model_version_tags.insert(), [{"version_id": vid, "key": k, "value": v} for k, v in tags.items()])
            conn.execute(registered_models.update().where(registered_models.c.id == model.id).values(updated_at=now))
        # A new version has no aliases yet and exactly the tags given: no need to read it back.
        return ModelVersion(
            project=project, name=model.name, version=version, status=ModelVersionStatus(status), source=source,
            storage_uri=storage_uri, run_id=run_id, flavor=flavor, manifest_sha256=manifest_sha256,
            manifest=json.loads(json.dumps(dict(manifest))), signature=json.loads(json.dumps(dict(signature))),
            created_at=now, updated_at=now, created_by=created_by, description=description,
            status_message=status_message, package_signature=package_signature, tags=dict(tags or {}),
        )

    def get_model_version(self, project: str, name: str, version: int) -> ModelVersion:
        with self._tx() as conn:
            model = self._model_row(conn, project, name)
            row = self._version_row(conn, model, project, int(version))
            return self._version_entities(conn, [row], project, {model.id: model.name})[0]

    def search_model_versions(
        self,
        project: str,
        name: str | None = None,
        tags: Mapping[str, str] | None = None,
        statuses: Sequence[ModelVersionStatus] | None = None,
        run_id: str | None = None,
        *,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[ModelVersion]:
        with self._tx() as conn:
            pid = self._project_id(conn, project, create=False)
            if pid is None:
                return []
            query = (
                sa.select(model_versions)
                .join(registered_models, registered_models.c.id == _MV.model_id)
                .where(registered_models.c.project_id == pid)
                .order_by(registered_models.c.name, _MV.version.desc())
            )
            if name is not None:
                query = query.where(registered_models.c.name == name)
            if statuses:
                query = query.where(_MV.status.in_([ModelVersionStatus(s).value for s in statuses]))
            if run_id is not None:
                query = query.where(_MV.run_id == run_id)
            for key, value in (tags or {}).items():
                query = query.where(
                    sa.exists().where(
                        model_version_tags.c.version_id == _MV.id,
                        model_version_tags.c.key == key,
                        model_version_tags.c.value == value,
                    )
                )
            rows = conn.execute(window(query, offset, limit)).all()
            names = dict(
                conn.execute(sa.select(registered_models.c.id, registered_models.c.name).where(registered_models.c.project_id == pid)).all()
            )
            return self._version_entities(conn, rows, project, names)

    def update_model_version(
        self,
        project: str,
        name: str,
        version: int,
        *,
        status: ModelVersionStatus | None = None,
        status_message: str | None = None,
        description: str | None = None,
        set_tags: Mapping[str, str] | None = None,
        package_signature: str | None = None,
        manifest: Mapping[str, Any] | None = None,
        delete_tags: Sequence[str] = (),
    ) -> ModelVersion:
        with self._tx(write=True) as conn:
            model = self._model_row(conn, project, name, lock=True)
            row = self._version_row(conn, model, project, int(version))
            values: dict[str, Any] = {"updated_at": now_ms()}
            if status is not None:
                status = ModelVersionStatus(status)
                if status is ModelVersionStatus.ARCHIVED:
                    pointing = conn.execute(
                        sa.select(model_aliases.c.alias).where(
                            model_aliases.c.model_id == model.id, model_aliases.c.version == row.version
                        )
                    ).scalars().all()
                    if pointing:
                        names = ", ".join(f"@{a}" for a in sorted(pointing))
                        raise InvalidParameter(
                            f"Cannot archive version {row.version} of {name!r}: {names} point(s) to it. Move the "
                            f"alias first (`shipyard models alias {name} {sorted(pointing)[0]} <other version>`) or "
                            f"remove it (`shipyard models alias {name} {sorted(pointing)[0]} --delete`)."
                        )
                values["status"] = status.value
            if status_message is not None:
                values["status_message"] = status_message
            if description is not None:
                values["description"] = description
            if package_signature is not None:
                values["package_signature"] = package_signature
            if manifest is not None:
                values["manifest"] = json.dumps(dict(manifest))
            conn.execute(model_versions.update().where(_MV.id == row.id).values(**values))
            _upsert_tags(self, conn, model_version_tags, "version_id", row.id, set_tags, delete_tags)
            fresh = conn.execute(sa.select(model_versions).where(_MV.id == row.id)).one()
            return self._version_entities(conn, [fresh], project, {model.id: model.name})[0]

    # -- aliases -----------------------------------------------------------------------------
    def set_alias(
        self, project: str, name: str, alias: str, version: int | None, actor: str | None = None, reason: str | None = None
    ) -> AliasEvent:
        with self._tx(write=True) as conn:
            model = self._model_row(conn, project, name, lock=True)
            now = now_ms()  # after the lock: history order = commit order = time order
            current = conn.execute(
                sa.select(model_aliases.c.version).where(model_aliases.c.model_id == model.id, model_aliases.c.alias == alias)
            ).scalar()
            if version is None:
                if current is None:
                    raise NotFound(f"Model {name!r} has no alias @{alias}.")
                conn.execute(
                    model_aliases.delete().where(model_aliases.c.model_id == model.id, model_aliases.c.alias == alias)
                )
            else:
                row = self._version_row(conn, model, project, int(version))
                if row.status != ModelVersionStatus.READY.value:
                    raise InvalidParameter(
                        f"Cannot point @{alias} at version {row.version} of {name!r}: its status is {row.status}; "
                        "only READY versions can carry an alias."
                    )
                ins = self._insert(model_aliases)
                conn.execute(
                    ins.values(model_id=model.id, alias=alias, version=row.version, updated_at=now).on_conflict_do_update(
                        index_elements=["model_id", "alias"],
                        set_={"version": ins.excluded.version, "updated_at": ins.excluded.updated_at},
                    )
                )
            conn.execute(
                alias_events.insert().values(
                    model_id=model.id, alias=alias, version=version, previous_version=current, actor=actor,
                    reason=reason, at=now,
                )
            )
        return AliasEvent(name, alias, version, current, actor, reason, now)

    def alias_history(
        self, project: str, name: str, alias: str | None = None, *, offset: int = 0, limit: int | None = None
    ) -> list[AliasEvent]:
        with self._tx() as conn:
            model = self._model_row(conn, project, name)
            query = sa.select(alias_events).where(alias_events.c.model_id == model.id)
            if alias is not None:
                query = query.where(alias_events.c.alias == alias)
            rows = conn.execute(window(query.order_by(alias_events.c.id), offset, limit)).all()
        return [AliasEvent(name, r.alias, r.version, r.previous_version, r.actor, r.reason, r.at) for r in rows]

    def versions_referencing_runs(self, run_ids: Sequence[str]) -> set[str]:
        """Run ids among ``run_ids`` that back a registered version (gc must keep them)."""
        with self._tx() as conn:
            rows = conn.execute(sa.select(_MV.run_id).where(_MV.run_id.in_(list(run_ids))).distinct()).scalars().all()
        return {r for r in rows if r}


def _upsert_tags(
    store: SqlRegistryMixin, conn: sa.Connection, table: sa.Table, owner: str, owner_id: int,
    set_tags: Mapping[str, str] | None, delete_tags: Sequence[str],
) -> None:
    if set_tags:
        ins = store._insert(table)
        conn.execute(
            ins.on_conflict_do_update(index_elements=[owner, "key"], set_={"value": ins.excluded.value}),
            [{owner: owner_id, "key": k, "value": v} for k, v in set_tags.items()],
        )
    if delete_tags:
        conn.execute(table.delete().where(table.c[owner] == owner_id, table.c.key.in_(list(delete_tags))))


__all__ = ["SqlRegistryMixin"]
