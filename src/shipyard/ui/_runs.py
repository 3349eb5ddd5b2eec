"""Experiments and runs: the runs table (filter, sort, columns, paging on the server), run detail with
charts, artifact previews, the chart data (down-sampled on the server) and the compare view."""

from __future__ import annotations

import io
import json
import mimetypes
from collections.abc import Iterable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from shipyard.entities import Role, Run
from shipyard.exceptions import InvalidParameter, NotFound, ShipyardError
from shipyard.tracking._client import TrackingClient
from shipyard.ui._app import Ctx, page, render, url

PAGE_SIZES = (25, 50, 100, 250)
MAX_POINTS = 2000  # a chart never gets more points than this, whatever width it claims
PREVIEW_BYTES = 256 * 1024
TABLE_ROWS = 100
IMAGE = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"}
TEXT = {".txt", ".log", ".md", ".json", ".yaml", ".yml", ".py", ".toml", ".cfg", ".ini", ".html", ".xml", ""}
TABLE = {".csv", ".tsv", ".parquet"}


def _run_project(ctx: Ctx, run_id: str) -> tuple[Run, TrackingClient]:
    """The run, after checking the caller may see its project (else: not found)."""
    try:
        run: Run = ctx.workspace.metadata.get_run(run_id)
    except NotFound:
        raise NotFound(f"No run with id {run_id!r}.") from None
    if not ctx.principal.can(run.project, Role.VIEWER):
        raise NotFound(f"No run with id {run_id!r}.")
    return run, TrackingClient(ctx.workspace, run.project)


@page("/", name="home")
def home(request: Request, ctx: Ctx) -> Response:
    projects = ctx.projects()
    if not projects:
        return render(ctx, "empty.html", what="projects")
    default = ctx.workspace.settings.project
    return RedirectResponse(url(f"/p/{default if default in projects else projects[0]}/runs"), status_code=303)


def _split(values: Iterable[str]) -> list[str]:
    return [part for v in values for part in v.split(",") if part]


def _columns(runs: Sequence[Run], chosen: list[str] | None) -> tuple[list[str], dict[str, list[str]]]:
    """The columns shown (``params.x``, ``metrics.y``, ``tags.z``) and every column the page's runs have."""
    have = {"metrics": sorted({k for r in runs for k in r.metrics}),
            "params": sorted({k for r in runs for k in r.params}),
            "tags": sorted({k for r in runs for k in r.tags if not k.startswith(("shipyard.", "mlflow."))})}
    if chosen is not None:
        return chosen, have
    return [f"metrics.{k}" for k in have["metrics"][:8]] + [f"params.{k}" for k in have["params"][:6]], have


def _cell(run: Run, column: str) -> Any:
    kind, _, key = column.partition(".")
    return {"metrics": run.metrics, "params": run.params, "tags": run.tags}.get(kind, {}).get(key)


def _order_clause(column: str, descending: bool) -> str:
    kind, _, key = column.partition(".")
    ident = f"{kind}.`{key}`" if key else kind
    return f"{ident} {'DESC' if descending else 'ASC'}"


@page("/p/{project}/runs", name="runs")
def runs_table(request: Request, ctx: Ctx) -> Response:
    project = request.path_params["project"]
    ctx.require(project)
    q = request.query_params
    client = TrackingClient(ctx.workspace, project)
    experiments = client.list_experiments()
    chosen_exp = q.getlist("experiment")
    flt = q.get("filter") or None
    sort, desc = q.get("sort") or "start_time", q.get("desc", "1") == "1"
    size_text = q.get("size") or "50"
    size = int(size_text) if size_text.isdigit() else 0
    if size not in PAGE_SIZES:
        raise InvalidParameter(f"size must be one of {PAGE_SIZES}, got {size}.")
    token = q.get("page") or None
    error = None
    try:
        result = client.search_page(chosen_exp or None, flt, [_order_clause(sort, desc)], page_size=size,
                                    page_token=token)
        runs, next_token = list(result.runs), result.next_page_token
    except ShipyardError as exc:  # a bad filter or sort: show the message above an empty table, keep the form
        runs, next_token, error = [], None, exc
    cols_arg = q.getlist("cols")
    columns, have = _columns(runs, _split(cols_arg) if cols_arg else None)
    rows = [{"run": r, "cells": [_cell(r, c) for c in columns]} for r in runs]
    names = {e.id: e.name for e in experiments}
    state = {"experiment": chosen_exp, "filter": flt, "sort": sort, "desc": "1" if desc else "0", "size": size,
             "cols": ",".join(columns) if cols_arg else None}
    return render(ctx, "runs.html", project=project, experiments=experiments, chosen=chosen_exp, rows=rows,
                  columns=columns, have=have, names=names, state=state, next_token=next_token,
                  first=token is None, error=error, sizes=PAGE_SIZES)


@page("/runs/{run_id}", name="run")
def run_detail(request: Request, ctx: Ctx) -> Response:
    run, client = _run_project(ctx, request.path_params["run_id"])
    store = ctx.workspace.metadata
    datasets = store.list_run_datasets(run.id)
    artifacts = store.list_artifacts(run.id, limit=500)
    tags = dict(run.tags)
    experiment = client.get_experiment(run.experiment_id)
    return render(ctx, "run.html", run=run, project=run.project, experiment=experiment, datasets=datasets,
                  artifacts=artifacts, tags=tags,
                  metric_keys=sorted(run.metrics), environment=json.dumps(dict(run.environment), indent=2,
                                                                           sort_keys=True, default=str))


