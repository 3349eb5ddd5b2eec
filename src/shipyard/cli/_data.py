"""``shipyard data ...``: infer a data contract from a file, validate a file against one.

Exit codes of ``validate``: 0 the data passed, 1 it broke the contract, 2 it could not be checked
(a missing file, a bad schema file, unreadable data)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.text import Text

from shipyard.cli._output import console, err_console, print_json, table

app = typer.Typer(help="Data contracts: infer a schema from data, validate data against it, store it as a "
                       "versioned record.", no_args_is_help=True)

DataArg = Annotated[Path, typer.Argument(help="A .parquet or .csv file.")]


def _fail(exc: Exception) -> typer.Exit:
    hint = getattr(exc, "hint", "")
    text = f"{exc}" if not hint or hint in str(exc) else f"{exc} {hint}"
    err_console.print(Text.assemble(("Error: ", "bold red"), text))
    return typer.Exit(2)


@app.command()
def infer(
    data: DataArg,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the schema here (YAML); "
                                                   "without it the YAML goes to standard output.")] = None,
    name: Annotated[Optional[str], typer.Option(help="The schema's name (kept in the file).")] = None,
    max_categories: Annotated[int, typer.Option(help="String columns with at most this many distinct values "
                                                "get a list of allowed values.")] = 20,
    row_tolerance: Annotated[float, typer.Option(help="Row-count band: rows × (1 ± this).")] = 0.5,
) -> None:
    """Learn a schema (types, missing values, ranges, categories, uniqueness, row count) from a file."""
    from shipyard.data import infer_schema
    from shipyard.exceptions import ShipyardError

    try:
        schema = infer_schema(data, name=name or data.name.split(".")[0], max_categories=max_categories,
                              row_tolerance=row_tolerance)
    except ShipyardError as exc:
        raise _fail(exc) from None
    if output is None:
        typer.echo(schema.to_yaml(), nl=False)
        return
    schema.save(output)
    rows = [(col, c.type, "yes" if c.nullable else "no", _range(c.min, c.max),
             f"{len(c.categories)} values" if c.categories is not None else "", "yes" if c.unique else "")
            for col, c in schema.columns.items()]
    console.print(table(f"{data.name}: {len(schema.columns)} columns", ["column", "type", "nullable", "range",
                                                                         "categories", "unique"], rows))
    console.print(f"Wrote {output} (rows {schema.min_rows:,}–{schema.max_rows:,}, {schema.fingerprint[:19]}). "
                  f"Edit it, then check data with `shipyard data validate DATA --schema {output}`.")


def _range(low: Any, high: Any) -> str:
    return "" if low is None and high is None else f"{low} … {high}"


@app.command()
def validate(
    data: DataArg,
    schema: Annotated[Path, typer.Option("--schema", "-s", help="The schema YAML (from `shipyard data infer`).")],
    json_: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    all_checks: Annotated[bool, typer.Option("--all", help="List the checks that passed too.")] = False,
) -> None:
    """Check a file against a schema; exits 1 when the data breaks it, 2 when it cannot be checked."""
    from shipyard.data import Schema
    from shipyard.data import validate as run_validation
    from shipyard.exceptions import ShipyardError

    try:
        report = run_validation(data, Schema.load(schema))
    except ShipyardError as exc:
        raise _fail(exc) from None
    if json_:
        print_json(report.to_dict())
    else:
        shown = [c for c in report.checks if all_checks or not c.passed]
        rows = [("✓" if c.passed else "✗" if c.severity == "error" else "!", c.name, c.kind,
                 "" if c.failing_rows is None else f"{c.failing_rows:,}", c.message,
                 "" if not c.sample else ", ".join(str(r.get("_row")) for r in c.sample)) for c in shown]
        if rows:
            console.print(table(None, ["", "check", "kind", "failing rows", "message", "e.g. rows"], rows))
        verdict = "[bold green]PASSED[/]" if report.passed else "[bold red]FAILED[/]"
        console.print(f"{verdict}: {len(report.failures)} of {len(report.checks)} checks failed"
                      f"{f', {len(report.warnings)} warning(s)' if report.warnings else ''} on {report.rows:,} rows "
                      f"of {data} in {report.seconds:.2f} s (schema {report.schema_name or schema.name} "
                      f"v{report.schema_version}).")
    if not report.passed:
        raise typer.Exit(1)


@app.command()
def save(
    name: Annotated[str, typer.Argument(help="The contract's name in the project.")],
    schema: Annotated[Path, typer.Argument(help="The schema YAML (from `shipyard data infer`).")],
    description: Annotated[Optional[str], typer.Option(help="What changed in this version.")] = None,
) -> None:
    """Store a schema file as the next version of a data contract (a record monitors can check)."""
    from shipyard.data import Schema, save_contract
    from shipyard.exceptions import ShipyardError

    try:
        record = save_contract(Schema.load(schema), name, description=description)
    except ShipyardError as exc:
        raise _fail(exc) from None
    console.print(f"Saved contract [bold]{name}[/] version {record.version}. Check windows against it with "
                  f"`shipyard monitor create DEPLOYMENT --contract {name} ...`.")


@app.command()
def contracts(json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """The project's data contracts (latest version of each)."""
    from shipyard.cli._output import fmt_ms
    from shipyard.data import list_contracts

    found = list_contracts()
    if json_:
        print_json([{"name": c.name, "version": c.version, "created_at": c.created_at, "description": c.description,
                     "columns": sorted(c.spec.get("columns", {}))} for c in found])
        return
    rows = [(c.name, str(c.version), fmt_ms(c.created_at), str(len(c.spec.get("columns", {}))), c.description or "")
            for c in found]
    console.print(table("Data contracts", ["name", "version", "saved", "columns", "description"], rows))
