"""``Schema``: the columns a dataset must have (type, nullability, range, categories, uniqueness), a
row-count band and further checks; editable in Python, stored as YAML, identified by a fingerprint.

::

    schema = sy.data.infer_schema(flights)
    schema["dep_delay"].max = 1500                       # edit what inference learned
    schema.expect(compare("arr_time", ">", "dep_time"))  # add checks
    schema.save("flights.schema.yaml")
    schema = Schema.load("flights.schema.yaml")

The YAML form is ``to_dict()``; ``fingerprint`` is the sha256 of its canonical JSON without ``name``
and ``version``, so two schemas with the same contract have the same fingerprint whatever they are
called, and a stored schema record can be keyed by it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NoReturn

from shipyard.data._expectations import (
    KINDS,
    Between,
    Expectation,
    InSet,
    NotNull,
    RowCount,
    Unique,
    parse_duration,
)
from shipyard.data._source import LOGICAL_TYPES, compatible, logical_type
from shipyard.exceptions import InvalidParameter, NotFound

FORMAT = 1
_FIX = "Fix the file, or write a new one with `shipyard data infer DATA --output schema.yaml`."
_COLUMN_KEYS = ("type", "nullable", "min", "max", "categories", "unique")
_ALIASES = {"integer": "int", "double": "float", "boolean": "bool", "varchar": "string", "str": "string",
            "datetime": "timestamp"}
_TOP_KEYS = ("shipyard_schema", "name", "version", "rows", "allow_extra_columns", "columns", "checks")


@dataclass(frozen=True)
class HasType(Expectation):
    """The column exists and its type is compatible with the schema's (decided from the types alone)."""

    kind: ClassVar[str] = "type"
    column: str
    type: str

    def describe(self) -> str:
        return f"type({self.column}, {self.type})"

    def static(self, types: dict[str, str]) -> tuple[bool, str]:
        actual = logical_type(types[self.column])
        if compatible(self.type, actual):
            return True, actual
        return False, f"is {actual} ({types[self.column]}), expected {self.type}"


@dataclass(frozen=True)
class NoExtraColumns(Expectation):
    """The data has no column the schema does not list (added when ``allow_extra_columns`` is False)."""

    kind: ClassVar[str] = "columns"
    allowed: tuple[str, ...]

    def describe(self) -> str:
        return "no extra columns"

    def static(self, types: dict[str, str]) -> tuple[bool, str]:
        extra = [c for c in types if c not in self.allowed]
        return (not extra, f"unexpected column(s): {', '.join(extra)}" if extra else "ok")


@dataclass
class Column:
    """What one column must look like. Every field is optional except ``type`` (see ``LOGICAL_TYPES``)."""

    type: str
    nullable: bool = True
    min: Any = None
    max: Any = None
    categories: list[Any] | None = None
    unique: bool = False

    def expectations(self, name: str) -> list[Expectation]:
        out: list[Expectation] = [HasType(name, self.type)]
        if not self.nullable:
            out.append(NotNull(name))
        if self.min is not None or self.max is not None:
            out.append(Between(name, self.min, self.max))
        if self.categories is not None:
            out.append(InSet(name, tuple(self.categories)))
        if self.unique:
            out.append(Unique((name,)))
        return out

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "nullable": self.nullable}
        for key in ("min", "max", "categories"):
            if getattr(self, key) is not None:
                out[key] = _plain(getattr(self, key))
        if self.unique:
            out["unique"] = True
        return out


