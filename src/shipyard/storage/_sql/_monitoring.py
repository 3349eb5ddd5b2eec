"""The contract, monitor and event parts of ``SqlStore``.

A window's evaluation is one transaction (:meth:`SqlMonitoringMixin.record_window`): the result row
(unique per monitor and window start, so a second runner's write fails instead of doubling it), the
watermark, the alerts' life cycle and the events."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from shipyard._internal._time import now_ms
from shipyard.entities import (
    Alert,
    AlertSignal,
    AlertState,
    ContractVersion,
    Event,
    Monitor,
    MonitorResult,
    MonitorState,
)
from shipyard.exceptions import AlreadyExists, InvalidParameter, NotFound
from shipyard.storage._sql._registry import did_you_mean, require_name, window
from shipyard.storage._sql._schema import alerts, contracts, events, monitor_results, monitors
from shipyard.storage.base import ContractStore, EventStore, MonitorStore

_C = contracts.c
_M = monitors.c
_R = monitor_results.c
_A = alerts.c
_EV = events.c


class SqlMonitoringMixin(ContractStore, MonitorStore, EventStore):
    """Mixed into ``SqlStore``; relies on its ``_tx``, ``_insert`` and ``_project_id``."""

    dialect: str

    if TYPE_CHECKING:  # provided by SqlStore

        def _tx(self, write: bool = False) -> Any: ...

        def _insert(self, table: sa.Table) -> Any: ...

        def _project_id(self, conn: sa.Connection, name: str, create: bool) -> int | None: ...

    # -- contracts -----------------------------------------------------------------------------

    def create_contract_version(
        self, project: str, name: str, spec: Mapping[str, Any], *, description: str | None = None
    ) -> ContractVersion:
        require_name("A contract", name)
        now = now_ms()
        text = json.dumps(dict(spec), sort_keys=True)
        with self._tx(write=True) as conn:
            pid = self._project_id(conn, project, create=True)
            latest = conn.execute(sa.select(sa.func.max(_C.version)).where(_C.project_id == pid, _C.name == name)).scalar()
            version = int(latest or 0) + 1
            conn.execute(contracts.insert().values(project_id=pid, name=name, version=version, spec=text,
                                                   description=description, created_at=now))
        return ContractVersion(project, name, version, json.loads(text), now, description)

    def get_contract(self, project: str, name: str, version: int | None = None) -> ContractVersion:
        with self._tx() as conn:
            pid = self._project_id(conn, project, create=False)
            query = sa.select(contracts).where(_C.project_id == pid, _C.name == name)
            query = query.where(_C.version == version) if version is not None else query.order_by(_C.version.desc())
            row = conn.execute(query.limit(1)).first() if pid is not None else None
            if row is None:
                names = conn.execute(sa.select(_C.name).where(_C.project_id == pid).distinct()).scalars().all() if pid else []
                if version is not None and name in names:
                    raise NotFound(f"Contract {name!r} has no version {version}. List its versions with "
                                   "`shipyard data contracts`.")
                raise NotFound(f"No contract {name!r} in project {project!r}.{did_you_mean(name, names)} Save one with "
                               "sy.data.save_contract() or `shipyard data save`.")
        return _contract(row, project)

    def list_contracts(self, project: str, *, offset: int = 0, limit: int | None = None) -> list[ContractVersion]:
        with self._tx() as conn:
            pid = self._project_id(conn, project, create=False)
            if pid is None:
                return []
            latest = (sa.select(_C.name, sa.func.max(_C.version).label("version"))
                      .where(_C.project_id == pid).group_by(_C.name).subquery())
            query = sa.select(contracts).join(latest, sa.and_(_C.name == latest.c.name, _C.version == latest.c.version)) \
                .where(_C.project_id == pid).order_by(_C.name)
            rows = conn.execute(window(query, offset, limit)).all()
        return [_contract(r, project) for r in rows]

    # -- monitors ------------------------------------------------------------------------------

    def _monitor_row(self, conn: sa.Connection, project: str, name: str, lock: bool = False) -> Any:
        pid = self._project_id(conn, project, create=False)
        row = None
        if pid is not None:
            query = sa.select(monitors).where(_M.project_id == pid, _M.name == name)
            if lock and self.dialect == "postgresql":
                query = query.with_for_update()
            row = conn.execute(query).first()
        if row is None:
            names = conn.execute(sa.select(_M.name).where(_M.project_id == pid)).scalars().all() if pid else []
            raise NotFound(f"No monitor {name!r} in project {project!r}.{did_you_mean(name, names)} List them with "
                           "`shipyard monitor list`.")
        return row

    def create_monitor(
        self, project: str, name: str, *, deployment: str, window_ms: int, reference: Mapping[str, Any],
        config: Mapping[str, Any] | None = None, description: str | None = None,
    ) -> Monitor:
        require_name("A monitor", name)
        _check_window(window_ms)
        now = now_ms()
        with self._tx(write=True) as conn:
            pid = self._project_id(conn, project, create=True)
            inserted = conn.execute(
                self._insert(monitors).on_conflict_do_nothing().values(
                    project_id=pid, name=name, deployment=deployment, revision=1, state=MonitorState.ACTIVE.value,
                    window_ms=int(window_ms), watermark=None, reference=json.dumps(dict(reference)),
                    config=json.dumps(dict(config or {}), sort_keys=True), description=description,
                    created_at=now, updated_at=now,
                ).returning(_M.id)
            ).first()
            if inserted is None:
                raise AlreadyExists(f"Monitor {name!r} already exists in project {project!r}: change it with "
                                    "sy.monitor(), which updates an existing monitor, or delete it first.")
            return _monitor(self._monitor_row(conn, project, name), project)

    def get_monitor(self, project: str, name: str) -> Monitor:
        with self._tx() as conn:
            return _monitor(self._monitor_row(conn, project, name), project)

    def list_monitors(self, project: str, *, offset: int = 0, limit: int | None = None) -> list[Monitor]:
        with self._tx() as conn:
            pid = self._project_id(conn, project, create=False)
            if pid is None:
                return []
            rows = conn.execute(window(sa.select(monitors).where(_M.project_id == pid).order_by(_M.name),
                                       offset, limit)).all()
        return [_monitor(r, project) for r in rows]

    def update_monitor(
        self, project: str, name: str, *, window_ms: int, reference: Mapping[str, Any], config: Mapping[str, Any],
        state: MonitorState, description: str | None = None, expected_revision: int | None = None,
    ) -> Monitor:
        _check_window(window_ms)
        with self._tx(write=True) as conn:
            row = self._monitor_row(conn, project, name, lock=True)
            if expected_revision is not None and row.revision != expected_revision:
                raise AlreadyExists(f"Monitor {name!r} is at revision {row.revision}, not {expected_revision}: someone "
                                    "changed it meanwhile. Read it again and apply your change.")
            conn.execute(monitors.update().where(_M.id == row.id).values(
                revision=row.revision + 1, window_ms=int(window_ms), reference=json.dumps(dict(reference)),
                config=json.dumps(dict(config), sort_keys=True), state=MonitorState(state).value,
                description=description if description is not None else row.description, updated_at=now_ms()))
            return _monitor(self._monitor_row(conn, project, name), project)

    def delete_monitor(self, project: str, name: str) -> None:
        with self._tx(write=True) as conn:
            row = self._monitor_row(conn, project, name, lock=True)
            conn.execute(alerts.delete().where(_A.monitor_id == row.id))
            conn.execute(monitor_results.delete().where(_R.monitor_id == row.id))
            conn.execute(monitors.delete().where(_M.id == row.id))

    def record_window(
        self, project: str, name: str, result: MonitorResult, firing: Sequence[AlertSignal] = ()
    ) -> list[Alert]:
        if result.window_end <= result.window_start:
            raise InvalidParameter(f"A window must end after it starts (got {result.window_start}…{result.window_end}).")
        now = now_ms()
        with self._tx(write=True) as conn:
            row = self._monitor_row(conn, project, name, lock=True)
            inserted = conn.execute(self._insert(monitor_results).on_conflict_do_nothing().values(
                monitor_id=row.id, window_start=result.window_start, window_end=result.window_end, rows=result.rows,
                labelled=result.labelled, status=result.status, computed_at=result.computed_at,
                metrics=json.dumps(dict(result.metrics), sort_keys=True), detail=json.dumps(dict(result.detail)),
            ).returning(_R.id)).first()
            if inserted is None:
                raise AlreadyExists(f"Monitor {name!r} already has a result for the window starting at "
                                    f"{result.window_start}; nothing was recorded.")
            watermark = max(row.watermark or 0, result.window_end)
            conn.execute(monitors.update().where(_M.id == row.id).values(watermark=watermark))
            touched = self._move_alerts(conn, row, project, firing, now)
            subject = f"monitor:{name}"
            pending = [("monitor.window", {"monitor": name, "deployment": row.deployment, "status": result.status,
                                           "window_start": result.window_start, "window_end": result.window_end,
                                           "rows": result.rows, "metrics": dict(result.metrics)})]
            pending += [(f"alert.{a.change}", _alert_payload(a)) for a in touched if a.change != "ongoing"]
            conn.execute(events.insert(), [
                {"project_id": row.project_id, "kind": kind, "subject": subject, "at": now, "payload": json.dumps(payload)}
                for kind, payload in pending
            ])
        return touched

    def _move_alerts(self, conn: sa.Connection, row: Any, project: str, firing: Sequence[AlertSignal],
                     now: int) -> list[Alert]:
        open_rows = {r.rule: r for r in conn.execute(
            sa.select(alerts).where(_A.monitor_id == row.id, _A.state == AlertState.FIRING.value)).all()}
        touched: list[Alert] = []
        for signal in {s.rule: s for s in firing}.values():
            current = open_rows.pop(signal.rule, None)
            values = {"severity": signal.severity, "message": signal.message, "value": signal.value, "updated_at": now}
            if current is None:
                alert_id = conn.execute(alerts.insert().values(
                    project_id=row.project_id, monitor_id=row.id, monitor=row.name, rule=signal.rule,
                    state=AlertState.FIRING.value, windows=1, opened_at=now, resolved_at=None, **values,
                ).returning(_A.id)).scalar_one()
                change = "fired"
            else:
                alert_id = current.id
                conn.execute(alerts.update().where(_A.id == current.id).values(windows=current.windows + 1, **values))
                change = "ongoing"
            touched.append(_alert(conn.execute(sa.select(alerts).where(_A.id == alert_id)).one(), project, change))
        for current in open_rows.values():
            conn.execute(alerts.update().where(_A.id == current.id).values(
                state=AlertState.RESOLVED.value, resolved_at=now, updated_at=now))
            touched.append(_alert(conn.execute(sa.select(alerts).where(_A.id == current.id)).one(), project, "resolved"))
        return touched

    def list_monitor_results(
        self, project: str, name: str, *, since: int | None = None, until: int | None = None,
        offset: int = 0, limit: int | None = None,
    ) -> list[MonitorResult]:
        with self._tx() as conn:
            row = self._monitor_row(conn, project, name)
            query = sa.select(monitor_results).where(_R.monitor_id == row.id)
            if since is not None:
                query = query.where(_R.window_start >= since)
            if until is not None:
                query = query.where(_R.window_start < until)
            rows = conn.execute(window(query.order_by(_R.window_start), offset, limit)).all()
        return [MonitorResult(name, r.window_start, r.window_end, r.rows, r.labelled, r.status, r.computed_at,
                              json.loads(r.metrics), json.loads(r.detail)) for r in rows]

    def list_alerts(
        self, project: str, *, monitor: str | None = None, state: AlertState | None = None,
        offset: int = 0, limit: int | None = None,
    ) -> list[Alert]:
        with self._tx() as conn:
            pid = self._project_id(conn, project, create=False)
            if pid is None:
                return []
            query = sa.select(alerts).where(_A.project_id == pid)
            if monitor is not None:
                query = query.where(_A.monitor_id == self._monitor_row(conn, project, monitor).id)
            if state is not None:
                query = query.where(_A.state == AlertState(state).value)
            rows = conn.execute(window(query.order_by(_A.id.desc()), offset, limit)).all()
        return [_alert(r, project, "resolved" if r.state == AlertState.RESOLVED.value else
                       ("fired" if r.windows == 1 else "ongoing")) for r in rows]

    # -- events --------------------------------------------------------------------------------

    def list_events(
        self, project: str, *, after: int = 0, kinds: Sequence[str] = (), offset: int = 0, limit: int | None = None
    ) -> list[Event]:
        with self._tx() as conn:
            pid = self._project_id(conn, project, create=False)
            if pid is None:
                return []
            query = sa.select(events).where(_EV.project_id == pid, _EV.id > after)
            if kinds:
                exact = [k for k in kinds if not k.endswith(".*")]
                families = [_EV.kind.startswith(k[:-1], autoescape=True) for k in kinds if k.endswith(".*")]
                query = query.where(sa.or_(_EV.kind.in_(exact), *families))
            rows = conn.execute(window(query.order_by(_EV.id), offset, limit)).all()
        return [Event(r.id, project, r.kind, r.subject, r.at, json.loads(r.payload)) for r in rows]


def _check_window(window_ms: int) -> None:
    if not isinstance(window_ms, int) or isinstance(window_ms, bool) or window_ms < 1000:
        raise InvalidParameter(f"A monitor's window must be at least one second (got {window_ms!r} ms): "
                               "pass window='1h', '1d' or a number of milliseconds.")


def _contract(row: Any, project: str) -> ContractVersion:
    return ContractVersion(project, row.name, row.version, json.loads(row.spec), row.created_at, row.description)


def _monitor(row: Any, project: str) -> Monitor:
    return Monitor(
        project=project, name=row.name, deployment=row.deployment, revision=row.revision,
        state=MonitorState(row.state), window_ms=row.window_ms, created_at=row.created_at, updated_at=row.updated_at,
        watermark=row.watermark, reference=json.loads(row.reference), config=json.loads(row.config),
        description=row.description,
    )


def _alert(row: Any, project: str, change: str) -> Alert:
    return Alert(row.id, project, row.monitor, row.rule, AlertState(row.state), row.severity, row.message, row.value,
                 row.windows, row.opened_at, row.updated_at, row.resolved_at, change)


def _alert_payload(alert: Alert) -> dict[str, Any]:
    return {"alert_id": alert.id, "monitor": alert.monitor, "rule": alert.rule, "severity": alert.severity,
            "message": alert.message, "value": alert.value, "windows": alert.windows, "opened_at": alert.opened_at}
