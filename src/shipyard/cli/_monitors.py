"""``shipyard monitor create|list|run|results|alerts|events|report|pause|resume|delete``: monitors stored
in the metadata store, evaluated window by window over a deployment's prediction log.

Exit codes: 0 done; 1 ``run --fail-on-alert`` and an alert is firing; 2 bad input (a ShipyardError)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from shipyard.cli._monitor import JsonOpt, _read, app
from shipyard.cli._output import console, fmt_ms, print_json, table

NameArg = Annotated[str, typer.Argument(help="The monitor's name (by default its deployment's name).")]
STATUS_STYLE = {"ok": "green", "warning": "yellow", "alert": "bold red", "empty": "dim"}


def _project() -> str:
    from shipyard.config import get_settings

    return get_settings().project


def _store() -> Any:
    from shipyard.workspace import current_workspace

    return current_workspace().metadata


def _summary(m: Any) -> dict[str, Any]:
    return {"name": m.name, "deployment": m.deployment, "state": m.state.value, "window_ms": m.window_ms,
            "watermark": m.watermark, "revision": m.revision, "checks": list(m.config.get("checks") or ()),
            "rules": [r.get("name") for r in m.config.get("rules") or ()],
            "notify": [t.get("url") for t in m.config.get("notify") or ()]}


@app.command()
def create(
    deployment: Annotated[str, typer.Argument(help="The deployment to watch.")],
    reference: Annotated[Path, typer.Option("--reference", "-r", help="Training data (.parquet/.csv; a 'prediction' "
                                            "column enables prediction drift) or a profile .json.")],
    name: Annotated[Optional[str], typer.Option(help="The monitor's name (default: the deployment's).")] = None,
    window: Annotated[str, typer.Option(help="Window length: 1h, 1d, 1w …")] = "1d",
    rule: Annotated[Optional[list[str]], typer.Option("--rule", help="An alert rule, e.g. 'performance.accuracy < 0.7 "
                                                       "for 2' or 'change(drift.share) > 0.2' (repeatable).")] = None,
    webhook: Annotated[Optional[list[str]], typer.Option("--webhook", help="Notify this URL (repeatable).")] = None,
    secret_env: Annotated[Optional[str], typer.Option(help="Environment variable holding the webhooks' signing "
                                                           "secret.")] = None,
    contract: Annotated[Optional[str], typer.Option(help="A stored data contract checked on every window (NAME or "
                                                         "NAME:VERSION).")] = None,
    check: Annotated[Optional[list[str]], typer.Option("--check", help="drift, prediction_drift, quality, performance "
                                                       "(repeatable; default: all).")] = None,
    label_delay: Annotated[str, typer.Option(help="Wait this long after a window ends for its labels (e.g. 6h).")] = "0s",
    start: Annotated[Optional[str], typer.Option(help="First window's start, to backfill (ISO 8601).")] = None,
    json_: JsonOpt = False,
) -> None:
    """Create (or update) a monitor of DEPLOYMENT against a reference; the reference is stored as a profile."""
    from shipyard.monitoring import monitor
    from shipyard.monitoring._window import CHECKS

    hooks = [{"url": url, **({"secret_env": secret_env} if secret_env else {})} for url in webhook or ()]
    m = monitor(deployment, reference=_read(reference), name=name, window=window, rules=rule or None, notify=hooks,
                contract=contract, checks=check or CHECKS, label_delay=label_delay if label_delay != "0s" else 0,
                start=start)
    if json_:
        print_json(_summary(m))
        return
    console.print(f"Monitor [bold]{m.name}[/] (revision {m.revision}) watches [bold]{m.deployment}[/] in windows of "
                  f"{window}; rules: {'; '.join(_summary(m)['rules'])}. Evaluate due windows with "
                  f"`shipyard monitor run {m.name}` (a server runs them on schedule).")


@app.command("list")
def list_() -> None:
    """The project's monitors."""
    rows = [(m.name, m.deployment, m.state.value, f"{m.window_ms // 1000:,} s", fmt_ms(m.watermark),
             "; ".join(_summary(m)["rules"])) for m in _store().list_monitors(_project())]
    console.print(table("Monitors", ["name", "deployment", "state", "window", "evaluated up to", "rules"], rows))


