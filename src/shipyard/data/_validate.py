"""``validate``: every check of a schema over the data in one DuckDB query, then a few failing rows
for each check that failed, in a frozen report."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.data._expectations import Compiler, Expectation
from shipyard.data._schema import Schema
from shipyard.data._source import ROW, VIEW, create_view, open_source
from shipyard.exceptions import ContractViolation, InvalidParameter

_PARAM = re.compile(r"\$(p\d+)\b")


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome. ``failing_rows`` is None for table-level checks (types, row count,
    freshness); ``sample`` holds up to a few failing rows as dicts, with their position as ``_row``."""

    name: str
    kind: str
    column: str | None
    passed: bool
    failing_rows: int | None
    message: str
    severity: str = "error"
    sample: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "column": self.column, "severity": self.severity,
                "passed": self.passed, "failing_rows": self.failing_rows, "message": self.message,
                "sample": [{k: _json(v) for k, v in row.items()} for row in self.sample]}


@dataclass(frozen=True)
class ValidationReport:
    """The result of ``validate``: ``passed`` is False when any check of severity ``error`` failed."""

    passed: bool
    rows: int
    checks: tuple[CheckResult, ...]
    source: str
    schema_name: str | None
    schema_version: int
    fingerprint: str
    seconds: float

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if not c.passed and c.severity == "error")

    @property
    def warnings(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if not c.passed and c.severity != "error")

    def raise_for_failure(self) -> ValidationReport:
        """Raise ContractViolation naming the failed checks, or return the report when it passed."""
        if not self.passed:
            listed = "; ".join(f"{c.name}: {c.message}" for c in self.failures[:5])
            more = f" (and {len(self.failures) - 5} more)" if len(self.failures) > 5 else ""
            raise ContractViolation(f"{self.source} breaks its data contract: {listed}{more}.")
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "rows": self.rows, "source": self.source, "schema_name": self.schema_name,
                "schema_version": self.schema_version, "fingerprint": self.fingerprint,
                "seconds": round(self.seconds, 4), "checks": [c.to_dict() for c in self.checks]}

    def to_frame(self) -> Any:
        """One row per check (pandas DataFrame)."""
        import pandas as pd

        frame = pd.DataFrame([c.to_dict() for c in self.checks],
                             columns=["name", "kind", "column", "severity", "passed", "failing_rows", "message", "sample"])
        frame["failing_rows"] = frame["failing_rows"].astype("Int64")
        return frame

    def __str__(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        failed = f"{len(self.failures)} of {len(self.checks)} checks failed" if self.failures else f"{len(self.checks)} checks"
        warned = f", {len(self.warnings)} warning(s)" if self.warnings else ""
        name = f"{self.schema_name or 'schema'} v{self.schema_version} ({self.fingerprint[:19]})"
        lines = [f"{verdict}: {failed}{warned} on {self.rows:,} rows of {self.source} against {name} "
                 f"in {self.seconds:.2f} s"]
        for check in self.checks:
            if check.passed:
                continue
            mark = "✗" if check.severity == "error" else "!"
            lines.append(f"  {mark} {check.name}: {check.message}")
            lines += [f"      {json.dumps({k: _json(v) for k, v in row.items()}, default=str)}" for row in check.sample[:3]]
        passed = sum(c.passed for c in self.checks)
        if passed:
            lines.append(f"  ✓ {passed} check(s) passed")
        return "\n".join(lines)


def validate(data: Any, schema: Schema | str | Path, *, sample_rows: int = 5,
             now: dt.datetime | None = None) -> ValidationReport:
    """Check ``data`` against ``schema`` (a Schema or the path of its YAML file).

    ``data``: a pandas DataFrame, a pyarrow Table, or the path of a Parquet or CSV file. All checks run
    in one DuckDB query over the data where it is (no copy for frames, tables and Parquet); the failing
    rows of each failed check are sampled afterwards (``sample_rows`` of them). ``now`` is the time
    freshness is measured against (default: the current time, UTC).

    Raises:
        NotFound: a data or schema file that does not exist.
        InvalidParameter: data that cannot be read, or a check that cannot run (e.g. bad custom SQL).
    """
    import duckdb

    started = time.perf_counter()
    if not isinstance(schema, Schema):
        schema = Schema.load(schema)
    moment = now or dt.datetime.now(dt.timezone.utc)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
    checks = schema.expectations()
    con = duckdb.connect()
    try:
        source = open_source(con, data)
        results: dict[int, CheckResult] = {}
        compiler = Compiler(source.types)
        queries: list[tuple[int, str]] = []
        for i, check in enumerate(checks):
            missing = [c for c in check.columns if c not in source.types]
            if missing:
                results[i] = _result(check, False, None, f"column {', '.join(map(repr, missing))} is missing from the data")
            elif (static := check.static(source.types)) is not None:
                results[i] = _result(check, static[0], None, static[1])
            else:
                queries.append((i, check.aggregate(compiler)))
        create_view(con, source.types)
        rows, values = _aggregate(con, queries, compiler, checks)
        for (i, _sql), value in zip(queries, values, strict=True):
            passed, failing, message = checks[i].judge(value, rows, moment)
            sample: tuple[dict[str, Any], ...] = ()
            if not passed and failing and sample_rows > 0:
                sample = _sample(con, checks[i], compiler, sample_rows)
            results[i] = _result(checks[i], passed, failing, message, sample)
    finally:
        con.close()
    ordered = tuple(results[i] for i in range(len(checks)))
    return ValidationReport(
        passed=all(r.passed for r in ordered if r.severity == "error"), rows=rows, checks=ordered, source=source.label,
        schema_name=schema.name, schema_version=schema.version, fingerprint=schema.fingerprint,
        seconds=time.perf_counter() - started)


def _result(check: Expectation, passed: bool, failing: int | None, message: str,
            sample: tuple[dict[str, Any], ...] = ()) -> CheckResult:
    return CheckResult(name=check.title, kind=check.kind, column=", ".join(check.columns) or None, passed=passed,
                       failing_rows=failing, message=message, severity=check.severity, sample=sample)


def _params(sql: str, compiler: Compiler) -> dict[str, Any]:
    return {key: compiler.params[key] for key in _PARAM.findall(sql)}


def _aggregate(con: Any, queries: list[tuple[int, str]], compiler: Compiler,
               checks: list[Expectation]) -> tuple[int, list[Any]]:
    import duckdb

    sql = f"SELECT {', '.join(['count(*)', *(q for _, q in queries)])} FROM {VIEW}"
    try:
        row = con.execute(sql, _params(sql, compiler)).fetchone()
    except duckdb.Error as exc:
        for i, query in queries:  # find the check that broke the query, to name it
            one = f"SELECT {query} FROM {VIEW}"
            try:
                con.execute(one, _params(one, compiler)).fetchone()
            except duckdb.Error as inner:
                raise InvalidParameter(
                    f"Check {checks[i].title!r} could not run: {str(inner).splitlines()[0]}",
                    hint="Fix the check (for sql checks: a boolean DuckDB expression over the data's columns).",
                ) from inner
        raise InvalidParameter(f"The checks could not run: {exc}") from exc
    return int(row[0]), list(row[1:])


def _sample(con: Any, check: Expectation, compiler: Compiler, limit: int) -> tuple[dict[str, Any], ...]:
    sql = check.sample(compiler, limit)
    if sql is None:
        return ()
    cursor = con.execute(sql, _params(sql, compiler))
    names = [d[0] for d in cursor.description]
    out = []
    for values in cursor.fetchall():
        row = {"_row": None}
        for key, value in zip(names, values, strict=True):
            if key == ROW:
                row["_row"] = value
            elif not key.startswith("__sy_"):
                row[key] = value
        out.append(row)
    return tuple(out)


def _json(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)
