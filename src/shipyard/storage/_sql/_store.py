"""``SqlStore``: the metadata store on SQLite or PostgreSQL (SQLAlchemy Core, Alembic migrations)."""

from __future__ import annotations

import base64
import contextlib
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from shipyard._internal._time import now_ms
from shipyard.entities import (
    ArtifactRecord,
    Dataset,
    Experiment,
    LifecycleStage,
    Metric,
    Param,
    Project,
    Run,
    RunInput,
    RunPage,
    RunStatus,
    RunTag,
)
from shipyard.entities._tracking import frozen_map
from shipyard.exceptions import AlreadyExists, InvalidParameter, NotFound
from shipyard.storage._filter import parse_filter, parse_order_by
from shipyard.storage._sql import _engine
from shipyard.storage._sql._access import SqlAccessMixin
from shipyard.storage._sql._deployments import SqlDeploymentMixin
from shipyard.storage._sql._features import SqlFeatureMixin
from shipyard.storage._sql._logged import SqlLoggedModelMixin
from shipyard.storage._sql._monitoring import SqlMonitoringMixin
from shipyard.storage._sql._registry import SqlRegistryMixin, require_name, window
from shipyard.storage._sql._schema import (
    SCHEMA_HEAD,
    artifacts,
    datasets,
    experiment_tags,
    experiments,
    latest_metrics,
    metrics,
    params,
    projects,
    run_datasets,
    runs,
    tags,
)
from shipyard.storage._sql._search import Compiler, effective_status
from shipyard.storage.base import MetadataStore

_CHUNK = 500
_TAGS = tags  # method arguments named `tags` shadow the table
_NEW_PROJECTS = "shipyard_new_projects"  # conn.info key: projects created in the open transaction