@dataclass
class Schema:
    """A data contract: columns, a row-count band, extra checks. Mutable on purpose (edit it, then
    save it); ``validate`` reads it once, so changing it afterwards does not change a report."""

    columns: dict[str, Column] = field(default_factory=dict)
    checks: list[Expectation] = field(default_factory=list)
    min_rows: int | None = None
    max_rows: int | None = None
    allow_extra_columns: bool = True
    name: str | None = None
    version: int = 1

    def __getitem__(self, column: str) -> Column:
        try:
            return self.columns[column]
        except KeyError:
            raise NotFound(f"The schema has no column {column!r}; it has: {', '.join(self.columns) or 'none'}.",
                           hint="Add it with schema.columns[name] = Column(type=...).") from None

    def expect(self, *checks: Expectation) -> Schema:
        """Add checks; returns the schema so calls chain."""
        for check in checks:
            if not isinstance(check, Expectation):
                raise InvalidParameter(f"expect() takes checks such as not_null('x'), got {check!r}.")
        self.checks.extend(checks)
        return self

    def expectations(self) -> list[Expectation]:
        """Every check the schema implies, in order: per column, the row count, then ``checks``."""
        out: list[Expectation] = []
        for name, column in self.columns.items():
            out += column.expectations(name)
        if not self.allow_extra_columns:
            out.append(NoExtraColumns(tuple(self.columns)))
        if self.min_rows is not None or self.max_rows is not None:
            out.append(RowCount(self.min_rows, self.max_rows))
        return out + list(self.checks)

    @property
    def fingerprint(self) -> str:
        """``sha256:<hex>`` of the contract's canonical JSON (name and version left out)."""
        body = {k: v for k, v in self.to_dict().items() if k not in ("name", "version")}
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    # -- dict / YAML ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"shipyard_schema": FORMAT}
        if self.name is not None:
            out["name"] = self.name
        out["version"] = self.version
        if self.min_rows is not None or self.max_rows is not None:
            out["rows"] = {k: v for k, v in (("min", self.min_rows), ("max", self.max_rows)) if v is not None}
        out["allow_extra_columns"] = self.allow_extra_columns
        out["columns"] = {name: column.to_dict() for name, column in self.columns.items()}
        out["checks"] = [check.to_dict() for check in self.checks]
        return out

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "schema") -> Schema:
        """Build a schema from ``to_dict()``'s shape. Errors name the file (``source``) and the key.

        Raises:
            InvalidParameter: anything that is not a valid schema, with where and how to fix it.
        """
        return _Reader(source).schema(data)

    def to_yaml(self) -> str:
        import yaml

        head = f"# Shipyard data contract; fingerprint {self.fingerprint}\n"
        return head + str(yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, default_flow_style=None,
                                         width=110))

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "<string>") -> Schema:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise InvalidParameter(f"{source}: not valid YAML{where}: {problem}. {_FIX}", hint=_FIX) from None
        return cls.from_dict(data, source=source)

    def save(self, path: str | Path) -> Path:
        target = Path(path)
        target.write_text(self.to_yaml(), encoding="utf-8")
        return target

    @classmethod
    def load(cls, path: str | Path) -> Schema:
        """Read a schema YAML file.

        Raises:
            NotFound: no such file.
            InvalidParameter: the file is not a valid schema (the message says where and why).
        """
        file = Path(path)
        if not file.is_file():
            raise NotFound(f"Schema file {str(file)!r} does not exist (looked in {Path.cwd()}).",
                           hint="Write one with `shipyard data infer DATA --output schema.yaml`.")
        return cls.from_yaml(file.read_text(encoding="utf-8"), source=str(file))


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value.isoformat() if hasattr(value, "isoformat") else value


