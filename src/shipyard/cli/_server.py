"""``shipyard server``: the platform API for a team."""

from __future__ import annotations

import ipaddress
import socket
from typing import Annotated, Optional

import typer

from shipyard.cli._output import console, err_console


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


def server(
    store: Annotated[Optional[str], typer.Option("--store", help="Metadata store: sqlite:///… or postgresql+psycopg://… (default: embedded).")] = None,
    artifacts: Annotated[Optional[str], typer.Option("--artifacts", help="Artifact root: file:///… or s3://bucket/prefix (default: embedded).")] = None,
    online: Annotated[Optional[str], typer.Option("--online", help="Online feature store: sqlite:///… or redis://… "
                                                  "(default: embedded).")] = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    auth: Annotated[bool, typer.Option("--auth/--no-auth", help="Require API tokens (default: off on loopback).")] = False,
    insecure: Annotated[bool, typer.Option("--insecure", help="Allow a non-loopback bind without authentication.")] = False,
    monitors: Annotated[bool, typer.Option("--monitors/--no-monitors", help="Evaluate due monitor windows in the "
                                           "background (default: on).")] = True,
    monitor_interval: Annotated[Optional[float], typer.Option(help="Seconds between passes over the monitors "
                                                              "(default 60).")] = None,
) -> None:
    """Serve the platform API (OpenAPI at /docs) and the web UI (at /). Point the SDK at it with
    SHIPYARD_URI=http://HOST:PORT."""
    import uvicorn

    from shipyard.config import configure, export_environment, get_settings
    from shipyard.storage._sql._engine import display

    settings = configure(store_uri=store, artifact_uri=artifacts, online_uri=online, server_auth=auth or None,
                         server_monitors=monitors, monitor_interval=monitor_interval)
    if settings.remote:
        raise typer.BadParameter("--store must be a database (sqlite:/// or postgresql+psycopg://), not a server URL")
    if not _is_loopback(host) and not auth and not insecure:
        err_console.print(
            f"[bold red]Refusing to bind {host} without authentication:[/] anyone who can reach it could read and "
            "change every record. Pass --auth (tokens required), bind 127.0.0.1, or pass --insecure if the network "
            "is trusted."
        )
        raise typer.Exit(2)
    from shipyard.access import bootstrap_admin
    from shipyard.workspace import build_workspace

    workspace = build_workspace(settings)  # create / check the schema once, before workers start
    if auth:
        secret = bootstrap_admin(workspace.metadata)  # type: ignore[arg-type]
        if secret:
            console.print(f"[bold]Created the admin user. Its token (shown once, store it now):[/]\n  {secret}")
    workspace.close()
    console.print(
        f"Shipyard server on http://{host}:{port} (UI at /ui/, API docs at /docs) · store {display(settings.resolved_store_uri)} · "
        f"artifacts {settings.resolved_artifact_uri} · online features {display(settings.resolved_online_uri)}"
    )
    if auth:
        console.print(f"Authentication on: clients set SHIPYARD_URI=http://{host}:{port} and SHIPYARD_TOKEN=sy_…")
    else:
        console.print(f"[yellow]Single-user mode: no authentication.[/] Clients: SHIPYARD_URI=http://{host}:{port}")
    export_environment(get_settings())  # worker processes build the same settings
    uvicorn.run(
        "shipyard.server._app:app_from_settings", factory=True, host=host, port=port, workers=workers,
        log_level="warning", access_log=False, limit_concurrency=settings.server_max_concurrency, timeout_keep_alive=5,
    )


def ui(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 5050,
    host: Annotated[str, typer.Option(help="Interface to bind (loopback only: the UI has no login here).")] = "127.0.0.1",
    store: Annotated[Optional[str], typer.Option("--store", help="Metadata store (default: the embedded one).")] = None,
    artifacts: Annotated[Optional[str], typer.Option("--artifacts", help="Artifact root (default: embedded).")] = None,
) -> None:
    """Open the web UI on the embedded store (or --store): runs and charts, models, what is live where.
    Prints the URL; stop it with Ctrl-C. A team server (`shipyard server`) serves the same UI behind
    its logins."""
    import uvicorn

    from shipyard.config import configure, export_environment, get_settings

    if not _is_loopback(host):
        err_console.print(f"[bold red]Refusing to bind {host}:[/] `shipyard ui` has no login. Run `shipyard server "
                          "--auth` to share the UI with a team.")
        raise typer.Exit(2)
    settings = configure(store_uri=store, artifact_uri=artifacts, server_auth=False, server_monitors=False)
    if settings.remote:
        raise typer.BadParameter("shipyard ui reads a database store; for a server, open its URL in a browser")
    console.print(f"Shipyard UI: [bold]http://{host}:{port}/ui/[/] (Ctrl-C stops it)")
    export_environment(get_settings())
    uvicorn.run("shipyard.server._app:app_from_settings", factory=True, host=host, port=port, log_level="warning",
                access_log=False)
