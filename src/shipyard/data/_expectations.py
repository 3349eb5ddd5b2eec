"""Expectations: small frozen dataclasses, each compiled to a piece of one DuckDB query.

A row-level expectation gives a SQL predicate that is TRUE for a failing row; the validator counts
all of them in one aggregate query (``count(*) FILTER (WHERE ...)``) and fetches a few failing rows
for each one that failed. Table-level expectations (row count, uniqueness, freshness) give an
aggregate expression instead. A NULL is never a failure except for ``not_null``: every other check
looks only at the values that are there (as SQL ``CHECK`` constraints do).

::

    from shipyard.data import between, compare, freshness, not_null, sql, unique

    checks = [not_null("dep_time"), between("dep_delay", -60, 1500), unique("carrier", "flight", "time_hour"),
              compare("arr_time", ">", "dep_time"), freshness("time_hour", "2d"),
              sql("distance BETWEEN 10 AND 5000", name="plausible distance")]
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from shipyard.data._source import ROW, VIEW, logical_type, quote
from shipyard.exceptions import InvalidParameter

SEVERITIES = ("error", "warning")
_OPS = ("<", "<=", ">", ">=", "=", "!=")


class Compiler:
    """What expectations need to write SQL: the column types and the bound parameters."""

    def __init__(self, types: dict[str, str]) -> None:
        self.types = types
        self.params: dict[str, Any] = {}

    def col(self, name: str) -> str:
        return quote(name)

    def text(self, name: str) -> str:
        """The column as something comparable with Python strings (an ENUM is cast to VARCHAR)."""
        t = self.types.get(name, "")
        return f"CAST({quote(name)} AS VARCHAR)" if t.upper().startswith("ENUM") or logical_type(t) != "string" else quote(name)

    def param(self, value: Any, column: str | None = None) -> str:
        """Bind ``value`` (an ISO string is parsed when ``column`` holds timestamps or dates)."""
        if column is not None and isinstance(value, str):
            value = _temporal(value, logical_type(self.types.get(column, "")))
        key = f"p{len(self.params)}"
        self.params[key] = value
        return f"${key}"


def _temporal(value: str, kind: str) -> Any:
    try:
        if kind == "timestamp":
            return dt.datetime.fromisoformat(value)
        if kind == "date":
            return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidParameter(f"{value!r} is not an ISO-8601 {kind}.", hint="Write it as 2013-01-31 or "
                               "2013-01-31T06:00:00.") from exc
    return value


@dataclass(frozen=True)
class Expectation:
    """Base of every check. ``name`` overrides the generated one; a failed ``severity="warning"``
    check is reported without failing the validation."""

    kind: ClassVar[str] = ""
    name: str | None = field(default=None, kw_only=True)
    severity: str = field(default="error", kw_only=True)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise InvalidParameter(f"severity {self.severity!r} is not one of {', '.join(SEVERITIES)}.")

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns the check reads (all must exist in the data)."""
        column = getattr(self, "column", None)
        return (column,) if isinstance(column, str) else ()

    @property
    def title(self) -> str:
        return self.name or self.describe()

    def describe(self) -> str:
        return f"{self.kind}({', '.join(self.columns)})"

    # -- compilation ----------------------------------------------------------------------------
    def static(self, types: dict[str, str]) -> tuple[bool, str] | None:
        """(passed, message) for a check decided by the column types alone, else None."""
        return None

    def predicate(self, c: Compiler) -> str | None:
        """SQL that is TRUE for a failing row, or None for a table-level check."""
        return None

    def aggregate(self, c: Compiler) -> str:
        """One SQL value computed over the whole view: by default the number of failing rows."""
        return f"count(*) FILTER (WHERE {self.predicate(c)})"

    def sample(self, c: Compiler, limit: int) -> str | None:
        """A query for a few failing rows, or None."""
        pred = self.predicate(c)
        return None if pred is None else f"SELECT * FROM {VIEW} WHERE {pred} ORDER BY {ROW} LIMIT {limit}"

    def judge(self, value: Any, rows: int, now: dt.datetime) -> tuple[bool, int | None, str]:
        """(passed, failing rows or None for a table-level check, message) from the aggregate."""
        failing = int(value or 0)
        if failing == 0:
            return True, 0, "ok"
        return False, failing, f"{failing:,} of {rows:,} rows {self.failure()}"

    def failure(self) -> str:
        return "fail"

    # -- serialisation --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for f in sorted(fields(self), key=lambda f: f.name in ("name", "severity")):  # the check's own fields first
            value = getattr(self, f.name)
            if f.default is not value and value != f.default:
                out[f.name] = _plain(value)
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dt.timedelta):
        return format_duration(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class NotNull(Expectation):
    """Every row has a value (NaN counts as missing)."""

    kind: ClassVar[str] = "not_null"
    column: str

    def predicate(self, c: Compiler) -> str:
        return f"{c.col(self.column)} IS NULL"

    def failure(self) -> str:
        return "are null"


@dataclass(frozen=True)
class Between(Expectation):
    """Values lie in ``[min, max]`` (either bound may be left out)."""

    kind: ClassVar[str] = "between"
    column: str
    min: Any = None
    max: Any = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.min is None and self.max is None:
            raise InvalidParameter(f"between({self.column!r}) needs min, max or both.")

    def describe(self) -> str:
        return f"between({self.column}, {_show(self.min)}, {_show(self.max)})"

    def predicate(self, c: Compiler) -> str:
        col = c.col(self.column)
        parts = []
        if self.min is not None:
            parts.append(f"{col} < {c.param(self.min, self.column)}")
        if self.max is not None:
            parts.append(f"{col} > {c.param(self.max, self.column)}")
        return f"({' OR '.join(parts)})"

    def failure(self) -> str:
        return f"are outside [{_show(self.min)}, {_show(self.max)}]"


@dataclass(frozen=True)
class InSet(Expectation):
    """Values are among ``values``."""

    kind: ClassVar[str] = "in_set"
    column: str
    values: tuple[Any, ...]

    def describe(self) -> str:
        shown = ", ".join(map(repr, self.values[:4])) + (", …" if len(self.values) > 4 else "")
        return f"in_set({self.column}, [{shown}])"

    def predicate(self, c: Compiler) -> str:
        if not self.values:
            return f"{c.col(self.column)} IS NOT NULL"
        text = all(isinstance(v, str) for v in self.values)
        col = c.text(self.column) if text else c.col(self.column)
        return f"{col} NOT IN ({', '.join(c.param(v, self.column) for v in self.values)})"

    def failure(self) -> str:
        return f"have a value outside the {len(self.values)} allowed"


@dataclass(frozen=True)
class Regex(Expectation):
    """Values (as text) match ``pattern`` in full, or anywhere with ``full=False`` (RE2 syntax)."""

    kind: ClassVar[str] = "regex"
    column: str
    pattern: str
    full: bool = True

    def describe(self) -> str:
        return f"regex({self.column}, /{self.pattern}/)"

    def predicate(self, c: Compiler) -> str:
        fn = "regexp_full_match" if self.full else "regexp_matches"
        return f"NOT {fn}({c.text(self.column)}, {c.param(self.pattern)})"

    def failure(self) -> str:
        return f"do not match /{self.pattern}/"


@dataclass(frozen=True)
class Monotonic(Expectation):
    """Values never go down (or up, with ``decreasing=True``) from one row to the next, in row order;
    ``strict=True`` also forbids repeats. Missing values are skipped."""

    kind: ClassVar[str] = "monotonic"
    column: str
    decreasing: bool = False
    strict: bool = False

    def describe(self) -> str:
        way = "decreasing" if self.decreasing else "increasing"
        return f"monotonic({self.column}, {'strictly ' if self.strict else ''}{way})"

    def _steps(self, c: Compiler) -> str:
        """Each present value with the present value before it, in row order (two columns, not the
        whole table, go through the window)."""
        col = c.col(self.column)
        op = (">=" if self.strict else ">") if not self.decreasing else ("<=" if self.strict else "<")
        return (f"SELECT {ROW} FROM (SELECT {ROW}, {col} AS v, lag({col}) OVER (ORDER BY {ROW}) AS prev "
                f"FROM {VIEW} WHERE {col} IS NOT NULL) WHERE prev {op} v")

    def aggregate(self, c: Compiler) -> str:
        return f"(SELECT count(*) FROM ({self._steps(c)}))"

    def sample(self, c: Compiler, limit: int) -> str:
        return (f"SELECT {VIEW}.* FROM {VIEW} JOIN ({self._steps(c)} ORDER BY {ROW} LIMIT {limit}) AS f "
                f"USING ({ROW}) ORDER BY {ROW}")

    def failure(self) -> str:
        word = "above" if self.decreasing else "below"
        return f"are {word} {'or equal to ' if self.strict else ''}the value before them"


@dataclass(frozen=True)
class Compare(Expectation):
    """A comparison between two columns holds on every row where both have values: ``compare("arr", ">", "dep")``."""

    kind: ClassVar[str] = "compare"
    left: str
    op: str
    right: str

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.op not in _OPS:
            raise InvalidParameter(f"compare({self.left!r}, {self.op!r}, {self.right!r}): the operator must be one of "
                                   f"{' '.join(_OPS)}.")

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.left, self.right)

    def describe(self) -> str:
        return f"{self.left} {self.op} {self.right}"

    def predicate(self, c: Compiler) -> str:
        return f"NOT ({c.col(self.left)} {self.op} {c.col(self.right)})"

    def failure(self) -> str:
        return f"break {self.describe()}"


