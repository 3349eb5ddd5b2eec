"""``shipyard features plan|apply|list|materialize|online|training-set``: the feature store.

Definitions live in a features module of the repository (``features.py`` or a ``features/`` package;
``--path`` to name another); ``plan`` shows what ``apply`` would record. Exit codes: 0 done (``plan
--exit-code``: 0 nothing to apply, 3 changes pending); 2 bad input (a ShipyardError)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from shipyard.cli._output import console, fmt_ms, print_json, table

app = typer.Typer(help="Feature store: define, apply, build training sets, materialize, read online.",
                  no_args_is_help=True)
PathOpt = Annotated[Optional[Path], typer.Option("--path", "-p", help="The features module (a .py file or a package "
                                                                      "folder; default: features.py or features/).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
_COLORS = {"added": "green", "changed": "yellow", "removed": "red", "unchanged": "dim"}


def _print_plan(plan: Any, as_json: bool) -> None:
    if as_json:
        print_json([{"kind": c.kind, "name": c.name, "action": c.action, "version": c.version, "diff": c.diff}
                    for c in plan.changes])
        return
    for change in plan.changes:
        color = _COLORS[change.action]
        label = change.kind.replace("_", " ")
        version = f" (v{change.version})" if change.version else ""
        console.print(f"[{color}]{change.action:>9}[/] {label} [bold]{change.name}[/]{version}", highlight=False)
        if change.action == "changed":
            for line in change.diff:
                style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
                console.print(f"            [{style}]{line}[/]", highlight=False, markup=True, soft_wrap=True)
    console.print(f"Plan: {plan.summary()}.")


@app.command()
def plan(path: PathOpt = None, prune: Annotated[bool, typer.Option(help="Count applied definitions missing from "
                                                                   "the module as removed.")] = True,
         exit_code: Annotated[bool, typer.Option("--exit-code", help="Exit 3 when there are changes to apply.")] = False,
         json_: JsonOpt = False) -> None:
    """Show what `apply` would change: added, changed (with a diff), removed and unchanged definitions."""
    from shipyard.features import load_module
    from shipyard.features import plan as make_plan

    result = make_plan(load_module(path), prune=prune)
    _print_plan(result, json_)
    if exit_code and result.pending:
        raise typer.Exit(3)


@app.command("apply")
def apply_(path: PathOpt = None, prune: Annotated[bool, typer.Option(help="Mark applied definitions missing from "
                                                                     "the module as deleted.")] = True,
           json_: JsonOpt = False) -> None:
    """Record the module's entities and feature views as versioned records (one transaction)."""
    from shipyard.features import apply, load_module
    from shipyard.features import plan as make_plan

    definitions = load_module(path)
    pending = make_plan(definitions, prune=prune)
    written = apply(definitions, prune=prune)
    if json_:
        print_json([{"kind": d.kind, "name": d.name, "version": d.version, "deleted": d.deleted} for d in written])
        return
    _print_plan(pending, False)
    console.print(f"Applied: {len(written)} new version(s)." if written else "Nothing to apply: everything is up to date.")


@app.command("list")
def list_(history: Annotated[Optional[str], typer.Option(help="Every version of one feature view (or 'entity/NAME').")]
          = None, json_: JsonOpt = False) -> None:
    """Applied entities and feature views, with their versions, sources and materialization watermarks."""
    from shipyard.features import definitions, materializations
    from shipyard.workspace import current_workspace

    if history is not None:
        kind_name = history if "/" in history else f"feature_view/{history}"
        from shipyard.config import get_settings

        rows_h = current_workspace().metadata.list_feature_definitions(get_settings().project, history=kind_name)
        if json_:
            print_json([{"version": d.version, "digest": d.digest, "deleted": d.deleted, "created_at": d.created_at,
                         "spec": {k: v for k, v in dict(d.spec).items() if k != "pickle"}} for d in rows_h])
            return
        console.print(table(f"History of {kind_name}", ["version", "created", "digest", "deleted"],
                            [[d.version, fmt_ms(d.created_at), d.digest[:12], d.deleted] for d in rows_h]))
        return
    marks = {m.view: m for m in materializations()}
    items = definitions()
    if json_:
        print_json([{"kind": d.kind, "name": d.name, "version": d.version,
                     "spec": {k: v for k, v in dict(d.spec).items() if k != "pickle"},
                     "watermark": marks[d.name].watermark if d.name in marks else None} for d in items])
        return
    rows = []
    for d in items:
        spec = dict(d.spec)
        if d.kind == "entity":
            rows.append(["entity", d.name, d.version, ", ".join(spec["join_keys"]), "", "", ""])
            continue
        source = spec.get("source") or {}
        where = "on demand" if spec.get("on_demand") else f"{source.get('type')}: {source.get('path') or source.get('query')}"
        mark = marks.get(d.name)
        mark = mark if mark is not None and mark.view_version == d.version else None
        rows.append(["view", d.name, d.version, ", ".join(spec.get("join_keys") or spec.get("inputs") or []),
                     ", ".join(spec["features"]), where, fmt_ms(mark.watermark) if mark else "—"])
    console.print(table("Feature store", ["kind", "name", "v", "keys / inputs", "features", "source",
                                          "materialized to"], rows))


