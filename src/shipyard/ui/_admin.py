"""Admin (admins only): users, tokens (create — the secret is shown once — and revoke), who holds which
role where, quotas, and the audit log with filters. Every change is audited."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from shipyard._internal._time import parse_when
from shipyard.access import issue_token
from shipyard.entities import Role
from shipyard.exceptions import InvalidParameter, PermissionDenied, ShipyardError
from shipyard.ui._app import Ctx, page, render, url

AUDIT_PAGE = 100


def _admin(ctx: Ctx) -> Any:
    if not ctx.principal.is_admin:
        raise PermissionDenied("The admin pages are for admins; ask one for an admin token.")
    return ctx.workspace.metadata


def _bindings(tokens: list[Any]) -> list[dict[str, Any]]:
    """Who holds which role in which project, through live tokens (the strongest per user and project)."""
    order = {Role.VIEWER: 0, Role.EDITOR: 1, Role.ADMIN: 2}
    best: dict[tuple[str, str], Any] = {}
    for t in tokens:
        if t.revoked_at is not None:
            continue
        key = (t.user, t.project or "*")
        if key not in best or order[t.role] > order[best[key].role]:
            best[key] = t
    return [{"user": u, "project": p, "role": t.role, "tokens": sum(1 for x in tokens if x.user == u and
                                                                       (x.project or "*") == p and x.revoked_at is None)}
            for (u, p), t in sorted(best.items())]


@page("/admin", name="admin")
def admin(request: Request, ctx: Ctx, created: tuple[Any, str] | None = None) -> Response:
    store = _admin(ctx)
    tokens = store.list_tokens()
    return render(ctx, "admin.html", project=None, users=store.list_users(), tokens=tokens, bindings=_bindings(tokens),
                  quotas=store.list_quotas(), roles=[r.value for r in Role], created=created,
                  projects=[p.name for p in store.list_projects()], message=request.query_params.get("message"))


@page("/admin/tokens", methods=("POST",), name="admin_tokens")
def tokens(request: Request, ctx: Ctx) -> Response:
    """``action=create`` (user, role, project, expires_in_days, description; the user is created when
    ``create_user`` is ticked) or ``action=revoke`` (token_id)."""
    store = _admin(ctx)
    form = request.state.form
    ctx.check_csrf(form)
    action = form.get("action", "")
    status, target = 200, ""
    try:
        if action == "revoke":
            target = f"token={form.get('token_id', '')}"
            store.revoke_token(form.get("token_id", ""))
            return RedirectResponse(url("/admin", message=f"Token {form.get('token_id')} revoked."), status_code=303)
        if action != "create":
            raise InvalidParameter(f"Unknown action {action!r}: create or revoke.")
        user, role = form.get("user", "").strip(), form.get("role", "viewer")
        project = form.get("project", "").strip() or None
        target = f"user={user}, role={role}, project={project}"
        if not user:
            raise InvalidParameter("Name the user the token is for.")
        if user not in {u.name for u in store.list_users()}:
            if not form.get("create_user"):
                raise InvalidParameter(f"No user {user!r}: tick 'create the user' to add them.")
            store.create_user(user)
        days = form.get("expires_in_days", "").strip()
        try:
            expires = float(days) if days else None
        except ValueError:
            raise InvalidParameter(f"Expires in days must be a number, got {days!r}.") from None
        if role not in {r.value for r in Role}:
            raise InvalidParameter(f"Unknown role {role!r}: viewer, editor or admin.")
        record, secret = issue_token(store, user, project, Role(role), expires, form.get("description") or None)
        target += f", token={record.id}"
        return admin(request, ctx, created=(record, secret))
    except ShipyardError as exc:
        status = exc.http_status
        raise
    finally:
        ctx.audit(f"ui.token.{action or 'change'}", "*", target, status, None)


@page("/admin/quotas", methods=("POST",), name="admin_quotas")
def quotas(request: Request, ctx: Ctx) -> Response:
    store = _admin(ctx)
    form = request.state.form
    ctx.check_csrf(form)
    project, kind, limit = (form.get(k, "").strip() for k in ("project", "kind", "limit"))
    with ctx.change("ui.quota.set", project or "*", f"kind={kind}, limit={limit or None}", role=Role.ADMIN):
        if not project or not kind:
            raise InvalidParameter("Name the project and the kind of quota.")
        if limit and not limit.isdigit():
            raise InvalidParameter(f"The limit must be a whole number (empty removes it), got {limit!r}.")
        store.set_quota(project, kind, int(limit) if limit else None)
    return RedirectResponse(url("/admin", message=f"Quota {kind} of {project}: {limit or 'no limit'}."), status_code=303)


@page("/admin/audit", name="admin_audit")
def audit(request: Request, ctx: Ctx) -> Response:
    store = _admin(ctx)
    q = request.query_params
    before = q.get("before")
    since = q.get("since") or None
    events = store.search_audit(actor=q.get("actor") or None, action=q.get("action") or None,
                                project=q.get("project") or None, since=parse_when(since) if since else None,
                                limit=AUDIT_PAGE, before_id=int(before) if before and before.isdigit() else None)
    filters = {k: q.get(k) or "" for k in ("actor", "action", "project", "since")}
    return render(ctx, "audit.html", project=None, events=events, filters=filters,
                  older=events[-1].id if len(events) == AUDIT_PAGE else None)