@dataclass(frozen=True)
class Sql(Expectation):
    """A DuckDB boolean expression every row satisfies (a row where it is NULL passes, as in SQL ``CHECK``).
    The expression sees the data's columns by name."""

    kind: ClassVar[str] = "sql"
    expr: str

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.expr.strip():
            raise InvalidParameter("sql(...) needs a boolean SQL expression, e.g. sql(\"arr_time > dep_time\").")

    def describe(self) -> str:
        return f"sql({self.expr})"

    def predicate(self, c: Compiler) -> str:
        return f"NOT ({self.expr})"

    def failure(self) -> str:
        return f"break {self.expr}"


@dataclass(frozen=True)
class Unique(Expectation):
    """No two rows share a value (of all ``columns`` together); rows with a missing key are skipped.
    The failing count is every row whose key appears more than once."""

    kind: ClassVar[str] = "unique"
    keys: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return self.keys

    def _dupes(self, c: Compiler) -> str:
        cols = ", ".join(c.col(k) for k in self.keys)
        present = " AND ".join(f"{c.col(k)} IS NOT NULL" for k in self.keys)
        return f"SELECT {cols}, count(*) AS __sy_n FROM {VIEW} WHERE {present} GROUP BY {cols} HAVING count(*) > 1"

    def aggregate(self, c: Compiler) -> str:
        return f"(SELECT coalesce(sum(__sy_n), 0) FROM ({self._dupes(c)}))"

    def sample(self, c: Compiler, limit: int) -> str:
        using = ", ".join(c.col(k) for k in self.keys)
        return (f"SELECT {VIEW}.* FROM {VIEW} JOIN ({self._dupes(c)}) AS d USING ({using}) "
                f"ORDER BY {using}, {ROW} LIMIT {limit}")

    def failure(self) -> str:
        return f"share their {', '.join(self.keys)} with another row"


