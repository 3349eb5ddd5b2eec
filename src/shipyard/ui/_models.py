"""Models: registered models, a model's versions, aliases with their full history, the model card,
lineage, and alias moves for editors (a reason is required; the move is audited)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from shipyard._internal._time import parse_when
from shipyard.entities import ModelVersion
from shipyard.exceptions import InvalidParameter
from shipyard.registry._card import card_data
from shipyard.registry._lineage import lineage
from shipyard.registry._registry import Registry
from shipyard.ui._app import Ctx, page, render, url
from shipyard.ui._charts import lineage_svg


@page("/p/{project}/models", name="models")
def models(request: Request, ctx: Ctx) -> Response:
    project = request.path_params["project"]
    ctx.require(project)
    registry = Registry(ctx.workspace, project)
    like = request.query_params.get("q") or None
    found = registry.search_models(f"%{like}%" if like else None)
    return render(ctx, "models.html", project=project, models=found, q=like or "")


def _uses(ctx: Ctx, project: str, name: str, versions: list[ModelVersion]) -> dict[int, list[str]]:
    """Version → the deployments whose routes or shadows name it (by number or through an alias)."""
    aliases = {a: v.version for v in versions for a in v.aliases}
    out: dict[int, list[str]] = {}
    for dep in ctx.workspace.metadata.list_deployments(project):
        for uri in [r.model for r in dep.routes] + list(dep.shadow):
            prefix = f"models:/{name}"
            if not uri.startswith(prefix):
                continue
            rest = uri[len(prefix):]
            version = int(rest[1:]) if rest[1:].isdigit() and rest.startswith("/") else \
                aliases.get(rest[1:]) if rest.startswith("@") else None
            if version is not None:
                out.setdefault(version, []).append(dep.name)
    return {k: sorted(set(v)) for k, v in out.items()}


@page("/p/{project}/models/{name}", name="model")
def model(request: Request, ctx: Ctx) -> Response:
    project, name = request.path_params["project"], request.path_params["name"]
    ctx.require(project)
    registry = Registry(ctx.workspace, project)
    registered = registry.get_model(name)
    versions = registry.search_versions(name)
    chosen = request.query_params.get("version") or (str(versions[0].version) if versions else None)
    used = _uses(ctx, project, name, versions)
    card: dict[str, Any] | None = None
    graph = ""
    if chosen:
        if not chosen.isdigit():
            raise InvalidParameter(f"version must be a number, got {chosen!r}.")
        uri = f"models:/{name}/{chosen}"
        card = card_data(registry, uri)
        graph = lineage_svg(lineage(registry, uri), used.get(int(chosen), []))
    history = registry.alias_history(name)
    at = request.query_params.get("at") or None
    then = None
    if at:  # "what was @champion when": every alias's version at that time, from the history
        when = int(at) if at.isdigit() else parse_when(at)
        then = {"at": when, "aliases": {a: registry.alias_at(name, a, when) for a in sorted({e.alias for e in history})}}
    return render(ctx, "model.html", project=project, model=registered, versions=versions, card=card,
                  history=list(reversed(history)), graph=graph, chosen=chosen, used=used,
                  can_edit=ctx.can_edit(project), message=request.query_params.get("message"), then=then, at=at or "")


@page("/p/{project}/models/{name}/alias", methods=("POST",), name="move_alias")
def move_alias(request: Request, ctx: Ctx) -> Response:
    """Point an alias at a version (editors only; the reason is required and kept in the history and
    the audit log)."""
    project, name = request.path_params["project"], request.path_params["name"]
    form = request.state.form
    ctx.check_csrf(form)
    alias, version, reason = (str(form.get(k, "")).strip() for k in ("alias", "version", "reason"))
    with ctx.change("ui.set_alias", project, f"name={name}, alias={alias}, version={version}", reason=reason,
                    why="Say why the alias moves (the reason is kept in its history)."):
        if not version.isdigit():
            raise InvalidParameter(f"Pick a version number, not {version!r}.")
        Registry(ctx.workspace, project).set_alias(name, alias, int(version), reason=reason, actor=ctx.principal.user)
    return RedirectResponse(url(f"/p/{project}/models/{name}", message=f"@{alias} now points to version {version}."),
                            status_code=303)

