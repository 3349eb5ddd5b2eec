"""The feature-store part of ``SqlStore``: definitions as versioned records, materialization watermarks.

``apply_feature_definitions`` is one transaction, so a project's definitions move together: a
``shipyard features apply`` that fails half-way leaves the previous set in place."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from shipyard._internal._time import now_ms
from shipyard.entities import FeatureDefinition, Materialization
from shipyard.exceptions import AlreadyExists, InvalidParameter, NotFound
from shipyard.storage._feature_port import FeatureRegistryStore
from shipyard.storage._sql._registry import did_you_mean, require_name, window
from shipyard.storage._sql._schema import feature_definitions, feature_materializations

_D = feature_definitions.c
_W = feature_materializations.c
KINDS = ("entity", "feature_view")
_LABEL = {"entity": "entity", "feature_view": "feature view"}


def _kind(kind: object) -> str:
    if kind not in KINDS:
        raise InvalidParameter(f"A feature definition's kind is one of {list(KINDS)}, got {kind!r}.")
    return str(kind)


def _definition(row: Any, project: str) -> FeatureDefinition:
    return FeatureDefinition(project, row.kind, row.name, int(row.version), row.digest, json.loads(row.spec),
                             int(row.created_at), bool(row.deleted))


def _materialization(row: Any, project: str) -> Materialization:
    return Materialization(project, row.view, int(row.view_version), int(row.watermark), int(row.rows),
                           int(row.updated_at))


class SqlFeatureMixin(FeatureRegistryStore):
    """Mixed into ``SqlStore``; relies on its ``_tx`` and ``_project_id``."""

    dialect: str

    if TYPE_CHECKING:  # provided by SqlStore

        def _tx(self, write: bool = False) -> Any: ...

        def _project_id(self, conn: sa.Connection, name: str, create: bool) -> int | None: ...

    @staticmethod
    def _latest(conn: sa.Connection, pid: int | None, kind: str, name: str) -> Any:
        if pid is None:
            return None
        query = sa.select(feature_definitions).where(_D.project_id == pid, _D.kind == kind, _D.name == name)
        return conn.execute(query.order_by(_D.version.desc()).limit(1)).first()

    def apply_feature_definitions(
        self, project: str, definitions: Sequence[Mapping[str, Any]], *, remove: Sequence[Sequence[str]] = (),
    ) -> list[FeatureDefinition]:
        items = []
        for item in definitions:
            kind = _kind(item.get("kind"))
            require_name(f"A {_LABEL[kind]}", item.get("name"))
            digest = item.get("digest")
            if not isinstance(digest, str) or not digest:
                raise InvalidParameter(f"The {_LABEL[kind]} {item['name']!r} has no digest.")
            items.append((kind, str(item["name"]), digest, json.dumps(dict(item.get("spec") or {}), sort_keys=True)))
        seen = [(k, n) for k, n, _, _ in items]
        if len(set(seen)) != len(seen):
            raise InvalidParameter(f"Each definition may be applied once per call; repeated: "
                                   f"{sorted({f'{k}/{n}' for k, n in seen if seen.count((k, n)) > 1})}.")
        now = now_ms()
        written: list[FeatureDefinition] = []
        try:
            with self._tx(write=True) as conn:
                pid = self._project_id(conn, project, create=True)
                for kind, name, digest, spec in items:
                    latest = self._latest(conn, pid, kind, name)
                    if latest is not None and latest.digest == digest and not latest.deleted:
                        continue
                    version = int(latest.version) + 1 if latest is not None else 1
                    conn.execute(feature_definitions.insert().values(
                        project_id=pid, kind=kind, name=name, version=version, digest=digest, spec=spec,
                        deleted=False, created_at=now))
                    written.append(FeatureDefinition(project, kind, name, version, digest, json.loads(spec), now))
                for pair in remove:
                    kind, name = _kind(pair[0]), str(pair[1])
                    latest = self._latest(conn, pid, kind, name)
                    if latest is None or latest.deleted:
                        raise NotFound(f"No {_LABEL[kind]} {name!r} to remove in project {project!r}.")
                    version = int(latest.version) + 1
                    conn.execute(feature_definitions.insert().values(
                        project_id=pid, kind=kind, name=name, version=version, digest=latest.digest,
                        spec=latest.spec, deleted=True, created_at=now))
                    written.append(FeatureDefinition(project, kind, name, version, latest.digest,
                                                     json.loads(latest.spec), now, deleted=True))
        except sa.exc.IntegrityError as exc:
            raise AlreadyExists(f"Another apply changed the feature definitions of project {project!r} at the same "
                                "time; run it again (an unchanged definition adds no version).") from exc
        return written

    def get_feature_definition(self, project: str, kind: str, name: str, version: int | None = None) -> FeatureDefinition:
        kind = _kind(kind)
        with self._tx() as conn:
            pid = self._project_id(conn, project, create=False)
            row = None
            if pid is not None:
                query = sa.select(feature_definitions).where(_D.project_id == pid, _D.kind == kind, _D.name == name)
                query = query.where(_D.version == version) if version is not None else query.order_by(_D.version.desc())
                row = conn.execute(query.limit(1)).first()
            if row is None or (version is None and row.deleted):
                names = self._live_names(conn, pid, kind)
                if version is not None and name in names:
                    raise NotFound(f"The {_LABEL[kind]} {name!r} has no version {version}. List its versions with "
                                   f"`shipyard features list --history {name}`.")
                raise NotFound(f"No {_LABEL[kind]} {name!r} in project {project!r}.{did_you_mean(name, names)} Define "
                               "it in your features module and run `shipyard features apply`.")
        return _definition(row, project)

    def _live_names(self, conn: sa.Connection, pid: int | None, kind: str) -> list[str]:
        if pid is None:
            return []
        latest = (sa.select(_D.name, sa.func.max(_D.version).label("version"))
                  .where(_D.project_id == pid, _D.kind == kind).group_by(_D.name).subquery())
        query = sa.select(_D.name).join(latest, sa.and_(_D.name == latest.c.name, _D.version == latest.c.version)) \
            .where(_D.project_id == pid, _D.kind == kind, _D.deleted.is_(False))
        return list(conn.execute(query).scalars().all())

    def list_feature_definitions(
        self, project: str, kind: str | None = None, *, history: str | None = None, offset: int = 0,
        limit: int | None = None,
    ) -> list[FeatureDefinition]:
        with self._tx() as conn:
            pid = self._project_id(conn, project, create=False)
            if pid is None:
                return []
            if history is not None:
                hkind, _, hname = history.partition("/")
                query = sa.select(feature_definitions).where(
                    _D.project_id == pid, _D.kind == _kind(hkind), _D.name == hname).order_by(_D.version)
            else:
                where = [_D.project_id == pid] + ([_D.kind == _kind(kind)] if kind is not None else [])
                latest = (sa.select(_D.kind, _D.name, sa.func.max(_D.version).label("version"))
                          .where(*where).group_by(_D.kind, _D.name).subquery())
                query = sa.select(feature_definitions).join(latest, sa.and_(
                    _D.kind == latest.c.kind, _D.name == latest.c.name, _D.version == latest.c.version)) \
                    .where(_D.project_id == pid, _D.deleted.is_(False)).order_by(_D.kind, _D.name)
            rows = conn.execute(window(query, offset, limit)).all()
        return [_definition(r, project) for r in rows]

    def set_materialization(
        self, project: str, view: str, *, view_version: int, watermark: int, rows: int,
        expected_watermark: int | None = None,
    ) -> Materialization:
        require_name("A feature view", view)
        now = now_ms()
        with self._tx(write=True) as conn:
            pid = self._project_id(conn, project, create=True)
            query = sa.select(feature_materializations).where(_W.project_id == pid, _W.view == view)
            if self.dialect == "postgresql":
                query = query.with_for_update()
            row = conn.execute(query).first()
            if expected_watermark is not None and (row is None or int(row.watermark) != expected_watermark):
                found = "none" if row is None else row.watermark
                raise AlreadyExists(f"The materialization watermark of {view!r} moved (expected {expected_watermark}, "
                                    f"found {found}): another materialization ran; run again.")
            total = int(rows) + (int(row.rows) if row is not None and int(row.view_version) == view_version else 0)
            values = {"view_version": view_version, "watermark": watermark, "rows": total, "updated_at": now}
            if row is None:
                try:
                    conn.execute(feature_materializations.insert().values(project_id=pid, view=view, **values))
                except sa.exc.IntegrityError as exc:
                    raise AlreadyExists(f"Another materialization of {view!r} started at the same time; run again.") \
                        from exc
            else:
                conn.execute(feature_materializations.update().where(_W.id == row.id).values(**values))
        return Materialization(project, view, view_version, watermark, total, now)

    def list_materializations(self, project: str) -> list[Materialization]:
        with self._tx() as conn:
            pid = self._project_id(conn, project, create=False)
            if pid is None:
                return []
            rows = conn.execute(sa.select(feature_materializations).where(_W.project_id == pid)
                                .order_by(_W.view)).all()
        return [_materialization(r, project) for r in rows]