def _artifact_kind(path: str) -> str:
    ext = "." + path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    if ext in IMAGE:
        return "image"
    if ext in TABLE:
        return "table"
    if ext in TEXT:
        return "text"
    return "binary"


def _table_preview(data: bytes, path: str) -> tuple[list[str], list[list[Any]], int | None]:
    import pandas as pd

    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(io.BytesIO(data))
        frame = pf.read_row_group(0).to_pandas().head(TABLE_ROWS) if pf.num_row_groups else pd.DataFrame()
        total: int | None = pf.metadata.num_rows
    else:
        frame = pd.read_csv(io.BytesIO(data), sep="\t" if path.endswith(".tsv") else ",", nrows=TABLE_ROWS)
        total = None
    return [str(c) for c in frame.columns], frame.astype(object).where(frame.notna(), None).values.tolist(), total


@page("/runs/{run_id}/artifacts/{path:path}", name="artifact")
def artifact_preview(request: Request, ctx: Ctx) -> Response:
    run, client = _run_project(ctx, request.path_params["run_id"])
    path = request.path_params["path"]
    kind = _artifact_kind(path)
    preview: dict[str, Any] = {"kind": kind}
    records = [a for a in ctx.workspace.metadata.list_artifacts(run.id, path.rsplit("/", 1)[0] if "/" in path else None)
               if a.path == path]
    if not records:
        raise NotFound(f"Run {run.id} has no artifact {path!r}.")
    record = records[0]
    if kind == "text":
        data = client.read_artifact(run.id, path) if record.size <= PREVIEW_BYTES else b""
        preview["text"] = data.decode("utf-8", "replace") if data else None
    elif kind == "table":
        try:
            preview["columns"], preview["rows"], preview["total"] = _table_preview(client.read_artifact(run.id, path),
                                                                                   path)
        except Exception as exc:  # noqa: BLE001 - any parse error: say so, offer the download
            preview["kind"], preview["problem"] = "binary", f"Cannot show this table: {exc}"
    return render(ctx, "artifact.html", run=run, project=run.project, path=path, record=record, preview=preview)


@page("/runs/{run_id}/files/{path:path}", name="artifact_file")
def artifact_file(request: Request, ctx: Ctx) -> Response:
    run, client = _run_project(ctx, request.path_params["run_id"])
    path = request.path_params["path"]
    data = client.read_artifact(run.id, path)
    kind = _artifact_kind(path)
    media = mimetypes.guess_type(path)[0] or "application/octet-stream"
    inline = kind == "image" and not path.endswith(".svg")  # an SVG may carry script: download only
    name = path.rsplit("/", 1)[-1].replace('"', "")
    headers = {"content-disposition": f'{"inline" if inline else "attachment"}; filename="{name}"',
               "x-content-type-options": "nosniff"}
    return Response(data, media_type=media if inline else "application/octet-stream", headers=headers)


@page("/api/series", name="series")
def series(request: Request, ctx: Ctx) -> Response:
    """Chart data: ``run`` (repeated), ``key``, ``points`` (the chart's width in pixels)."""
    q = request.query_params
    key = q.get("key")
    if not key:
        raise InvalidParameter("Name the metric: key=...")
    try:
        points = min(max(int(q.get("points") or 800), 3), MAX_POINTS)
    except ValueError:
        raise InvalidParameter("points must be an integer.") from None
    out = []
    for run_id in q.getlist("run")[:50]:
        run, client = _run_project(ctx, run_id)
        if key in run.metrics:
            out.append({"run": run.id, "name": run.name, **client.metric_series(run.id, key, points)})
    return JSONResponse({"key": key, "series": out})


@page("/compare", name="compare")
def compare(request: Request, ctx: Ctx) -> Response:
    ids = list(dict.fromkeys(_split(request.query_params.getlist("run"))))
    if len(ids) < 2:
        raise InvalidParameter("Pick at least two runs to compare (tick them in the runs table).")
    if len(ids) > 50:
        raise InvalidParameter(f"Compare at most 50 runs at a time, not {len(ids)}.")
    runs = [_run_project(ctx, i)[0] for i in ids]
    params = sorted({k for r in runs for k in r.params})
    metrics = sorted({k for r in runs for k in r.metrics})
    param_rows = [{"key": k, "values": [r.params.get(k) for r in runs],
                   "differs": len({r.params.get(k) for r in runs}) > 1} for k in params]
    metric_rows = [{"key": k, "values": [r.metrics.get(k) for r in runs]} for k in metrics]
    from shipyard.ui._charts import parallel_coordinates

    axes = [f"params.{k}" for k in params if len({r.params.get(k) for r in runs}) > 1] + \
        [f"metrics.{k}" for k in metrics]
    svg = parallel_coordinates(runs, axes[:12])
    return render(ctx, "compare.html", runs=runs, project=runs[0].project, param_rows=param_rows,
                  metric_rows=metric_rows, metric_keys=metrics, parallel=svg, only_diff=request.query_params.get("diff"))