@dataclass(frozen=True)
class RowCount(Expectation):
    """The number of rows lies in ``[min, max]``."""

    kind: ClassVar[str] = "row_count"
    min: int | None = None
    max: int | None = None

    def describe(self) -> str:
        return f"row_count({_show(self.min)}, {_show(self.max)})"

    def aggregate(self, c: Compiler) -> str:
        return "count(*)"

    def judge(self, value: Any, rows: int, now: dt.datetime) -> tuple[bool, int | None, str]:
        low = self.min is not None and rows < self.min
        high = self.max is not None and rows > self.max
        if not (low or high):
            return True, None, f"{rows:,} rows"
        return False, None, f"{rows:,} rows, expected {_band(self.min, self.max)}"


@dataclass(frozen=True)
class Freshness(Expectation):
    """The latest value of a timestamp or date column is at most ``max_age`` old (naive timestamps are UTC)."""

    kind: ClassVar[str] = "freshness"
    column: str
    max_age: dt.timedelta

    def describe(self) -> str:
        return f"freshness({self.column}, {format_duration(self.max_age)})"

    def aggregate(self, c: Compiler) -> str:
        return f"max({c.col(self.column)})"

    def judge(self, value: Any, rows: int, now: dt.datetime) -> tuple[bool, int | None, str]:
        if value is None:
            return False, None, "no values, so no latest one"
        if isinstance(value, dt.datetime):
            latest = value.astimezone(dt.timezone.utc) if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        elif isinstance(value, dt.date):
            latest = dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc)
        else:
            return False, None, f"latest value {value!r} is not a timestamp or a date"
        age = now - latest
        shown = f"latest {latest.isoformat()} is {_age(age)} old"
        return age <= self.max_age, None, shown if age > self.max_age else f"{shown} (limit {format_duration(self.max_age)})"


