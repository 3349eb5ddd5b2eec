"""Monitors: the drift status of every deployment, and per monitor the drift, quality and performance
over time, the latest window (reference-vs-current distribution of any column), alerts with their life
cycle, and the standalone HTML report. The monitoring domain builds the report; these pages frame it."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from shipyard.entities import AlertState
from shipyard.monitoring._report import build_report, distribution_chart, render_html, sections
from shipyard.ui._app import Ctx, page, render


@page("/p/{project}/monitors", name="monitors")
def monitors(request: Request, ctx: Ctx) -> Response:
    project = request.path_params["project"]
    ctx.require(project)
    store: Any = ctx.workspace.metadata
    rows = []
    for m in store.list_monitors(project):
        since = m.watermark - 2 * m.window_ms if m.watermark is not None else None
        results = store.list_monitor_results(project, m.name, since=since)
        latest = next((r for r in reversed(results) if r.status != "empty"), None)
        firing = store.list_alerts(project, monitor=m.name, state=AlertState.FIRING)
        rows.append({"monitor": m, "latest": latest, "firing": firing})
    rows.sort(key=lambda r: (r["monitor"].deployment, r["monitor"].name))
    return render(ctx, "monitors.html", project=project, rows=rows)


@page("/p/{project}/monitors/{name}", name="monitor")
def monitor(request: Request, ctx: Ctx) -> Response:
    project, name = request.path_params["project"], request.path_params["name"]
    ctx.require(project)
    store: Any = ctx.workspace.metadata
    data = build_report(store, project, name)
    latest = data.get("latest") or {}
    columns = sorted((latest.get("detail") or {}).get("distributions") or {})
    column = request.query_params.get("column") or (columns[0] if columns else None)
    chart = distribution_chart(data, column) if column else ""
    alert_ids = {a["id"] for a in data["alerts"]}
    events = [e for e in store.list_events(project, kinds=["alert.*"], limit=2000)
              if e.payload.get("alert_id") in alert_ids or e.payload.get("monitor") == name][-100:]
    return render(ctx, "monitor.html", project=project, data=data, parts=sections(data), columns=columns,
                  column=column, chart=chart, events=list(reversed(events)))


@page("/p/{project}/monitors/{name}/report", name="monitor_report")
def report(request: Request, ctx: Ctx) -> Response:
    """The standalone report (the same HTML as ``shipyard monitor report``)."""
    project, name = request.path_params["project"], request.path_params["name"]
    ctx.require(project)
    return HTMLResponse(render_html(build_report(ctx.workspace.metadata, project, name)))