@app.command()
def materialize(
    end: Annotated[str, typer.Option(help="Materialize rows up to this time (ISO 8601 or 'now').")] = "now",
    start: Annotated[Optional[str], typer.Option(help="From this time (default: the beginning of the data).")] = None,
    incremental: Annotated[bool, typer.Option("--incremental", help="Start each view from its watermark.")] = False,
    view: Annotated[Optional[list[str]], typer.Option("--view", help="Only this view (repeatable).")] = None,
    json_: JsonOpt = False,
) -> None:
    """Write the online views' latest values into the online store, chunked, with a progress bar."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from shipyard.features import materialize as full
    from shipyard.features import materialize_incremental

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed:,} rows"),
                  TimeElapsedColumn(), console=console, disable=json_) as bar:
        tasks: dict[str, Any] = {}

        def advance(name: str, done: int, _total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(f"materializing {name}", total=None)
            bar.update(tasks[name], completed=done)

        if incremental:
            if start is not None:
                raise typer.BadParameter("--start and --incremental exclude each other (incremental runs start at "
                                         "each view's watermark).")
            reports = materialize_incremental(end, views=view, progress=advance)
        else:
            reports = full(end, start=start, views=view, progress=advance)
    if json_:
        print_json([r.__dict__ for r in reports])
        return
    console.print(table("Materialized", ["view", "rows written", "from", "to", "chunks", "seconds"],
                        [[r.view, r.rows, fmt_ms(r.start), fmt_ms(r.end), r.chunks, f"{r.seconds:.2f}"]
                         for r in reports]))


@app.command()
def online(
    feature: Annotated[list[str], typer.Option("--feature", "-f", help="'view:feature' (repeatable).")],
    entity: Annotated[list[str], typer.Option("--entity", "-e", help="A join key, KEY=VALUE (repeatable; repeat a "
                                                                     "key for several entities).")],
    at: Annotated[Optional[str], typer.Option(help="Judge TTLs at this time instead of now.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Read features from the online store for some entities."""
    from shipyard.features import online as read

    columns: dict[str, list[Any]] = {}
    for item in entity:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"--entity takes KEY=VALUE, got {item!r}.")
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = value
        columns.setdefault(key, []).append(parsed)
    result = read(feature, entities=columns, at=at)
    if json_:
        print_json(result.to_response())
        return
    n = len(result.values[0]) if result.values else 0
    rows = [[f"{result.values[j][i]}" + ("" if result.statuses[j][i] == "PRESENT" else f" ({result.statuses[j][i]})")
             for j in range(len(result.names))] for i in range(n)]
    console.print(table("Online features", result.names, rows))


@app.command("training-set")
def training_set_(
    entities: Annotated[Path, typer.Argument(help="Entity rows: a Parquet or CSV file with the join keys and a "
                                                  "timestamp column.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Write the training set here (.parquet).")],
    feature: Annotated[list[str], typer.Option("--feature", "-f", help="'view:feature' (repeatable).")],
    timestamp: Annotated[str, typer.Option(help="The entity rows' timestamp column.")] = "event_timestamp",
    name: Annotated[str, typer.Option(help="The dataset record's name.")] = "training-set",
) -> None:
    """Build a point-in-time-correct training set into a Parquet file (out of core) and record it."""
    from shipyard.features import training_set

    source: Any = str(entities)
    if entities.suffix.lower() == ".csv":
        import pandas as pd

        source = pd.read_csv(entities)
    result = training_set(source, feature, entity_timestamp=timestamp, output=output, name=name)
    digest = result.dataset.digest[:12] if result.dataset else "—"
    console.print(f"Wrote {len(result):,} rows × {len(result.features)} features to {output} (dataset {name!r}, "
                  f"digest {digest}; views {', '.join(f'{v}@v{n}' for v, n in result.views.items())}).")
