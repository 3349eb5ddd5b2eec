"""``shipyard artifacts ...``"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from shipyard.cli._context import run_id as full_id
from shipyard.cli._context import tracking_client
from shipyard.cli._output import console, fmt_ms, print_json, table

app = typer.Typer(help="List and download run artifacts (verified against their sha256).", no_args_is_help=True)



@app.command("ls")
def ls(
    run_id: str,
    path: Annotated[Optional[str], typer.Argument(help="Folder inside the run's artifacts.")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List a run's artifacts with size and sha256."""
    run_id = full_id(run_id)
    records = tracking_client().list_artifacts(run_id, path)
    if json_:
        print_json([{"path": r.path, "size": r.size, "sha256": r.sha256, "created_at": r.created_at} for r in records])
        return
    console.print(table(f"artifacts of {run_id}", ["path", "size", "sha256", "logged"], [(r.path, r.size, r.sha256, fmt_ms(r.created_at)) for r in records]))


@app.command()
def get(
    run_id: str,
    path: Annotated[Optional[str], typer.Argument(help="File or folder; all artifacts when omitted.")] = None,
    dest: Annotated[str, typer.Option("--dest", "-d", help="Local directory to download into.")] = ".",
) -> None:
    """Download artifacts, verifying every file's sha256 (a mismatch is an error, nothing is kept)."""
    where = tracking_client().download_artifacts(full_id(run_id), path, dest)
    console.print(f"Downloaded to {where}")
