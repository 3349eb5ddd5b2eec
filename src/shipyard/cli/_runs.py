"""``shipyard runs ...``"""

from __future__ import annotations

import math
from typing import Annotated, Any, Optional

import typer
from rich.panel import Panel

from shipyard.cli._context import run_id as full_id
from shipyard.cli._context import tracking_client
from shipyard.cli._output import console, fmt, fmt_duration, fmt_ms, print_json, table

app = typer.Typer(help="List, show, compare and delete runs.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]



def run_dict(run: Any) -> dict[str, Any]:
    return {
        "run_id": run.id,
        "run_name": run.name,
        "experiment_id": run.experiment_id,
        "project": run.project,
        "status": run.status.value,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "duration_ms": run.duration_ms,
        "user": run.user,
        "host": run.host,
        "parent_run_id": run.parent_run_id,
        "lifecycle": run.lifecycle.value,
        "artifact_uri": run.artifact_uri,
        "git_commit": run.git_commit,
        "git_dirty": run.git_dirty,
        "params": dict(run.params),
        "metrics": {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in run.metrics.items()},
        "tags": dict(run.tags),
    }


@app.command("list")
def list_(
    experiment: Annotated[Optional[str], typer.Option("--experiment", "-e", help="Experiment id or name.")] = None,
    filter_: Annotated[
        Optional[str], typer.Option("--filter", "-f", help="e.g. \"metrics.auc > 0.8 and params.model = 'lgbm'\"")
    ] = None,
    order_by: Annotated[
        Optional[list[str]], typer.Option("--order-by", "-o", help="e.g. 'metrics.auc DESC' (repeatable).")
    ] = None,
    limit: Annotated[int, typer.Option(help="Most runs to show.")] = 50,
    all_: Annotated[bool, typer.Option("--all", help="Include deleted runs.")] = False,
    json_: JsonOpt = False,
) -> None:
    """List runs, newest first, filtered and ordered in the database."""
    runs = tracking_client().search(experiment, filter_, order_by, limit, include_deleted=all_)
    if json_:
        print_json([run_dict(r) for r in runs])
        return
    param_keys = sorted({k for r in runs for k in r.params})[:6]
    metric_keys = sorted({k for r in runs for k in r.metrics})[:6]
    columns = ["run", "id", "status", "started", "duration"] + [f"p:{k}" for k in param_keys] + [f"m:{k}" for k in metric_keys]
    rows: list[list[Any]] = [
        [r.name, r.id[:8], r.status.value, fmt_ms(r.start_time), fmt_duration(r.duration_ms)]
        + [r.params.get(k) for k in param_keys]
        + [r.metrics.get(k) for k in metric_keys]
        for r in runs
    ]
    console.print(table(f"{len(runs)} run(s)", columns, rows))


@app.command()
def show(run_id: Annotated[str, typer.Argument(help="Run id or a unique prefix of it.")], json_: JsonOpt = False) -> None:
    """Everything recorded about one run."""
    client = tracking_client()
    run = client.get_run(full_id(run_id, include_deleted=True))
    datasets = client.store.list_run_datasets(run.id)
    artifacts = client.list_artifacts(run.id)
    if json_:
        data = run_dict(run)
        data["environment"] = dict(run.environment)
        data["failure"] = run.failure
        data["datasets"] = [
            {"name": d.dataset.name, "digest": d.dataset.digest, "rows": d.dataset.num_rows, "role": d.role, "direction": d.direction}
            for d in datasets
        ]
        data["artifacts"] = [{"path": a.path, "size": a.size, "sha256": a.sha256} for a in artifacts]
        print_json(data)
        return
    head = (
        f"[bold]{run.name}[/]  {run.id}\nstatus {run.status.value} · experiment {run.experiment_id} · "
        f"started {fmt_ms(run.start_time)} · duration {fmt_duration(run.duration_ms)}\n"
        f"user {fmt(run.user)} @ {fmt(run.host)} · git {fmt(run.git_commit)}{' (dirty)' if run.git_dirty else ''}\n"
        f"artifacts {run.artifact_uri}"
    )
    if run.parent_run_id:
        head += f"\nparent {run.parent_run_id}"
    console.print(Panel(head, title="run"))
    console.print(table("params", ["key", "value"], sorted(run.params.items())))
    console.print(table("metrics (latest)", ["key", "value"], sorted(run.metrics.items())))
    console.print(table("tags", ["key", "value"], sorted(run.tags.items())))
    if datasets:
        console.print(
            table(
                "datasets",
                ["name", "role", "direction", "rows", "digest"],
                [(d.dataset.name, d.role, d.direction, d.dataset.num_rows, d.dataset.digest[:16]) for d in datasets],
            )
        )
    if artifacts:
        console.print(table("artifacts", ["path", "size", "sha256"], [(a.path, a.size, a.sha256[:16]) for a in artifacts]))
    if run.failure:
        console.print(Panel(run.failure, title="failure", style="red"))


@app.command()
def compare(
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids.")],
    only_diff: Annotated[bool, typer.Option("--only-diff", help="Show only rows that differ.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Compare runs side by side: params, metrics and tags."""
    frame = tracking_client().compare_runs([full_id(r) for r in run_ids])
    if only_diff:
        frame = frame[frame["differs"]]
    if json_:
        print_json({idx: {c: row[c] for c in frame.columns} for idx, row in frame.iterrows()})
        return
    columns = ["field", *[c for c in frame.columns if c != "differs"]]
    rows = []
    for idx, row in frame.iterrows():
        marker = "[yellow]*[/] " if row["differs"] else "  "
        rows.append([marker + str(idx), *[row[c] for c in frame.columns if c != "differs"]])
    console.print(table("comparison (* differs)", columns, rows))


@app.command()
def delete(run_ids: Annotated[list[str], typer.Argument(help="Run ids.")]) -> None:
    """Delete runs (restorable until `shipyard store gc`)."""
    client = tracking_client()
    for run_id in run_ids:
        client.delete_run(full_id(run_id))
    console.print(f"Deleted {len(run_ids)} run(s). Undo with `shipyard runs restore <id>`.")


@app.command()
def restore(run_ids: Annotated[list[str], typer.Argument(help="Run ids.")]) -> None:
    """Restore deleted runs."""
    client = tracking_client()
    for run_id in run_ids:
        client.restore_run(full_id(run_id, include_deleted=True))
    console.print(f"Restored {len(run_ids)} run(s).")
