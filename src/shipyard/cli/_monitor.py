"""``shipyard monitor ...``: reference profiles, drift between two tables, and a deployment's
performance on the labels that came back through feedback (with the A/B readout of its routes).
The stored monitors' commands (create, run, report …) are in :mod:`._monitors`.

Exit codes: 0 done, 1 drift found (``drift --fail-on-drift``), 2 the input could not be read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.text import Text

from shipyard.cli._output import console, err_console, print_json, table

app = typer.Typer(help="Monitoring: monitors over a deployment's windows (create, run, results, alerts, events, "
                       "report), reference profiles, drift between tables, performance from feedback.",
                  no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _fail(message: str, hint: str = "") -> typer.Exit:
    err_console.print(Text.assemble(("Error: ", "bold red"), message + (f" {hint}" if hint else "")))
    return typer.Exit(2)


def _read(path: Path) -> Any:
    """A .parquet or .csv file as a DataFrame, or a profile .json as a Profile."""
    import pandas as pd

    from shipyard.exceptions import ShipyardError
    from shipyard.monitoring import Profile

    if not path.is_file():
        raise _fail(f"{path}: no such file.", "Give a .parquet, .csv or profile .json file.")
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            return Profile.from_dict(json.loads(path.read_text()))
        if suffix == ".csv":
            return pd.read_csv(path)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
    except (ShipyardError, ValueError, OSError) as exc:
        raise _fail(f"{path}: cannot be read ({exc}).") from None
    raise _fail(f"{path}: unknown file type {suffix!r}.", "Use .parquet, .csv, or a .json profile from "
                "`shipyard monitor profile`.")


def _is_frame(value: Any) -> bool:
    import pandas as pd

    return isinstance(value, pd.DataFrame)


def _num(value: Any, digits: int = 3) -> str:
    return "" if value is None or value != value else f"{value:.{digits}g}"


@app.command()
def profile(data: Annotated[Path, typer.Argument(help="A .parquet or .csv file: the reference.")],
            output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the profile (.json).")]) -> None:
    """Profile a reference table (quantiles, histograms, category counts, missing rates) for drift checks
    that need no raw reference data."""
    from shipyard.monitoring import profile as build

    frame = _read(data)
    if not _is_frame(frame):
        raise _fail(f"{data}: is a profile already; give the data it should describe.")
    built = build(frame)
    output.write_text(json.dumps(built.to_dict(), allow_nan=False))
    console.print(f"Wrote {output}: {len(built.columns)} columns profiled from {len(frame):,} rows.")


@app.command()
def drift(
    reference: Annotated[Path, typer.Argument(help="The reference: .parquet, .csv, or a profile .json.")],
    current: Annotated[Path, typer.Argument(help="The current window: .parquet or .csv.")],
    columns: Annotated[Optional[str], typer.Option(help="Comma-separated columns to compare (default: all).")] = None,
    fail_on_drift: Annotated[bool, typer.Option("--fail-on-drift", help="Exit 1 when the data set has drifted.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Drift of CURRENT against REFERENCE, column by column: test, statistic, p-value, effect size."""
    from shipyard.exceptions import ShipyardError
    from shipyard.monitoring import drift as compare

    ref, cur = _read(reference), _read(current)
    if not _is_frame(cur):
        raise _fail(f"{current}: the current window must be data (.parquet or .csv), not a profile.")
    try:
        report = compare(ref, cur, columns=columns.split(",") if columns else None)
    except ShipyardError as exc:
        raise _fail(str(exc), exc.hint) from None
    if json_:
        print_json(report.to_dict())
    else:
        rows = [("✗" if c.drifted else "", name, c.kind, c.test, _num(c.statistic), _num(c.p_value),
                 f"{c.effect} {_num(c.effect_size)}", _num(c.threshold), _num(c.psi),
                 f"{c.null_rate_reference:.1%} → {c.null_rate_current:.1%}") for name, c in report.columns.items()]
        console.print(table(f"{current.name} against {reference.name}", ["", "column", "kind", "test", "statistic",
                                                                         "p-value", "effect", "threshold", "PSI",
                                                                         "missing"], rows))
        verdict = "[bold red]DRIFTED[/]" if report.dataset_drifted else "[bold green]NO DATA-SET DRIFT[/]"
        console.print(f"{verdict}: {len(report.drifted_columns)} of {len(report.columns)} columns drifted "
                      f"({report.share:.0%}; the data set counts as drifted from {report.share_threshold:.0%}); "
                      f"{report.reference_rows:,} reference rows, {report.current_rows:,} current rows.")
    if fail_on_drift and report.dataset_drifted:
        raise typer.Exit(1)


@app.command()
def performance(
    deployment: Annotated[str, typer.Argument(help="The deployment whose prediction log to score.")],
    since: Annotated[Optional[str], typer.Option(help="From this time (ISO 8601, or e.g. 2026-11-30).")] = None,
    until: Annotated[Optional[str], typer.Option(help="Up to this time.")] = None,
    by: Annotated[Optional[str], typer.Option(help="One row per value of this column (route, model_version, "
                                                   "in_<field>).")] = None,
    metric: Annotated[Optional[str], typer.Option(help="The A/B readout's metric (default: accuracy or MAE).")] = None,
    json_: JsonOpt = False,
) -> None:
    """A deployment's performance on the labels sent back as feedback, and the A/B readout of its routes."""
    from shipyard.exceptions import ShipyardError
    from shipyard.monitoring import performance as score

    try:
        report = score(deployment, since=since, until=until, by=by)
        readout = report.compare(metric) if report.labelled else None
    except ShipyardError as exc:
        raise _fail(str(exc), exc.hint) from None
    if json_:
        print_json({**report.to_dict(), "ab": readout.to_dict() if readout is not None else None})
        return
    frame = report.to_frame()
    names = [c for c in frame.columns if c not in ("rows", "labelled", "coverage")]
    rows = [(str(seg), f"{int(r['rows']):,}", f"{int(r['labelled']):,}", f"{r['coverage']:.0%}",
             *(_num(r[n]) for n in names)) for seg, r in frame.iterrows()]
    console.print(table(f"{deployment}: {report.task}", ["segment", "rows", "labelled", "coverage", *names], rows))
    if readout is None:
        console.print("No labelled predictions yet: send ground truth with POST /v1/deployments/"
                      f"{deployment}/feedback or sy.monitoring.feedback().")
        return
    ab = [(r.route, f"{r.labelled:,}", _num(r.value), f"{_num(r.ci_low)} … {_num(r.ci_high)}", _num(r.p_value),
           "baseline" if r.baseline else r.verdict) for r in readout.routes]
    console.print(table(f"A/B readout on {readout.metric} (baseline {readout.baseline}, α = {readout.alpha})",
                        ["route", "labelled", readout.metric, "95% interval", "p-value", "verdict"], ab))
