"""Monitors: define one over a deployment (``sy.monitor``), evaluate its due windows (``run``).

A monitor cuts time into windows of ``window`` length, aligned to the epoch (``"1d"`` windows are
UTC days). A window ``[start, end)`` is *due* once ``end + label_delay`` has passed; ``run`` evaluates
every due window after the watermark in order — the prediction log's rows in it against the stored
reference profile (:mod:`._window`), then the alert rules over the recent windows (:mod:`._alerts`) —
and records each with :meth:`~shipyard.storage.base.MonitorStore.record_window` (result, watermark,
alerts and events in one transaction), then notifies (:mod:`._notify`). A window another runner
recorded first is skipped, so several schedulers can run the same monitors. A window without
predictions is recorded as ``empty``: it neither raises nor resolves alerts, and — its metrics being
missing — it ends a streak of an ``N consecutive windows`` rule.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard._internal._time import now_ms, parse_duration, parse_when
from shipyard.config import get_settings
from shipyard.entities import Alert, AlertSignal, AlertState, Monitor, MonitorResult, MonitorState
from shipyard.exceptions import AlreadyExists, InvalidParameter, NotFound
from shipyard.monitoring._alerts import Rule, evaluate, lookback
from shipyard.monitoring._drift import Thresholds
from shipyard.monitoring._notify import Delivery, Webhook, notify
from shipyard.monitoring._profile import Profile, profile
from shipyard.monitoring._window import CHECKS, WindowSettings, evaluate_window
from shipyard.workspace import Workspace, current_workspace

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.data import Schema

log = logging.getLogger("shipyard.monitoring")

DEFAULT_RULES = ("drift.share >= 0.5", "prediction_drift.drifted >= 1", "quality.contract_failures >= 1")
MAX_ROWS = 1_000_000


@dataclass(frozen=True, slots=True)
class WindowOutcome:
    """One window a run evaluated: its result, the alerts it touched and the notifications sent."""

    result: MonitorResult
    alerts: tuple[Alert, ...] = ()
    deliveries: tuple[Delivery, ...] = ()


def _reference(value: Any, columns: Sequence[str] | None) -> Profile:
    import pandas as pd

    if isinstance(value, Profile):
        return value
    if isinstance(value, Mapping):
        return Profile.from_dict(value)
    if isinstance(value, pd.DataFrame):
        return profile(value, columns=columns if columns is None else [*columns, *(
            ["prediction"] if "prediction" in value.columns and "prediction" not in columns else [])])
    if isinstance(value, (str, os.PathLike)):
        path = Path(value)
        if not path.is_file():
            raise NotFound(f"The reference {str(path)!r} is not a file: give a DataFrame or a Parquet/CSV path.")
        if path.suffix.lower() == ".json":
            return Profile.from_dict(json.loads(path.read_text()))
        return _reference(pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path), columns)
    raise InvalidParameter(f"A monitor's reference is a DataFrame, a Profile or the path of a Parquet/CSV/profile "
                           f"JSON file, got "
                           f"{type(value).__name__}.")


def _contract_config(contract: Schema | str | None) -> dict[str, Any] | None:
    if contract is None:
        return None
    if isinstance(contract, str):
        name, _, version = contract.partition(":")
        return {"name": name, "version": int(version) if version else None}
    from shipyard.data import Schema

    if isinstance(contract, Schema):
        return {"spec": contract.to_dict()}
    raise InvalidParameter(f"contract is a stored contract's name ('flights' or 'flights:3') or a Schema, got {contract!r}.")


def monitor(
    deployment: str, *, reference: Any, name: str | None = None, window: str | int = "1d",
    checks: Sequence[str] = CHECKS, columns: Sequence[str] | None = None,
    thresholds: Thresholds | Mapping[str, Any] | None = None, rules: Iterable[Rule | str | Mapping[str, Any]] | None = None,
    notify: Iterable[Webhook | str | Mapping[str, Any]] = (), contract: Schema | str | None = None,
    task: str = "auto", segment_by: str | None = None, label_delay: str | int = 0, start: Any = None,
    max_rows: int = MAX_ROWS, description: str | None = None, project: str | None = None,
) -> Monitor:
    """Watch ``deployment``: ``sy.monitor("flights-prod", reference=train_df, window="1d")``.

    Creates the monitor, or updates the one of that name (default: the deployment's name) — results
    and open alerts are kept. ``reference``: the training data (a DataFrame, Parquet/CSV path) —
    stored as a profile, so checks never need it again — or a :class:`Profile`; give it a
    ``prediction`` column (the model's predictions on it) to check prediction drift too.
    ``checks``: any of ``drift``, ``prediction_drift``, ``quality``, ``performance``. ``rules``: alert
    rules (strings such as ``"performance.accuracy < 0.7 for 2"``, see :class:`Rule`; default:
    data-set drift, prediction drift and a broken contract). ``notify``: webhooks (URL strings or :class:`Webhook`);
    alerts always go to the ``shipyard.alerts`` log too. ``contract``: a stored contract's name (or
    ``name:version``) or a Schema, checked on every window. ``label_delay``: how long labels take to
    arrive — a window is evaluated only this long after it ends. ``start``: the first window's start
    (default: when the monitor is created; earlier to backfill). ``max_rows``: windows with more
    predictions are sampled uniformly down to this many.
    """
    window_ms = parse_duration(window, "window")
    unknown = [c for c in checks if c not in CHECKS]
    if unknown or not checks:
        raise InvalidParameter(f"Unknown checks {unknown}: choose from {list(CHECKS)}.")
    if max_rows < 1000:
        raise InvalidParameter(f"max_rows must be at least 1000, got {max_rows}.")
    ref = _reference(reference, columns)
    rule_list = [Rule.coerce(r) for r in (DEFAULT_RULES if rules is None else rules)]
    targets = [Webhook.coerce(t) for t in notify]
    limits = Thresholds.coerce(thresholds)
    config = {
        "checks": list(checks), "columns": list(columns) if columns is not None else None,
        "thresholds": _thresholds_dict(limits), "rules": [r.to_dict() for r in rule_list],
        "notify": [t.to_dict() for t in targets], "contract": _contract_config(contract), "task": task,
        "segment_by": segment_by, "label_delay_ms": parse_duration(label_delay, "label_delay") if label_delay else 0,
        "start": parse_when(start) if start is not None else None, "max_rows": int(max_rows),
    }
    project = project or get_settings().project
    store = current_workspace().metadata
    name = name or deployment
    try:
        current = store.get_monitor(project, name)
    except NotFound:
        return store.create_monitor(project, name, deployment=deployment, window_ms=window_ms,
                                    reference=ref.to_dict(), config=config, description=description)
    if current.deployment != deployment:
        raise InvalidParameter(f"Monitor {name!r} watches {current.deployment!r}, not {deployment!r}: give another "
                               "name=, or delete it first (`shipyard monitor delete`).")
    return store.update_monitor(project, name, window_ms=window_ms, reference=ref.to_dict(), config=config,
                                state=current.state, description=description, expected_revision=current.revision)


def _thresholds_dict(limits: Thresholds) -> dict[str, Any]:
    from dataclasses import asdict

    return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in asdict(limits).items()}


def settings_of(m: Monitor) -> WindowSettings:
    config = m.config
    columns = config.get("columns")
    return WindowSettings(checks=tuple(config.get("checks") or CHECKS),
                          columns=tuple(columns) if columns is not None else None,
                          thresholds=dict(config.get("thresholds") or {}), task=str(config.get("task") or "auto"),
                          segment_by=config.get("segment_by"))


def rules_of(m: Monitor) -> list[Rule]:
    return [Rule.coerce(dict(r)) for r in m.config.get("rules") or ()]


def _contract(workspace: Workspace, m: Monitor) -> Schema | None:
    spec = m.config.get("contract")
    if not spec:
        return None
    from shipyard.data import Schema

    if "spec" in spec:
        return Schema.from_dict(dict(spec["spec"]), source=f"monitor {m.name!r}")
    record = workspace.metadata.get_contract(m.project, spec["name"], spec.get("version"))
    return Schema.from_dict(dict(record.spec), source=f"contract {record.name!r} v{record.version}")


def due_windows(m: Monitor, now: int) -> list[tuple[int, int]]:
    """The windows of ``m`` that are due at ``now`` and not yet evaluated, oldest first."""
    w = m.window_ms
    first = m.watermark if m.watermark is not None else (m.config.get("start") or m.created_at) // w * w
    delay = int(m.config.get("label_delay_ms") or 0)
    out = []
    start = first
    while start + w + delay <= now:
        out.append((start, start + w))
        start += w
    return out


def run_monitor(workspace: Workspace, project: str, name: str, *, now: Any = None,
                max_windows: int | None = None) -> list[WindowOutcome]:
    """Evaluate and record every due window of one monitor (a paused one does nothing)."""
    from shipyard.monitoring._predictions import read_predictions

    store = workspace.metadata
    m = store.get_monitor(project, name)
    if m.state is MonitorState.PAUSED:
        return []
    moment = parse_when(now) if now is not None else now_ms()
    windows = due_windows(m, moment)[: max_windows or None]
    if not windows:
        return []
    reference = Profile.from_dict(m.reference)
    settings, rules = settings_of(m), rules_of(m)
    contract = _contract(workspace, m)
    targets = [Webhook.coerce(dict(t)) for t in m.config.get("notify") or ()]
    depth = lookback(rules)
    outcomes = []
    for start, end in windows:
        frame = read_predictions(workspace, project, m.deployment, since=start, until=end - 1, with_feedback=True,
                                 max_rows=int(m.config.get("max_rows") or MAX_ROWS))
        report = evaluate_window(reference, frame, settings, contract=contract,
                                 rows_total=frame.attrs.get("rows_total"))
        previous = store.list_monitor_results(project, name, since=start - depth * m.window_ms, until=start) if depth else []
        if report.rows == 0:
            firing = [AlertSignal(a.rule, a.severity, a.message, a.value)
                      for a in store.list_alerts(project, monitor=name, state=AlertState.FIRING)]
            status = "empty"
        else:
            firing = evaluate(rules, previous, report.metrics)
            status = "alert" if firing else ("warning" if report.problems else "ok")
        detail = {**report.detail, "problems": list(report.problems), "firing": [s.rule for s in firing]}
        result = MonitorResult(name, start, end, report.rows, report.labelled, status, now_ms(), report.metrics, detail)
        try:
            touched = store.record_window(project, name, result, firing)
        except AlreadyExists:
            log.info("Monitor %s/%s: window %s was recorded by another runner; skipped.", project, name, start)
            continue
        deliveries = notify(project, touched, targets, deployment=m.deployment) if status != "empty" else []
        outcomes.append(WindowOutcome(result, tuple(touched), tuple(deliveries)))
    return outcomes


def run_due(workspace: Workspace, *, now: Any = None, projects: Sequence[str] | None = None) -> dict[str, int]:
    """Run every active monitor of every project (or of ``projects``); returns windows recorded per
    monitor (``project/name``). One monitor's failure is logged and does not stop the others."""
    done: dict[str, int] = {}
    names = list(projects) if projects is not None else [p.name for p in workspace.metadata.list_projects()]
    for project in names:
        for m in workspace.metadata.list_monitors(project):
            if m.state is not MonitorState.ACTIVE:
                continue
            try:
                done[f"{project}/{m.name}"] = len(run_monitor(workspace, project, m.name, now=now))
            except Exception:  # noqa: BLE001 - a scheduler must outlive one broken monitor
                log.exception("Monitor %s/%s failed; the others go on.", project, m.name)
    return done


def frame_of_results(results: Sequence[MonitorResult]) -> pd.DataFrame:
    """Results as a DataFrame: one row per window, the metrics as columns."""
    import pandas as pd

    rows = [{"window_start": pd.Timestamp(r.window_start, unit="ms", tz="UTC"), "status": r.status, "rows": r.rows,
             "labelled": r.labelled, **{k: v for k, v in r.metrics.items() if k not in ("rows", "labelled")}}
            for r in results]
    return pd.DataFrame(rows).set_index("window_start") if rows else pd.DataFrame()