def _show(value: Any) -> str:
    if value is None:
        return "…"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def _age(age: dt.timedelta) -> str:
    seconds = max(age.total_seconds(), 0.0)
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} seconds"


def _band(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"{low:,}–{high:,}"
    return f"at least {low:,}" if low is not None else f"at most {high:,}"


_UNITS = (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_duration(value: Any) -> dt.timedelta:
    """``"90s"``, ``"15m"``, ``"36h"``, ``"2d"``, ``"1w"``, a number of seconds, or a timedelta."""
    if isinstance(value, dt.timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return dt.timedelta(seconds=value)
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidParameter(f"{value!r} is not a duration.", hint='Write a number and a unit: "90s", "15m", '
                               '"36h", "2d" or "1w" (or a number of seconds).')
    unit = dict(_UNITS)[match.group(2) or "s"]
    return dt.timedelta(seconds=float(match.group(1)) * unit)


def format_duration(value: dt.timedelta) -> str:
    seconds = value.total_seconds()
    for unit, size in _UNITS:
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


# -- the fluent constructors ----------------------------------------------------------------------
def not_null(column: str, *, name: str | None = None, severity: str = "error") -> NotNull:
    return NotNull(column, name=name, severity=severity)


def between(column: str, min: Any = None, max: Any = None, *, name: str | None = None,  # noqa: A002
            severity: str = "error") -> Between:
    return Between(column, min, max, name=name, severity=severity)


def in_set(column: str, values: Any, *, name: str | None = None, severity: str = "error") -> InSet:
    return InSet(column, tuple(values), name=name, severity=severity)


def regex(column: str, pattern: str, *, full: bool = True, name: str | None = None, severity: str = "error") -> Regex:
    return Regex(column, pattern, full, name=name, severity=severity)


def monotonic(column: str, *, decreasing: bool = False, strict: bool = False, name: str | None = None,
              severity: str = "error") -> Monotonic:
    return Monotonic(column, decreasing, strict, name=name, severity=severity)


def compare(left: str, op: str, right: str, *, name: str | None = None, severity: str = "error") -> Compare:
    return Compare(left, op, right, name=name, severity=severity)


def sql(expr: str, *, name: str | None = None, severity: str = "error") -> Sql:
    return Sql(expr, name=name, severity=severity)


def unique(*columns: str, name: str | None = None, severity: str = "error") -> Unique:
    if not columns:
        raise InvalidParameter("unique() needs at least one column, e.g. unique(\"flight_id\").")
    return Unique(tuple(columns), name=name, severity=severity)


def row_count(min: int | None = None, max: int | None = None, *, name: str | None = None,  # noqa: A002
              severity: str = "error") -> RowCount:
    return RowCount(min, max, name=name, severity=severity)


def freshness(column: str, max_age: Any, *, name: str | None = None, severity: str = "error") -> Freshness:
    return Freshness(column, parse_duration(max_age), name=name, severity=severity)


KINDS: dict[str, type[Expectation]] = {cls.kind: cls for cls in (
    NotNull, Between, InSet, Regex, Monotonic, Compare, Sql, Unique, RowCount, Freshness)}

__all__ = ["KINDS", "Compiler", "Expectation"]
