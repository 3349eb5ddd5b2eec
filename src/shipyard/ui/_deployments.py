"""Deployments — what is live where: every deployment with its routes, weights, shadows and the versions
they reach now, the traffic each route served (requests, rate, latency percentiles, from the prediction
log), the history of changes, and promote / rollback for editors (a reason is required; audited)."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from shipyard.exceptions import InvalidParameter
from shipyard.monitoring._predictions import traffic
from shipyard.serving._deployments import Deployments
from shipyard.ui._app import Ctx, page, render, url
from shipyard.ui._charts import bars

WINDOWS = {"1h": 3_600_000, "24h": 86_400_000, "7d": 7 * 86_400_000}


def _window(request: Request) -> tuple[str, int]:
    name = request.query_params.get("window") or "1h"
    if name not in WINDOWS:
        raise InvalidParameter(f"window must be one of {', '.join(WINDOWS)}, got {name!r}.")
    return name, WINDOWS[name]


@page("/p/{project}/deployments", name="deployments")
def deployments(request: Request, ctx: Ctx) -> Response:
    project = request.path_params["project"]
    ctx.require(project)
    window, span = _window(request)
    service = Deployments(ctx.workspace, project)
    now = int(time.time() * 1000)
    rows = []
    for dep in service.list():
        status = service.status(dep.name)
        seen = traffic(ctx.workspace, project, dep.name, since=now - span, until=now)
        rows.append({"deployment": dep, "versions": status.versions, "traffic": seen,
                     "per_min": seen["requests"] / (span / 60_000)})
    return render(ctx, "deployments.html", project=project, rows=rows, window=window, windows=list(WINDOWS))


@page("/p/{project}/deployments/{name}", name="deployment")
def deployment(request: Request, ctx: Ctx) -> Response:
    project, name = request.path_params["project"], request.path_params["name"]
    ctx.require(project)
    window, span = _window(request)
    service = Deployments(ctx.workspace, project)
    status = service.status(name)
    now = int(time.time() * 1000)
    seen = traffic(ctx.workspace, project, name, since=now - span, until=now)
    chart = bars(seen["series"]["t"], seen["series"]["requests"], seen["bucket_ms"],
                 label=f"requests per {seen['bucket_ms'] // 60_000 or 1} min (failed in red)",
                 failed=seen["series"]["errors"])
    history = list(reversed(service.history(name)))
    return render(ctx, "deployment.html", project=project, status=status, dep=status.deployment, traffic=seen,
                  chart=chart, history=history, window=window, windows=list(WINDOWS),
                  can_edit=ctx.can_edit(project), message=request.query_params.get("message"))


@page("/p/{project}/deployments/{name}/change", methods=("POST",), name="change_deployment")
def change(request: Request, ctx: Ctx) -> Response:
    """``action=promote`` (all live traffic to ``model``) or ``action=rollback`` (to the previous
    revision); editors only, with a reason."""
    project, name = request.path_params["project"], request.path_params["name"]
    form = request.state.form
    ctx.check_csrf(form)
    action, model, reason = (str(form.get(k, "")).strip() for k in ("action", "model", "reason"))
    target = f"name={name}" + (f", model={model}" if model else "")
    with ctx.change(f"ui.deployment.{action or 'change'}", project, target, reason=reason,
                    why=f"Say why you {action or 'change'} the deployment (kept in its history)."):
        service = Deployments(ctx.workspace, project)
        if action == "promote":
            if not model:
                raise InvalidParameter("Name the model to promote (a route's or shadow's reference).")
            done = service.promote(name, model, reason=reason, actor=ctx.principal.user)
            message = f"Promoted {model}: revision {done.revision} sends it all live traffic."
        elif action == "rollback":
            done = service.rollback(name, reason=reason, actor=ctx.principal.user)
            message = f"Rolled back: revision {done.revision} restores the previous routes."
        else:
            raise InvalidParameter(f"Unknown action {action!r}: promote or rollback.")
    return RedirectResponse(url(f"/p/{project}/deployments/{name}", message=message), status_code=303)