class SqlStore(SqlLoggedModelMixin, SqlRegistryMixin, SqlDeploymentMixin, SqlMonitoringMixin, SqlFeatureMixin, SqlAccessMixin,
               MetadataStore):
    """Metadata store over SQLAlchemy 2: ``sqlite:///path.db`` or ``postgresql+psycopg://...``.

    Opening an empty database creates the schema; opening an older one raises
    :class:`~shipyard.exceptions.SchemaVersionError` naming ``shipyard store upgrade``.
    """

    capabilities = frozenset({"transactions", "concurrent_writers"})

    def __init__(self, uri: str, *, busy_timeout: float = 60.0, check_schema: bool = True) -> None:
        self._uri = _engine.normalize_uri(uri)
        self._display = _engine.display(self._uri)
        self._engine = _engine.create_engine(self._uri, busy_timeout)
        self.dialect = self._engine.dialect.name
        self._project_ids: dict[str, int] = {}
        self._search_cache: dict[tuple[Any, ...], sa.Select[Any]] = {}
        if check_schema:
            _engine.ensure_schema(self._engine, self._display)

    # -- housekeeping ----------------------------------------------------------------------
    @property
    def uri(self) -> str:
        return self._display

    @property
    def engine(self) -> sa.Engine:
        return self._engine

    def close(self) -> None:
        self._engine.dispose()

    def info(self) -> dict[str, Any]:
        revision = _engine.current_revision(self._engine)
        with self._tx() as conn:
            counts = {
                name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                for name, table in (
                    ("projects", projects),
                    ("experiments", experiments),
                    ("runs", runs),
                    ("metric values", metrics),
                    ("datasets", datasets),
                    ("artifacts", artifacts),
                )
            }
        return {
            "uri": self._display,
            "backend": self.dialect,
            "schema_revision": revision,
            "schema_expected": SCHEMA_HEAD,
            "counts": counts,
        }

    @contextlib.contextmanager
    def _tx(self, write: bool = False) -> Iterator[sa.Connection]:
        """One transaction. Ids of projects it creates are cached only once it commits: cached before,
        a rollback would leave an id that no row has (foreign-key failures, lookups that find nothing)."""
        with _engine.transaction(self._engine, write) as conn:
            created: dict[str, int] = {}
            conn.info[_NEW_PROJECTS] = created
            try:
                yield conn
            finally:
                del conn.info[_NEW_PROJECTS]
        self._project_ids.update(created)

    def _insert(self, table: sa.Table) -> Any:
        """An INSERT with ON CONFLICT support for this dialect (imported on first use)."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects import postgresql

            return postgresql.insert(table)
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)

    # -- projects and experiments -----------------------------------------------------------
    def _project_id(self, conn: sa.Connection, name: str, create: bool) -> int | None:
        cached = self._project_ids.get(name)
        if cached is not None:
            return cached
        row = conn.execute(sa.select(projects.c.id).where(projects.c.name == name)).scalar()
        if row is None and create:
            conn.execute(
                self._insert(projects).values(name=name, created_at=now_ms()).on_conflict_do_nothing()
            )
            row = conn.execute(sa.select(projects.c.id).where(projects.c.name == name)).scalar_one()
            conn.info[_NEW_PROJECTS][name] = int(row)  # cached by _tx once the transaction commits
        elif row is not None and name not in conn.info[_NEW_PROJECTS]:
            self._project_ids[name] = int(row)
        return row

    def get_or_create_project(self, name: str) -> Project:
        with self._tx(write=True) as conn:
            self._project_id(conn, name, create=True)
            row = conn.execute(sa.select(projects).where(projects.c.name == name)).one()
        return Project(id=row.id, name=row.name, created_at=row.created_at)

    def list_projects(self) -> list[Project]:
        with self._tx() as conn:
            rows = conn.execute(sa.select(projects).order_by(projects.c.name)).all()
        return [Project(id=r.id, name=r.name, created_at=r.created_at) for r in rows]

    def create_experiment(self, project: str, name: str, tags: Mapping[str, str] | None = None) -> Experiment:
        require_name("Experiment", name)
        now = now_ms()
        with self._tx(write=True) as conn:
            pid = self._project_id(conn, project, create=True)
            exists = conn.execute(
                sa.select(experiments.c.id, experiments.c.lifecycle).where(
                    experiments.c.project_id == pid, experiments.c.name == name
                )
            ).first()
            if exists is not None:
                hint = (
                    f"Restore it with `shipyard experiments restore {exists.id}`."
                    if exists.lifecycle == LifecycleStage.DELETED.value
                    else "Use it (start_run(experiment=...) reuses it) or pick another name."
                )
                raise AlreadyExists(f"Experiment {name!r} already exists in project {project!r} (id {exists.id}). {hint}")
            result = conn.execute(
                self._insert(experiments)
                .values(project_id=pid, name=name, lifecycle="active", created_at=now, updated_at=now)
                .on_conflict_do_nothing()
                .returning(experiments.c.id)
            ).first()
            if result is None:
                raise AlreadyExists(f"Experiment {name!r} was just created in project {project!r} by another writer.")
            if tags:
                conn.execute(
                    experiment_tags.insert(),
                    [{"experiment_id": result.id, "key": k, "value": v} for k, v in tags.items()],
                )
        return self.get_experiment(project, id=str(result.id))

    def _experiment_where(self, conn: sa.Connection, project: str, id: str | None, name: str | None) -> Any:
        if (id is None) == (name is None):
            raise InvalidParameter("Give exactly one of id= or name= to look up an experiment.")
        pid = self._project_id(conn, project, create=False)
        if pid is None:
            raise NotFound(
                f"No project {project!r} in {self._display}. Projects are created by their first record; "
                "list them with `shipyard store info`."
            )
        if id is not None:
            try:
                eid = int(id)
            except (TypeError, ValueError):
                raise NotFound(f"No experiment with id {id!r} in project {project!r}: ids are integers.") from None
            return sa.and_(experiments.c.project_id == pid, experiments.c.id == eid)
        return sa.and_(experiments.c.project_id == pid, experiments.c.name == name)

    def _experiment_with_run(self, conn: sa.Connection, project: str, experiment_id: str, run_id: str | None,
                             what: str) -> Any:
        """The experiment (id, project id) a new record goes into, and a check that ``run_id`` (the
        parent run, the source run) belongs to the same project."""
        where = self._experiment_where(conn, project, experiment_id, None)
        exp = conn.execute(sa.select(experiments.c.id, experiments.c.project_id).where(where)).first()
        if exp is None:
            raise NotFound(f"No experiment with id {experiment_id} in project {project!r}; create it first.")
        if run_id is not None:
            run = conn.execute(sa.select(runs.c.project_id).where(runs.c.id == run_id)).first()
            if run is None or run.project_id != exp.project_id:
                raise NotFound(f"No {what} {run_id!r} in project {project!r}.")
        return exp

    def get_experiment(self, project: str, *, id: str | None = None, name: str | None = None) -> Experiment:
        with self._tx() as conn:
            where = self._experiment_where(conn, project, id, name)
            row = conn.execute(sa.select(experiments).where(where)).first()
            if row is None:
                what = f"id {id}" if id is not None else f"name {name!r}"
                raise NotFound(
                    f"No experiment with {what} in project {project!r}. List them with `shipyard experiments list`."
                )
            etags = dict(
                conn.execute(
                    sa.select(experiment_tags.c.key, experiment_tags.c.value).where(
                        experiment_tags.c.experiment_id == row.id
                    )
                ).all()
            )
        return _experiment(row, project, etags)

    def list_experiments(
        self, project: str, lifecycle: LifecycleStage | None = LifecycleStage.ACTIVE, *, offset: int = 0, limit: int | None = None
    ) -> list[Experiment]:
        with self._tx() as conn:
            pid = self._project_id(conn, project, create=False)
            if pid is None:
                return []
            query = sa.select(experiments).where(experiments.c.project_id == pid).order_by(experiments.c.id)
            if lifecycle is not None:
                query = query.where(experiments.c.lifecycle == lifecycle.value)
            rows = conn.execute(window(query, offset, limit)).all()
            ids = [r.id for r in rows]
            all_tags: dict[int, dict[str, str]] = {}
            for chunk in _chunks(ids):
                for t in conn.execute(sa.select(experiment_tags).where(experiment_tags.c.experiment_id.in_(chunk))):
                    all_tags.setdefault(t.experiment_id, {})[t.key] = t.value
        return [_experiment(r, project, all_tags.get(r.id, {})) for r in rows]

    def update_experiment(
        self, project: str, id: str, *, name: str | None = None, lifecycle: LifecycleStage | None = None
    ) -> Experiment:
        with self._tx(write=True) as conn:
            where = self._experiment_where(conn, project, id, None)
            row = conn.execute(sa.select(experiments).where(where)).first()
            if row is None:
                raise NotFound(f"No experiment with id {id} in project {project!r}. List them with `shipyard experiments list --all`.")
            values: dict[str, Any] = {"updated_at": now_ms()}
            if name is not None and name != row.name:
                taken = conn.execute(
                    sa.select(experiments.c.id).where(
                        experiments.c.project_id == row.project_id, experiments.c.name == name
                    )
                ).first()
                if taken is not None:
                    raise AlreadyExists(f"Cannot rename experiment {id} to {name!r}: experiment {taken.id} has that name.")
                values["name"] = name
            if lifecycle is not None:
                values["lifecycle"] = lifecycle.value
                conn.execute(
                    runs.update().where(runs.c.experiment_id == row.id).values(lifecycle=lifecycle.value)
                )
            conn.execute(experiments.update().where(experiments.c.id == row.id).values(**values))
        return self.get_experiment(project, id=id)

    # -- runs ------------------------------------------------------------------------------
    def create_run(
        self,
        project: str,
        experiment_id: str,
        *,
        run_id: str,
        name: str,
        start_time: int,
        artifact_uri: str,
        user: str | None = None,
        host: str | None = None,
        parent_run_id: str | None = None,
        heartbeat_timeout_ms: int | None = None,
        git_commit: str | None = None,
        git_dirty: bool | None = None,
        source: str | None = None,
        environment: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Run:
        with self._tx(write=True) as conn:
            exp = self._experiment_with_run(conn, project, experiment_id, parent_run_id, "parent run")
            inserted = conn.execute(
                self._insert(runs).on_conflict_do_nothing().values(
                    id=run_id,
                    project_id=exp.project_id,
                    experiment_id=exp.id,
                    name=name,
                    status=RunStatus.RUNNING.value,
                    start_time=start_time,
                    heartbeat_at=start_time,
                    heartbeat_timeout_ms=heartbeat_timeout_ms,
                    user=user,
                    host=host,
                    parent_run_id=parent_run_id,
                    lifecycle=LifecycleStage.ACTIVE.value,
                    artifact_uri=artifact_uri,
                    git_commit=git_commit,
                    git_dirty=git_dirty,
                    source=source,
                    environment=json.dumps(dict(environment or {}), default=str),
                ).returning(runs.c.id)
            ).first()
            if inserted is None:
                raise AlreadyExists(f"A run with id {run_id!r} already exists; let Shipyard generate run ids.")
            if tags:
                conn.execute(_TAGS.insert(), [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()])
        return Run(
            id=run_id, experiment_id=str(exp.id), project=project, name=name, status=RunStatus.RUNNING,
            start_time=start_time, end_time=None, heartbeat_at=start_time, user=user, host=host,
            parent_run_id=parent_run_id, lifecycle=LifecycleStage.ACTIVE, artifact_uri=artifact_uri,
            git_commit=git_commit, git_dirty=git_dirty, source=source,
            environment=json.loads(json.dumps(dict(environment or {}), default=str)), tags=dict(tags or {}),
        )

    def update_run(
        self,
        run_id: str,
        *,
        status: RunStatus | None = None,
        end_time: int | None = None,
        heartbeat_at: int | None = None,
        name: str | None = None,
        failure: str | None = None,
        lifecycle: LifecycleStage | None = None,
    ) -> None:
        values: dict[str, Any] = {}
        if status is not None:
            values["status"] = RunStatus(status).value
        if end_time is not None:
            values["end_time"] = end_time
        if heartbeat_at is not None:
            values["heartbeat_at"] = heartbeat_at
        if name is not None:
            values["name"] = name
        if failure is not None:
            values["failure"] = failure
        if lifecycle is not None:
            values["lifecycle"] = LifecycleStage(lifecycle).value
        with self._tx(write=True) as conn:
            if not values:
                self._require_run(conn, run_id)
                return
            result = conn.execute(runs.update().where(runs.c.id == run_id).values(**values))
            if result.rowcount == 0:
                raise NotFound(_no_run(run_id))

    def _require_run(self, conn: sa.Connection, run_id: str) -> None:
        if conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id)).first() is None:
            raise NotFound(_no_run(run_id))

    def get_run(self, run_id: str) -> Run:
        with self._tx() as conn:
            found = self._load_runs(conn, _RUN_SELECT.where(runs.c.id == sa.bindparam("rid")), {"rid": run_id, "now": now_ms()})
        if not found:
            raise NotFound(_no_run(run_id))
        return found[0]

    def _load_runs(self, conn: sa.Connection, query: sa.Select[Any], binds: dict[str, Any]) -> list[Run]:
        rows = conn.execute(query, binds).all()
        if not rows:
            return []
        ids = [r.id for r in rows]
        p: dict[str, dict[str, str]] = {}
        t: dict[str, dict[str, str]] = {}
        m: dict[str, dict[str, float]] = {}
        for chunk in _chunks(ids):
            for run_id, key, value in conn.execute(_PARAMS_OF, {"ids": chunk}):
                p.setdefault(run_id, {})[key] = value
            for run_id, key, value in conn.execute(_TAGS_OF, {"ids": chunk}):
                t.setdefault(run_id, {})[key] = value
            for run_id, key, value, is_nan in conn.execute(_METRICS_OF, {"ids": chunk}):
                m.setdefault(run_id, {})[key] = math.nan if is_nan else value
        return [_run(r, p.get(r.id), t.get(r.id), m.get(r.id)) for r in rows]

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        if not (metrics or params or tags):
            return
        with self._tx(write=True) as conn:
            self._require_run(conn, run_id)
            if params:
                self._write_params(conn, run_id, params)
            if tags:
                last = {t.key: t.value for t in tags}
                ins = self._insert(_TAGS)
                conn.execute(
                    ins.on_conflict_do_update(index_elements=["run_id", "key"], set_={"value": ins.excluded.value}),
                    [{"run_id": run_id, "key": k, "value": v} for k, v in last.items()],
                )
            if metrics:
                self._write_metrics(conn, run_id, metrics)

    def _write_params(self, conn: sa.Connection, run_id: str, batch: Sequence[Param]) -> None:
        wanted: dict[str, str] = {}
        for p in batch:
            if p.key in wanted and wanted[p.key] != p.value:
                raise InvalidParameter(
                    f"Param {p.key!r} was given twice in one batch with different values "
                    f"({wanted[p.key]!r} and {p.value!r}); params are write-once."
                )
            wanted[p.key] = p.value
        existing: dict[str, str] = {}
        for chunk in _chunks(list(wanted)):
            existing.update(
                conn.execute(
                    sa.select(params.c.key, params.c.value).where(params.c.run_id == run_id, params.c.key.in_(chunk))
                ).all()
            )
        conflicts = [k for k, v in wanted.items() if k in existing and existing[k] != v]
        if conflicts:
            k = conflicts[0]
            raise InvalidParameter(
                f"Param {k!r} of run {run_id} is already {existing[k]!r} and cannot change to {wanted[k]!r}: "
                "params are write-once. Log the new value under another key, or start a new run."
            )
        new = [{"run_id": run_id, "key": k, "value": v} for k, v in wanted.items() if k not in existing]
        if new:
            conn.execute(self._insert(params).on_conflict_do_nothing(), new)

    def _write_metrics(self, conn: sa.Connection, run_id: str, batch: Sequence[Metric]) -> None:
        rows = []
        latest: dict[str, dict[str, Any]] = {}
        for m in batch:
            is_nan = math.isnan(m.value)
            row = {
                "run_id": run_id,
                "key": m.key,
                "value": 0.0 if is_nan else m.value,
                "is_nan": is_nan,
                "step": m.step,
                "timestamp": m.timestamp,
            }
            rows.append(row)
            best = latest.get(m.key)
            if best is None or (m.step, m.timestamp) >= (best["step"], best["timestamp"]):
                latest[m.key] = row
        # The hot path of logging: hand plain tuples to the driver's executemany (SQLAlchemy's
        # per-row parameter processing costs more than the insert itself).
        mark = "?" if self.dialect == "sqlite" else "%s"
        conn.exec_driver_sql(
            f"INSERT INTO metrics (run_id, key, value, is_nan, step, timestamp) VALUES ({', '.join([mark] * 6)})",
            [(r["run_id"], r["key"], r["value"], r["is_nan"], r["step"], r["timestamp"]) for r in rows],
        )
        conn.execute(self._latest_upsert(), list(latest.values()))

    def _latest_upsert(self) -> Any:
        """The latest-value upsert, built once per store (building it costs more than running it)."""
        stmt = self.__dict__.get("_latest_stmt")
        if stmt is None:
            ins = self._insert(latest_metrics)
            lm = latest_metrics.c
            newer = sa.or_(
                ins.excluded.step > lm.step,
                sa.and_(ins.excluded.step == lm.step, ins.excluded.timestamp >= lm.timestamp),
            )
            stmt = ins.on_conflict_do_update(
                index_elements=["run_id", "key"],
                set_={
                    "value": ins.excluded.value,
                    "is_nan": ins.excluded.is_nan,
                    "step": ins.excluded.step,
                    "timestamp": ins.excluded.timestamp,
                },
                where=newer,
            )
            self.__dict__["_latest_stmt"] = stmt
        return stmt

    def get_metric_history(self, run_id: str, key: str, *, offset: int = 0, limit: int | None = None) -> list[Metric]:
        with self._tx() as conn:
            self._require_run(conn, run_id)
            rows = conn.execute(window(
                sa.select(metrics.c.value, metrics.c.is_nan, metrics.c.step, metrics.c.timestamp)
                .where(metrics.c.run_id == run_id, metrics.c.key == key)
                .order_by(metrics.c.step, metrics.c.timestamp, metrics.c.id), offset, limit
            )).all()
        return [Metric(key, math.nan if r.is_nan else r.value, r.step, r.timestamp) for r in rows]

    def search_runs(
        self,
        project: str,
        experiment_ids: Sequence[str] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
        lifecycle: LifecycleStage | None = LifecycleStage.ACTIVE,
    ) -> RunPage:
        if not isinstance(max_results, int) or max_results < 1 or max_results > 50_000:
            raise InvalidParameter(f"max_results must be an integer between 1 and 50000, got {max_results!r}.")
        offset = _decode_token(page_token)
        eids: list[int] = []
        if experiment_ids:
            try:
                eids = [int(e) for e in experiment_ids]
            except (TypeError, ValueError):
                raise InvalidParameter(f"Experiment ids are integers, got {list(experiment_ids)!r}.") from None
        query = self._search_statement(filter, tuple(order_by or ()), bool(eids), lifecycle)
        with self._tx() as conn:
            pid = self._project_id(conn, project, create=False)
            if pid is None:
                return RunPage((), None)
            params: dict[str, Any] = {"pid": pid, "now": now_ms(), "lim": max_results + 1, "off": offset}
            if eids:
                params["eids"] = eids
            if lifecycle is not None:
                params["life"] = lifecycle.value
            found = self._load_runs(conn, query, params)
        token = None
        if len(found) > max_results:
            found = found[:max_results]
            token = _encode_token(offset + max_results)
        return RunPage(tuple(found), token)

    def _search_statement(
        self, filter: str | None, order_by: tuple[str, ...], by_experiment: bool, lifecycle: LifecycleStage | None
    ) -> sa.Select[Any]:
        """The search statement for one filter / order-by, built once and cached: every value that
        changes between calls (project, experiments, time, paging) is a bound parameter."""
        key = (filter, order_by, by_experiment, lifecycle is not None)
        cached = self._search_cache.get(key)
        if cached is not None:
            return cached
        tree = parse_filter(filter)
        orders = parse_order_by(list(order_by) if order_by else None)
        compiler = Compiler(self.dialect)
        query = _RUN_SELECT.where(runs.c.project_id == sa.bindparam("pid"))
        if by_experiment:
            query = query.where(runs.c.experiment_id.in_(sa.bindparam("eids", expanding=True)))
        if lifecycle is not None:
            query = query.where(runs.c.lifecycle == sa.bindparam("life"))
        if tree is not None:
            query = query.where(compiler.compile(tree))
        clauses = [compiler.order_clause(o) for o in orders]
        clauses += [runs.c.start_time.desc(), runs.c.id.asc()]
        query = query.order_by(*clauses).limit(sa.bindparam("lim", type_=sa.Integer)).offset(
            sa.bindparam("off", type_=sa.Integer)
        )
        if len(self._search_cache) > 256:
            self._search_cache.clear()
        self._search_cache[key] = query
        return query

    def delete_runs_permanently(self, run_ids: Sequence[str]) -> int:
        count = 0
        with self._tx(write=True) as conn:
            for chunk in _chunks(list(run_ids)):
                for table in (metrics, latest_metrics, params, tags, run_datasets, artifacts):
                    conn.execute(table.delete().where(table.c.run_id.in_(chunk)))
                conn.execute(runs.update().where(runs.c.parent_run_id.in_(chunk)).values(parent_run_id=None))
                count += conn.execute(runs.delete().where(runs.c.id.in_(chunk))).rowcount
        return count

    # -- lineage ---------------------------------------------------------------------------
    def log_dataset(
        self,
        project: str,
        *,
        name: str,
        digest: str,
        num_rows: int,
        schema: Mapping[str, Any],
        profile: Mapping[str, Any],
        source: str | None = None,
    ) -> Dataset:
        with self._tx(write=True) as conn:
            pid = self._project_id(conn, project, create=True)
            conn.execute(
                self._insert(datasets)
                .values(
                    project_id=pid,
                    name=name,
                    digest=digest,
                    num_rows=num_rows,
                    schema=json.dumps(dict(schema), default=str),
                    profile=json.dumps(dict(profile), default=_json_default),
                    source=source,
                    created_at=now_ms(),
                )
                .on_conflict_do_nothing()
            )
            row = conn.execute(
                sa.select(datasets).where(
                    datasets.c.project_id == pid, datasets.c.name == name, datasets.c.digest == digest
                )
            ).one()
        return _dataset(row, project)

    def link_dataset(self, run_id: str, dataset_id: int, role: str, direction: str = "input") -> None:
        if direction not in ("input", "output"):
            raise InvalidParameter(f"direction must be 'input' or 'output', got {direction!r}.")
        with self._tx(write=True) as conn:
            self._require_run(conn, run_id)
            if conn.execute(sa.select(datasets.c.id).where(datasets.c.id == dataset_id)).first() is None:
                raise NotFound(f"No dataset with id {dataset_id}.")
            conn.execute(
                self._insert(run_datasets)
                .values(run_id=run_id, dataset_id=dataset_id, role=role, direction=direction)
                .on_conflict_do_nothing()
            )

    def list_run_datasets(self, run_id: str) -> list[RunInput]:
        with self._tx() as conn:
            self._require_run(conn, run_id)
            rows = conn.execute(
                sa.select(datasets, projects.c.name.label("project_name"), run_datasets.c.role, run_datasets.c.direction)
                .join(run_datasets, run_datasets.c.dataset_id == datasets.c.id)
                .join(projects, projects.c.id == datasets.c.project_id)
                .where(run_datasets.c.run_id == run_id)
                .order_by(run_datasets.c.direction, run_datasets.c.role, datasets.c.name)
            ).all()
        return [RunInput(_dataset(r, r.project_name), r.role, r.direction) for r in rows]

    def record_artifact(self, run_id: str, path: str, size: int, sha256: str) -> ArtifactRecord:
        now = now_ms()
        with self._tx(write=True) as conn:
            self._require_run(conn, run_id)
            ins = self._insert(artifacts)
            conn.execute(
                ins.values(run_id=run_id, path=path, size=size, sha256=sha256, created_at=now).on_conflict_do_update(
                    index_elements=["run_id", "path"],
                    set_={"size": ins.excluded.size, "sha256": ins.excluded.sha256, "created_at": ins.excluded.created_at},
                )
            )
        return ArtifactRecord(run_id, path, size, sha256, now)

    def list_artifacts(
        self, run_id: str, prefix: str | None = None, *, offset: int = 0, limit: int | None = None
    ) -> list[ArtifactRecord]:
        with self._tx() as conn:
            self._require_run(conn, run_id)
            query = sa.select(artifacts).where(artifacts.c.run_id == run_id).order_by(artifacts.c.path)
            if prefix:
                folder = prefix.rstrip("/")
                escaped = folder.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                query = query.where(
                    sa.or_(artifacts.c.path == folder, artifacts.c.path.like(escaped + "/%", escape="\\"))
                )
            rows = conn.execute(window(query, offset, limit)).all()
        return [ArtifactRecord(r.run_id, r.path, r.size, r.sha256, r.created_at) for r in rows]


# -- row → entity helpers -------------------------------------------------------------------


def _run_columns() -> list[Any]:
    return [
        runs.c.id,
        runs.c.experiment_id,
        projects.c.name.label("project_name"),
        runs.c.name,
        effective_status().label("status"),
        runs.c.start_time,
        runs.c.end_time,
        runs.c.heartbeat_at,
        runs.c.user,
        runs.c.host,
        runs.c.parent_run_id,
        runs.c.lifecycle,
        runs.c.artifact_uri,
        runs.c.git_commit,
        runs.c.git_dirty,
        runs.c.source,
        runs.c.failure,
        runs.c.environment,
    ]


_RUN_SELECT = sa.select(*_run_columns()).select_from(runs.join(projects, projects.c.id == runs.c.project_id))
_IDS: Any = sa.bindparam("ids", expanding=True)
_PARAMS_OF = sa.select(params.c.run_id, params.c.key, params.c.value).where(params.c.run_id.in_(_IDS))
_TAGS_OF = sa.select(tags.c.run_id, tags.c.key, tags.c.value).where(tags.c.run_id.in_(_IDS))
_METRICS_OF = sa.select(
    latest_metrics.c.run_id, latest_metrics.c.key, latest_metrics.c.value, latest_metrics.c.is_nan
).where(latest_metrics.c.run_id.in_(_IDS))


def _run(row: Any, p: dict[str, str] | None, t: dict[str, str] | None, m: dict[str, float] | None) -> Run:
    return Run(
        id=row.id,
        experiment_id=str(row.experiment_id),
        project=row.project_name,
        name=row.name,
        status=RunStatus(row.status),
        start_time=row.start_time,
        end_time=row.end_time,
        heartbeat_at=row.heartbeat_at,
        user=row.user,
        host=row.host,
        parent_run_id=row.parent_run_id,
        lifecycle=LifecycleStage(row.lifecycle),
        artifact_uri=row.artifact_uri,
        git_commit=row.git_commit,
        git_dirty=row.git_dirty,
        source=row.source,
        failure=row.failure,
        environment=frozen_map(json.loads(row.environment) if row.environment else None),
        params=frozen_map(p),
        metrics=frozen_map(m),
        tags=frozen_map(t),
    )


def _experiment(row: Any, project: str, etags: dict[str, str]) -> Experiment:
    return Experiment(
        id=str(row.id),
        project=project,
        name=row.name,
        lifecycle=LifecycleStage(row.lifecycle),
        created_at=row.created_at,
        updated_at=row.updated_at,
        tags=frozen_map(etags),
    )


def _dataset(row: Any, project: str) -> Dataset:
    return Dataset(
        id=row.id,
        project=project,
        name=row.name,
        digest=row.digest,
        num_rows=row.num_rows,
        schema=frozen_map(json.loads(row.schema)),
        profile=frozen_map(json.loads(row.profile)),
        source=row.source,
        created_at=row.created_at,
    )


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _chunks(items: list[Any], size: int = _CHUNK) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)] or []


def _no_run(run_id: str) -> str:
    return f"No run with id {run_id!r}. Find runs with `shipyard runs list` or sy.search_runs()."


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        offset = int(data["offset"])
        if offset < 0:
            raise ValueError
        return offset
    except Exception:  # noqa: BLE001 - any malformed token is the caller's error
        raise InvalidParameter(
            f"Invalid page token {token!r}: pass back the next_page_token of a previous search unchanged."
        ) from None
