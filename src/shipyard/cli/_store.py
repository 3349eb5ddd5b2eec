"""``shipyard store ...`` and ``shipyard config ...``"""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from shipyard.cli._output import console, print_json, table

app = typer.Typer(help="Inspect, upgrade and clean the metadata and artifact stores.", no_args_is_help=True)
config_app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)

StoreOpt = Annotated[Optional[str], typer.Option("--store-uri", help="Metadata store URI (default: settings).")]


def _uri(store_uri: Optional[str]) -> str:
    from shipyard.config import configure, get_settings

    if store_uri:
        configure(store_uri=store_uri)
    return get_settings().resolved_store_uri


@app.command()
def info(store_uri: StoreOpt = None, json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Backend, schema revision, projects and record counts."""
    from shipyard.workspace import current_workspace

    _uri(store_uri)
    ws = current_workspace()
    data = ws.metadata.info()
    data["artifact_root"] = ws.artifacts.root_uri
    data["projects"] = [p.name for p in ws.metadata.list_projects()]
    data["online"] = _online_info(ws)
    if json_:
        print_json(data)
        return
    rows = [
        ("metadata store", data["uri"]),
        ("backend", data["backend"]),
        ("schema revision", f"{data['schema_revision']} (this Shipyard expects {data['schema_expected']})"),
        ("artifact root", data["artifact_root"]),
        ("project names", ", ".join(data["projects"]) or "—"),
        ("online store", data["online"].get("uri", "—")),
        ("online views", ", ".join(f"{v} ({n:,} keys)" for v, n in (data["online"].get("views") or {}).items())
         or data["online"].get("note", "—")),
    ] + [(name, count) for name, count in data["counts"].items()]
    console.print(table("Shipyard store", ["", ""], rows))


def _online_info(ws: Any) -> dict[str, Any]:
    """The online store's info, without creating an embedded one that does not exist yet; an unreachable
    one is reported, not raised."""
    from pathlib import Path

    from shipyard.exceptions import ShipyardError

    uri = ws.settings.resolved_online_uri
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).exists():
        return {"uri": uri, "note": "not created yet (sy.features.materialize creates it)"}
    try:
        return dict(ws.online.info())
    except ShipyardError as exc:
        return {"uri": uri, "note": f"unavailable: {exc}"}


@app.command()
def upgrade(store_uri: StoreOpt = None) -> None:
    """Migrate the metadata store's schema to the version this Shipyard needs (back it up first)."""
    from shipyard.storage._sql._engine import create_engine, current_revision, display
    from shipyard.storage._sql._engine import upgrade as do_upgrade
    from shipyard.storage._sql._schema import SCHEMA_HEAD

    uri = _uri(store_uri)
    engine = create_engine(uri, busy_timeout=60)
    before = current_revision(engine)
    do_upgrade(engine)
    after = current_revision(engine)
    engine.dispose()
    if before == after:
        console.print(f"{display(uri)} is already at schema revision {after}.")
    else:
        console.print(f"Upgraded {display(uri)} from revision {before or 'empty'} to {after} (head {SCHEMA_HEAD}).")


@app.command()
def gc(
    store_uri: StoreOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would be removed; change nothing.")] = False,
    temp_age: Annotated[float, typer.Option(help="Remove temporary upload files older than this many seconds.")] = 3600.0,
) -> None:
    """Mark dead runs KILLED, purge deleted runs and their artifacts, drop stale temporary files."""
    from shipyard.tracking._gc import collect
    from shipyard.workspace import current_workspace

    _uri(store_uri)
    report = collect(current_workspace(), dry_run=dry_run, temp_age_s=temp_age)
    verb = "Would" if dry_run else "Did"
    console.print(
        f"{verb} mark {report.killed} dead run(s) KILLED, purge {report.purged_runs} deleted run(s) with "
        f"{report.purged_files} artifact file(s), and remove {report.temporaries} temporary file(s)."
    )


@config_app.command("show")
def show(json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Each effective setting with where it came from (explicit, environment, shipyard.toml, default)."""
    from shipyard.config import settings_with_sources

    rows = settings_with_sources()
    if json_:
        print_json({name: {"value": value, "source": source} for name, value, source in rows})
        return
    console.print(table("Shipyard settings", ["setting", "value", "source"], rows))
