"""Features: the catalog of entities and feature views (versions, sources, features, TTLs, on-demand
code) with each view's materialization watermark and freshness, and a view's version history."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from shipyard.exceptions import NotFound
from shipyard.ui._app import Ctx, page, render


def _source(spec: dict[str, Any]) -> str:
    src = spec.get("source") or {}
    where = src.get("path") or src.get("query") or src.get("uri") or ""
    return f"{src.get('type', '?')}: {where}" if src else ""


@page("/p/{project}/features", name="features")
def catalog(request: Request, ctx: Ctx) -> Response:
    project = request.path_params["project"]
    ctx.require(project)
    store: Any = ctx.workspace.metadata
    definitions = store.list_feature_definitions(project)
    done = {m.view: m for m in store.list_materializations(project)}
    now = int(time.time() * 1000)
    entities = [d for d in definitions if d.kind == "entity"]
    views = []
    for d in definitions:
        if d.kind != "feature_view":
            continue
        spec = dict(d.spec)
        m = done.get(d.name)
        views.append({"d": d, "spec": spec, "source": _source(spec), "materialized": m,
                      "current": m is not None and m.view_version == d.version,
                      "age_ms": now - m.watermark if m is not None else None,
                      "stale": m is not None and spec.get("ttl_ms") is not None and now - m.watermark > spec["ttl_ms"]})
    return render(ctx, "features.html", project=project, entities=entities, views=views)


@page("/p/{project}/features/{kind}/{name}", name="feature_definition")
def definition(request: Request, ctx: Ctx) -> Response:
    project, kind, name = (request.path_params[k] for k in ("project", "kind", "name"))
    ctx.require(project)
    if kind not in ("entity", "feature_view"):
        raise NotFound(f"No kind {kind!r} of feature definition: entity or feature_view.")
    store: Any = ctx.workspace.metadata
    history = store.list_feature_definitions(project, history=f"{kind}/{name}")
    if not history:
        raise NotFound(f"No {kind.replace('_', ' ')} {name!r} in project {project!r}.")
    done = {m.view: m for m in store.list_materializations(project)}.get(name)
    latest = history[-1]
    return render(ctx, "feature.html", project=project, kind=kind, name=name, latest=latest, spec=dict(latest.spec),
                  history=list(reversed(history)), materialized=done, source=_source(dict(latest.spec)))
