"""``shipyard experiments ...``"""

from __future__ import annotations

from typing import Annotated

import typer

from shipyard.cli._context import tracking_client
from shipyard.cli._output import console, fmt_ms, print_json, table

app = typer.Typer(help="Create, list, rename, delete and restore experiments.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]



@app.command("list")
def list_(
    all_: Annotated[bool, typer.Option("--all", help="Include deleted experiments.")] = False,
    json_: JsonOpt = False,
) -> None:
    """List the experiments of the current project."""
    exps = tracking_client().list_experiments(include_deleted=all_)
    if json_:
        print_json(
            [
                {"id": e.id, "name": e.name, "lifecycle": e.lifecycle.value, "created_at": e.created_at, "tags": dict(e.tags)}
                for e in exps
            ]
        )
        return
    rows = [(e.id, e.name, e.lifecycle.value, fmt_ms(e.created_at)) for e in exps]
    console.print(table(f"Experiments in project {tracking_client().project!r}", ["id", "name", "stage", "created"], rows))


@app.command()
def create(name: str, json_: JsonOpt = False) -> None:
    """Create an experiment."""
    exp = tracking_client().create_experiment(name)
    if json_:
        print_json({"id": exp.id, "name": exp.name})
    else:
        console.print(f"Created experiment [bold]{exp.name}[/] (id {exp.id}).")


@app.command()
def rename(experiment: Annotated[str, typer.Argument(help="Id or name.")], new_name: str) -> None:
    """Rename an experiment."""
    exp = tracking_client().rename_experiment(experiment, new_name)
    console.print(f"Experiment {exp.id} is now called [bold]{exp.name}[/].")


@app.command()
def delete(experiment: Annotated[str, typer.Argument(help="Id or name.")]) -> None:
    """Delete an experiment and its runs (restorable until `shipyard store gc`)."""
    exp = tracking_client().delete_experiment(experiment)
    console.print(f"Deleted experiment [bold]{exp.name}[/] (id {exp.id}). Undo with `shipyard experiments restore {exp.id}`.")


@app.command()
def restore(experiment: Annotated[str, typer.Argument(help="Id or name.")]) -> None:
    """Restore a deleted experiment and its runs."""
    exp = tracking_client().restore_experiment(experiment)
    console.print(f"Restored experiment [bold]{exp.name}[/] (id {exp.id}).")
