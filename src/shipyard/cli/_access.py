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
    user: Annotated[str, typer.Option(help="Whose token (created if --create-user).")],
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
    json_: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Who changed what, when and from where — newest first."""
    events = _store().search_audit(actor=actor, action=action, project=project, limit=limit)
    if json_:
        print_json([{"at": e.at, "actor": e.actor, "action": e.action, "project": e.project, "target": e.target,
                     "status": e.status, "remote_addr": e.remote_addr} for e in events])
        return
    rows = [(fmt_ms(e.at), e.actor, e.action, e.project, e.target, e.status, e.remote_addr) for e in events]
    console.print(table("audit log", ["when (UTC)", "who", "action", "project", "target", "status", "from"], rows))
