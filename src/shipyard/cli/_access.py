"""``shipyard token ...``, ``shipyard users ...``, ``shipyard audit ...`` — against the local store, or
a server's admin API when SHIPYARD_URI points at one (with an admin token)."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from shipyard.cli._output import console, fmt_ms, print_json, table

token_app = typer.Typer(help="Create, list and revoke API tokens (shown once, stored as salted hashes).", no_args_is_help=True)
users_app = typer.Typer(help="Create and list users.", no_args_is_help=True)
audit_app = typer.Typer(help="Read the audit log (admins).", no_args_is_help=True)


def _store() -> Any:
    from shipyard.workspace import current_workspace

    return current_workspace().metadata


@token_app.command("create")
def token_create(
    user: Annotated[Optional[str], typer.Option(help="Whose token (default: you, by your login name, created if missing; "
                                                "another user is created only with --create-user).")] = None,
    role: Annotated[str, typer.Option(help="viewer, editor or admin.")] = "viewer",
    project: Annotated[Optional[str], typer.Option(help="The project it is valid for (omit for an all-projects admin token).")] = None,
    expires_in_days: Annotated[Optional[float], typer.Option(help="Lifetime; never expires if omitted.")] = None,
    description: Annotated[Optional[str], typer.Option(help="What it is for.")] = None,
    create_user: Annotated[bool, typer.Option("--create-user", help="Create the user if missing.")] = False,
) -> None:
    """Create a token. The secret is printed once; only its salted hash is stored."""
    from shipyard.access import issue_token
    from shipyard.exceptions import NotFound

    store = _store()
    if user is None:
        from shipyard.tracking._environment import user as login_name

        user = login_name() or "default"
        create_user = True
    if create_user:
        try:
            store.get_user(user)
        except NotFound:
            store.create_user(user)
    record, secret = issue_token(store, user, project, role, expires_in_days, description)
    scope = f"project {record.project!r}" if record.project else "every project"
    console.print(f"Token {record.id} for {record.user}: {record.role.value} on {scope}.")
    console.print(f"[bold]{secret}[/]  (shown once: store it now; clients set SHIPYARD_TOKEN)", soft_wrap=True)


@token_app.command("list")
def token_list(user: Annotated[Optional[str], typer.Option(help="Only this user's tokens.")] = None,
               json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List tokens (never their secrets)."""
    tokens = _store().list_tokens(user)
    if json_:
        print_json([{"id": t.id, "user": t.user, "project": t.project, "role": t.role.value, "created_at": t.created_at,
                     "expires_at": t.expires_at, "revoked_at": t.revoked_at, "description": t.description} for t in tokens])
        return
    rows = [(t.id, t.user, t.project or "*", t.role.value, fmt_ms(t.created_at), fmt_ms(t.expires_at),
             "revoked" if t.revoked_at else "active", t.description) for t in tokens]
    console.print(table("tokens", ["id", "user", "project", "role", "created", "expires", "state", "description"], rows))


@token_app.command("revoke")
def token_revoke(token_id: str) -> None:
    """Revoke a token at once."""
    _store().revoke_token(token_id)
    console.print(f"Revoked token {token_id}.")


@users_app.command("create")
def users_create(name: str, admin: Annotated[bool, typer.Option("--admin", help="An administrator.")] = False) -> None:
    """Create a user (then give it tokens with `shipyard token create`)."""
    user = _store().create_user(name, admin)
    console.print(f"Created user {user.name}{' (admin)' if user.is_admin else ''}.")


@users_app.command("list")
def users_list(json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List users."""
    users = _store().list_users()
    if json_:
        print_json([{"name": u.name, "is_admin": u.is_admin, "created_at": u.created_at} for u in users])
        return
    console.print(table("users", ["name", "admin", "created"], [(u.name, u.is_admin, fmt_ms(u.created_at)) for u in users]))


@audit_app.command("list")
def audit_list(
    actor: Annotated[Optional[str], typer.Option(help="Only this user.")] = None,
    action: Annotated[Optional[str], typer.Option(help="Only this operation, e.g. set_alias.")] = None,
    project: Annotated[Optional[str], typer.Option("--in-project", help="Only this project.")] = None,
    limit: Annotated[int, typer.Option(help="Most events to show.")] = 50,
    before_id: Annotated[Optional[int], typer.Option(help="Only events older than this id (page back in time).")] = None,
    json_: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Who changed what, when and from where — newest first."""
    events = _store().search_audit(actor=actor, action=action, project=project, limit=limit, before_id=before_id)
    if json_:
        print_json([{"id": e.id, "at": e.at, "actor": e.actor, "action": e.action, "project": e.project, "target": e.target,
                     "status": e.status, "remote_addr": e.remote_addr} for e in events])
        return
    rows = [(fmt_ms(e.at), e.actor, e.action, e.project, e.target, e.status, e.remote_addr) for e in events]
    console.print(table("audit log", ["when (UTC)", "who", "action", "project", "target", "status", "from"], rows))


quota_app = typer.Typer(help="Per-project quotas (admins): artifact bytes stored through the server.", no_args_is_help=True)
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9, "t": 10**12, "tb": 10**12,
          "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}


def parse_size(text: str) -> int | None:
    """``10GB``, ``512MiB``, ``1000`` (bytes) or ``none`` (no limit)."""
    import re

    cleaned = text.strip().lower().replace(" ", "")
    if cleaned in ("none", "unlimited"):
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([a-z]*)", cleaned)
    if match is None or match[2] not in _UNITS:
        raise typer.BadParameter(f"{text!r} is not a size: write e.g. 10GB, 512MiB, 1000 (bytes) or none.")
    return int(float(match[1]) * _UNITS[match[2]])


@quota_app.command("set")
def quota_set(
    project: Annotated[str, typer.Argument(help="The project.")],
    artifact_bytes: Annotated[str, typer.Option(help="Most artifact bytes the project may store, e.g. 50GB, or none.")],
) -> None:
    """Set a project's quota; writes over it are refused (403 naming the quota)."""
    quota = _store().set_quota(project, "artifact_bytes", parse_size(artifact_bytes))
    console.print(f"{project}: artifact_bytes limit {quota.limit if quota.limit is not None else 'none'} (used {quota.used}).")


@quota_app.command("list")
def quota_list(project: Annotated[Optional[str], typer.Option("--in-project", help="Only this project.")] = None,
               json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Quotas and what is used of them."""
    quotas = _store().list_quotas(project)
    if json_:
        print_json([{"project": q.project, "kind": q.kind, "limit": q.limit, "used": q.used} for q in quotas])
        return
    console.print(table("quotas", ["project", "kind", "limit", "used"],
                        [(q.project, q.kind, q.limit if q.limit is not None else "none", q.used) for q in quotas]))