class _Reader:
    """Turns a parsed document into a Schema, or says exactly which key is wrong."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> NoReturn:
        raise InvalidParameter(f"{self.source}: {where}: {problem}. {_FIX}", hint=_FIX)

    def mapping(self, value: Any, where: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(where, f"expected a mapping, got {type(value).__name__} {value!r}")
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.fail(f"{where}.{key}" if where != "top level" else str(key),
                          f"unknown key{hint}; allowed: {', '.join(allowed)}")
        return value

    def typed(self, value: Any, where: str, kind: type | tuple[type, ...], what: str) -> Any:
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,))):
            self.fail(where, f"expected {what}, got {value!r}")
        return value

    def schema(self, data: Any) -> Schema:
        doc = self.mapping(data, "top level", _TOP_KEYS)
        fmt = doc.get("shipyard_schema", FORMAT)
        if fmt != FORMAT:
            self.fail("shipyard_schema", f"format {fmt!r} is not supported by this Shipyard (it reads {FORMAT})")
        rows = self.mapping(doc.get("rows") or {}, "rows", ("min", "max"))
        for key in ("min", "max"):
            if rows.get(key) is not None:
                self.typed(rows[key], f"rows.{key}", int, "a whole number of rows")
        columns = self.mapping(doc.get("columns") or {}, "columns", tuple(map(str, doc.get("columns") or {})))
        checks = doc.get("checks") or []
        if not isinstance(checks, list):
            self.fail("checks", f"expected a list of checks, got {checks!r}")
        name = doc.get("name")
        return Schema(
            columns={str(n): self.column(spec, f"columns.{n}") for n, spec in columns.items()},
            checks=[self.check(c, f"checks[{i}]") for i, c in enumerate(checks)],
            min_rows=rows.get("min"), max_rows=rows.get("max"),
            allow_extra_columns=self.typed(doc.get("allow_extra_columns", True), "allow_extra_columns", bool, "true or false"),
            name=None if name is None else str(name),
            version=self.typed(doc.get("version", 1), "version", int, "a whole number"),
        )

    def column(self, spec: Any, where: str) -> Column:
        spec = self.mapping(spec, where, _COLUMN_KEYS)
        if "type" not in spec:
            self.fail(where, f"no type; add `type:` with one of {', '.join(LOGICAL_TYPES)}")
        kind = self.typed(spec["type"], f"{where}.type", str, "a type name")
        if kind not in LOGICAL_TYPES:
            close = difflib.get_close_matches(kind, LOGICAL_TYPES, n=1, cutoff=0.75)
            suggestion = _ALIASES.get(kind.lower()) or (close[0] if close else None)
            if suggestion:
                self.fail(f"{where}.type", f"{kind!r} is not a type (did you mean {suggestion!r}?); types: "
                          f"{', '.join(LOGICAL_TYPES)}")
        categories = spec.get("categories")
        if categories is not None:
            self.typed(categories, f"{where}.categories", list, "a list of allowed values")
        for key in ("min", "max"):
            if spec.get(key) is not None:
                self.typed(spec[key], f"{where}.{key}", (int, float, str, dt.date), "a number or an ISO date")
        return Column(type=kind, nullable=self.typed(spec.get("nullable", True), f"{where}.nullable", bool, "true or false"),
                      min=spec.get("min"), max=spec.get("max"), categories=categories,
                      unique=self.typed(spec.get("unique", False), f"{where}.unique", bool, "true or false"))

    def check(self, spec: Any, where: str) -> Expectation:
        if not isinstance(spec, dict) or "kind" not in spec:
            self.fail(where, f"expected a mapping with a `kind` ({', '.join(KINDS)}), got {spec!r}")
        cls = KINDS.get(spec["kind"])
        if cls is None:
            close = difflib.get_close_matches(str(spec["kind"]), KINDS, n=1)
            self.fail(f"{where}.kind", f"{spec['kind']!r} is not a check kind"
                      f"{f' (did you mean {close[0]!r}?)' if close else ''}; kinds: {', '.join(KINDS)}")
        known = {f.name: f for f in dataclasses.fields(cls)}
        self.mapping(spec, where, ("kind", *known))
        missing = [n for n, f in known.items() if f.default is dataclasses.MISSING and n not in spec]
        if missing:
            self.fail(where, f"a {cls.kind} check needs {', '.join(missing)}")
        kwargs: dict[str, Any] = {}
        for key, value in spec.items():
            if key == "kind":
                continue
            annotation = str(known[key].type)
            if annotation.startswith("tuple"):
                value = tuple(self.typed(value, f"{where}.{key}", list, "a list"))
            elif "timedelta" in annotation:
                try:
                    value = parse_duration(value)
                except InvalidParameter as exc:
                    self.fail(f"{where}.{key}", str(exc).rstrip("."))
            elif annotation in ("str", "str | None") and value is not None:
                self.typed(value, f"{where}.{key}", str, "text")
            elif annotation == "bool":
                self.typed(value, f"{where}.{key}", bool, "true or false")
            kwargs[key] = value
        try:
            return cls(**kwargs)
        except InvalidParameter as exc:
            self.fail(where, str(exc).rstrip("."))