@app.command()
def run(
    name: Annotated[Optional[str], typer.Argument(help="A monitor (default: every active monitor of the project).")] = None,
    now: Annotated[Optional[str], typer.Option(help="Evaluate as if it were this time (ISO 8601).")] = None,
    fail_on_alert: Annotated[bool, typer.Option("--fail-on-alert", help="Exit 1 when an alert is firing afterwards.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Evaluate the due windows (drift, quality, performance), record them, raise and resolve alerts."""
    from shipyard.entities import AlertState
    from shipyard.monitoring import run as evaluate

    outcomes = evaluate(name, now=now)
    if json_:
        print_json([{"monitor": o.result.monitor, "window_start": o.result.window_start, "status": o.result.status,
                     "rows": o.result.rows, "labelled": o.result.labelled, "metrics": dict(o.result.metrics),
                     "alerts": [{"rule": a.rule, "change": a.change, "message": a.message} for a in o.alerts]}
                    for o in outcomes])
    elif not outcomes:
        console.print("No window is due: each is evaluated once it has ended (plus the monitor's label delay).")
    else:
        rows = [(o.result.monitor, fmt_ms(o.result.window_start), f"[{STATUS_STYLE.get(o.result.status, '')}]"
                 f"{o.result.status}[/]", f"{o.result.rows:,}", f"{o.result.labelled:,}",
                 _fmt(o.result.metrics.get("drift.share")), "; ".join(f"{a.change}: {a.rule}" for a in o.alerts
                                                                      if a.change != "ongoing"))
                for o in outcomes]
        console.print(table("Evaluated windows", ["monitor", "window", "status", "rows", "labelled", "drift share",
                                                  "alerts"], rows))
    if fail_on_alert and _store().list_alerts(_project(), monitor=name, state=AlertState.FIRING, limit=1):
        raise typer.Exit(1)


def _fmt(value: Any) -> str:
    return "—" if value is None else f"{value:.3g}"


@app.command()
def results(name: NameArg, last: Annotated[int, typer.Option(help="How many recent windows.")] = 20,
            json_: JsonOpt = False) -> None:
    """A monitor's results per window: status, rows, labels, drift share and performance."""
    found = _store().list_monitor_results(_project(), name)[-last:]
    if json_:
        print_json([{"window_start": r.window_start, "window_end": r.window_end, "status": r.status, "rows": r.rows,
                     "labelled": r.labelled, "metrics": dict(r.metrics)} for r in found])
        return
    perf = sorted({k for r in found for k in r.metrics if k.startswith("performance.") and k != "performance.coverage"})
    rows = [(fmt_ms(r.window_start), f"[{STATUS_STYLE.get(r.status, '')}]{r.status}[/]", f"{r.rows:,}", f"{r.labelled:,}",
             _fmt(r.metrics.get("drift.share")), _fmt(r.metrics.get("quality.null_rate")),
             *(_fmt(r.metrics.get(k)) for k in perf)) for r in found]
    console.print(table(f"Monitor {name}", ["window", "status", "rows", "labelled", "drift share", "missing",
                                            *(k.split(".", 1)[1] for k in perf)], rows))


@app.command()
def alerts(
    name: Annotated[Optional[str], typer.Argument(help="Only this monitor's alerts.")] = None,
    firing: Annotated[bool, typer.Option("--firing", help="Only the open ones.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Alerts, newest first."""
    from shipyard.entities import AlertState

    found = _store().list_alerts(_project(), monitor=name, state=AlertState.FIRING if firing else None, limit=200)
    if json_:
        from shipyard.monitoring._alerts import alert_dict

        print_json([alert_dict(a) for a in found])
        return
    rows = [(str(a.id), a.monitor, "[bold red]FIRING[/]" if a.state is AlertState.FIRING else "resolved", a.severity,
             a.message, str(a.windows), fmt_ms(a.opened_at), fmt_ms(a.resolved_at)) for a in found]
    console.print(table("Alerts", ["id", "monitor", "state", "severity", "message", "windows", "opened", "resolved"],
                        rows))


@app.command()
def events(
    after: Annotated[int, typer.Option(help="Only events after this id (resume where you left off).")] = 0,
    kind: Annotated[Optional[list[str]], typer.Option("--kind", help="alert.fired, alert.*, monitor.window … "
                                                       "(repeatable).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    json_: JsonOpt = False,
) -> None:
    """The project's event log (what automation subscribes to), oldest first."""
    found = _store().list_events(_project(), after=after, kinds=kind or [], limit=limit)
    if json_:
        print_json([{"id": e.id, "kind": e.kind, "subject": e.subject, "at": e.at, "payload": dict(e.payload)}
                    for e in found])
        return
    rows = [(str(e.id), fmt_ms(e.at), e.kind, e.subject, str(e.payload.get("message") or e.payload.get("status") or ""))
            for e in found]
    console.print(table("Events", ["id", "at", "kind", "subject", "summary"], rows))


@app.command()
def report(
    name: NameArg,
    html: Annotated[Optional[Path], typer.Option("--html", help="Write a standalone HTML report here.")] = None,
    json_path: Annotated[Optional[Path], typer.Option("--json", help="Write the report as JSON here.")] = None,
    windows: Annotated[int, typer.Option(help="How many recent windows to chart.")] = 60,
) -> None:
    """Write a monitor's report: drift and performance over time, distributions, quality, alerts."""
    from shipyard.monitoring import report as build

    if html is None and json_path is None:
        raise typer.BadParameter("Give --html PATH and/or --json PATH.")
    data = build(name, html=html, json=json_path, windows=windows)
    written = " and ".join(str(p) for p in (html, json_path) if p is not None)
    console.print(f"Wrote {written}: {len(data['windows'])} window(s), {len(data['alerts'])} alert(s).")


def _set_state(name: str, paused: bool) -> None:
    from shipyard.entities import MonitorState

    store, project = _store(), _project()
    m = store.get_monitor(project, name)
    store.update_monitor(project, name, window_ms=m.window_ms, reference=m.reference, config=m.config,
                         state=MonitorState.PAUSED if paused else MonitorState.ACTIVE, expected_revision=m.revision)
    console.print(f"Monitor {name} is {'paused' if paused else 'active'}.")


@app.command()
def pause(name: NameArg) -> None:
    """Stop evaluating a monitor's windows (its results and alerts stay)."""
    _set_state(name, True)


@app.command()
def resume(name: NameArg) -> None:
    """Evaluate a paused monitor again (from where it stopped)."""
    _set_state(name, False)


@app.command()
def delete(name: NameArg, yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False) -> None:
    """Delete a monitor with its results and alerts (events stay)."""
    if not yes:
        typer.confirm(f"Delete monitor {name} with its results and alerts?", abort=True)
    _store().delete_monitor(_project(), name)
    console.print(f"Deleted monitor {name}.")
