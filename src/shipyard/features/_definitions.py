"""Feature definitions in Python: entities, sources, feature views (plain or window aggregations) and
on-demand features.

Definitions are plain objects that users write in a features module of their repository::

    flight = sy.Entity("flight_origin", join_keys=["origin"])
    weather = sy.FeatureView(
        name="origin_weather", entities=[flight],
        source=sy.ParquetSource("data/weather/*.parquet", timestamp="time_hour", created="ingested_at"),
        features={"temp": float, "wind_speed": float}, ttl="6h")

Each turns into a *spec* (plain data) whose SHA-256 is its digest: ``sy.features.apply`` records a
new version only when the digest changes, and ``plan`` diffs specs. Sources become DuckDB SQL
(:meth:`Source.sql`), so training sets and materialization read them out of core.
"""

from __future__ import annotations

import abc
import base64
import datetime as dt
import hashlib
import inspect
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipyard._internal._time import parse_duration
from shipyard.data._source import literal
from shipyard.exceptions import InvalidParameter

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,127}$")
#: Logical feature types (the names ``sy.data`` schemas use) and the Python types that map to them.
TYPES = {float: "float", int: "int", str: "string", bool: "bool", dt.datetime: "timestamp"}
LOGICAL = ("float", "int", "string", "bool", "timestamp")
#: Aggregations whose value over an empty window is 0 (the others are null).
COUNTS = ("count", "count_distinct")
AGGREGATES = {"count": "count({c})", "sum": "sum({c})", "mean": "avg({c})", "min": "min({c})", "max": "max({c})",
              "std": "stddev_samp({c})", "share": "avg(CAST({c} AS DOUBLE))", "count_distinct": "count(DISTINCT {c})"}


def _check_name(what: str, name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidParameter(f"{what} name {name!r} is not valid: use letters, digits, '_' and '-', starting with "
                               "a letter or '_' (at most 128 characters).")
    return name


def _logical(feature: str, kind: object) -> str:
    if isinstance(kind, str) and kind in LOGICAL:
        return kind
    if isinstance(kind, type) and kind in TYPES:
        return TYPES[kind]
    raise InvalidParameter(f"Feature {feature!r} has type {kind!r}: use float, int, str, bool or datetime (or one of "
                           f"{list(LOGICAL)}).")


def _duration_ms(value: str | int | dt.timedelta | None, what: str, *, zero: bool = True) -> int | None:
    """Milliseconds of a duration; negative ones (and 0 unless ``zero``) are refused."""
    if value is None:
        return None
    ms = parse_duration(value, what)
    if ms < 0 or (ms == 0 and not zero):
        raise InvalidParameter(f"The {what} must be {'zero (no limit) or ' if zero else ''}positive, got {value!r}: "
                               "write it as '1d', '6h', '30m', '15s', '500ms' or '1w'.")
    return ms


def digest_of(spec: Mapping[str, Any]) -> str:
    """The SHA-256 of a spec's canonical JSON."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


# -- entities -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entity:
    """A thing features describe, identified by its join keys (columns of the entity rows)."""

    name: str
    join_keys: Sequence[str]
    description: str = ""

    def __post_init__(self) -> None:
        _check_name("An entity", self.name)
        keys = [self.join_keys] if isinstance(self.join_keys, str) else list(self.join_keys)
        if not keys or not all(isinstance(k, str) and k for k in keys):
            raise InvalidParameter(f"Entity {self.name!r} needs join_keys: a list of column names, e.g. ['origin'].")
        object.__setattr__(self, "join_keys", tuple(keys))

    kind = "entity"

    def spec(self) -> dict[str, Any]:
        return {"join_keys": list(self.join_keys), "description": self.description}

    @classmethod
    def from_spec(cls, name: str, spec: Mapping[str, Any]) -> Entity:
        return cls(name, list(spec["join_keys"]), spec.get("description", ""))


# -- sources --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source(abc.ABC):
    """Where a feature view's rows come from. ``timestamp``: the event-time column; ``created``: the
    column that breaks ties between rows with the same event time (the latest created wins)."""

    timestamp: str
    created: str | None = None

    type = "source"

    def spec(self) -> dict[str, Any]:
        return {"type": self.type, "timestamp": self.timestamp, "created": self.created, **self._fields()}

    def _fields(self) -> dict[str, Any]:
        return {}

    @abc.abstractmethod
    def relation(self, con: duckdb.DuckDBPyConnection) -> str:
        """A SQL expression (a parenthesised query or a view name) of the source's rows in ``con``."""

    @staticmethod
    def from_spec(spec: Mapping[str, Any]) -> Source:
        kinds: dict[str, type[Source]] = {"parquet": ParquetSource, "csv": CsvSource, "sql": SqlSource}
        cls = kinds.get(str(spec.get("type")))
        if cls is None:
            raise InvalidParameter(f"Unknown source type {spec.get('type')!r}; known: {sorted(kinds)}.")
        fields = {k: v for k, v in spec.items() if k != "type"}
        return cls(**fields)


def _files(path: str) -> str:
    from pathlib import Path

    if "*" not in path and "?" not in path and not Path(path).exists():
        raise InvalidParameter(f"The source file {path!r} does not exist (relative paths are read from the current "
                               f"directory, {Path.cwd()}).")
    return literal(path)


@dataclass(frozen=True)
class ParquetSource(Source):
    """Parquet files: one path or a glob (``data/weather/*.parquet``), read in place."""

    path: str = ""
    type = "parquet"

    def __init__(self, path: str, *, timestamp: str, created: str | None = None) -> None:
        object.__setattr__(self, "path", str(path))
        object.__setattr__(self, "timestamp", timestamp)
        object.__setattr__(self, "created", created)

    def _fields(self) -> dict[str, Any]:
        return {"path": self.path}

    def relation(self, con: duckdb.DuckDBPyConnection) -> str:
        return f"read_parquet({_files(self.path)}, union_by_name = true)"


@dataclass(frozen=True)
class CsvSource(Source):
    """CSV files (a path or a glob), types inferred by DuckDB."""

    path: str = ""
    delimiter: str = ","
    type = "csv"

    def __init__(self, path: str, *, timestamp: str, created: str | None = None, delimiter: str = ",") -> None:
        object.__setattr__(self, "path", str(path))
        object.__setattr__(self, "timestamp", timestamp)
        object.__setattr__(self, "created", created)
        object.__setattr__(self, "delimiter", delimiter)

    def _fields(self) -> dict[str, Any]:
        return {"path": self.path, "delimiter": self.delimiter}

    def relation(self, con: duckdb.DuckDBPyConnection) -> str:
        return f"read_csv({_files(self.path)}, delim = {literal(self.delimiter)}, header = true)"


@dataclass(frozen=True)
class SqlSource(Source):
    """A SQL query: against a DuckDB database file (``uri="duckdb:///path.duckdb"``, relative to the
    current directory, or ``duckdb:////abs/path.duckdb``; no ``uri`` for DuckDB over the local files the
    query names) or PostgreSQL (``uri="postgresql://..."``; the rows are streamed into DuckDB, which
    spills to disk)."""

    query: str = ""
    uri: str | None = None
    type = "sql"

    def __init__(self, query: str, *, timestamp: str, created: str | None = None, uri: str | None = None) -> None:
        object.__setattr__(self, "query", query)
        object.__setattr__(self, "timestamp", timestamp)
        object.__setattr__(self, "created", created)
        object.__setattr__(self, "uri", uri)

    def _fields(self) -> dict[str, Any]:
        return {"query": self.query, "uri": self.uri}

    def relation(self, con: duckdb.DuckDBPyConnection) -> str:
        uri = self.uri or ""
        if not uri or uri.startswith("duckdb://"):
            # duckdb:///relative.duckdb and duckdb:////absolute.duckdb, as sqlite:/// URIs
            path = uri[len("duckdb:///"):] if uri.startswith("duckdb:///") else uri[len("duckdb://"):]
            if path:
                alias = "src_" + hashlib.sha256(path.encode()).hexdigest()[:10]
                attached = {r[0] for r in con.execute("SELECT database_name FROM duckdb_databases()").fetchall()}
                if alias not in attached:
                    con.execute(f"ATTACH {literal(path)} AS {alias} (READ_ONLY)")
                con.execute(f"USE {alias}")
                try:
                    name = "__sy_sql_" + hashlib.sha256(self.query.encode()).hexdigest()[:12]
                    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {self.query}")
                finally:
                    con.execute("USE memory")
                return name
            return f"({self.query})"
        if uri.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
            return self._from_postgres(con, uri)
        raise InvalidParameter(f"SqlSource uri {uri!r} is not supported: use duckdb:///path.duckdb, postgresql://... "
                               "or no uri (DuckDB over local files).")

    def _from_postgres(self, con: duckdb.DuckDBPyConnection, uri: str) -> str:
        import pandas as pd
        import sqlalchemy as sa

        engine = sa.create_engine(uri.replace("postgresql://", "postgresql+psycopg://", 1)
                                  .replace("postgres://", "postgresql+psycopg://", 1))
        name = "__sy_pg_" + hashlib.sha256((uri + self.query).encode()).hexdigest()[:12]
        try:
            with engine.connect().execution_options(stream_results=True) as conn:
                first = True
                for chunk in pd.read_sql_query(sa.text(self.query), conn, chunksize=100_000):
                    con.register("__sy_chunk", chunk)
                    if first:
                        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM __sy_chunk")
                        first = False
                    else:
                        con.execute(f"INSERT INTO {name} SELECT * FROM __sy_chunk")
                    con.unregister("__sy_chunk")
                if first:
                    raise InvalidParameter(f"The PostgreSQL query of this source returned no chunk: {self.query!r}.")
        except sa.exc.OperationalError as exc:
            from shipyard.exceptions import BackendUnavailable

            raise BackendUnavailable(f"Cannot read the PostgreSQL source {uri}: {exc.orig}") from exc
        finally:
            engine.dispose()
        return name


# -- feature views --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Aggregation:
    """A feature computed over a sliding window of the source's rows: ``function`` of ``column`` over the
    rows of the same entity with an event time in ``(t - window, t]`` for each point in time ``t``.
    Functions: count, sum, mean, min, max, std, share (the mean of a boolean), count_distinct."""

    column: str
    function: str
    window: str | dt.timedelta
    name: str | None = None

    def __post_init__(self) -> None:
        if self.function not in AGGREGATES:
            raise InvalidParameter(f"Aggregation function {self.function!r} is not known; use one of "
                                   f"{sorted(AGGREGATES)}.")
        _duration_ms(self.window, "aggregation window", zero=False)

    @property
    def feature(self) -> str:
        return self.name or f"{self.column}_{self.function}_{_window_label(self.window)}"

    @property
    def window_ms(self) -> int:
        return parse_duration(self.window, "aggregation window")

    def spec(self) -> dict[str, Any]:
        return {"column": self.column, "function": self.function, "window_ms": self.window_ms, "name": self.feature}


def _window_label(window: str | dt.timedelta) -> str:
    return window if isinstance(window, str) else f"{int(window.total_seconds())}s"


@dataclass(frozen=True)
class FeatureView:
    """Features of one or more entities, read from a source at points in time.

    Plain views hold the latest value of each feature (``features``: name → type), too old after
    ``ttl``; aggregation views (``aggregations``) hold window aggregates of the source's rows."""

    name: str
    entities: Sequence[Entity]
    source: Source
    features: Mapping[str, Any] = field(default_factory=dict)
    ttl: str | int | dt.timedelta | None = None
    aggregations: Sequence[Aggregation] = ()
    description: str = ""
    online: bool = True
    tags: Mapping[str, str] = field(default_factory=dict)

    kind = "feature_view"

    def __post_init__(self) -> None:
        _check_name("A feature view", self.name)
        if not self.entities or not all(isinstance(e, Entity) for e in self.entities):
            raise InvalidParameter(f"Feature view {self.name!r} needs entities=[sy.Entity(...), ...].")
        if not isinstance(self.source, Source):
            raise InvalidParameter(f"Feature view {self.name!r}: source must be a ParquetSource, CsvSource or "
                                   f"SqlSource, got {type(self.source).__name__}.")
        if bool(self.features) == bool(self.aggregations):
            raise InvalidParameter(f"Feature view {self.name!r} needs either features={{name: type}} (latest values) "
                                   "or aggregations=[sy.Aggregation(...)] (window aggregates), not both or neither.")
        for name, kind in self.features.items():
            _check_name("A feature", name)
            _logical(name, kind)
        names = [a.feature for a in self.aggregations]
        if len(set(names)) != len(names):
            raise InvalidParameter(f"Feature view {self.name!r} has two aggregations named alike: {names}.")
        keys = self.join_keys
        if len(set(keys)) != len(keys):
            raise InvalidParameter(f"The entities of {self.name!r} share join keys: {keys}.")
        _duration_ms(self.ttl, f"ttl of {self.name!r}")

    @property
    def join_keys(self) -> list[str]:
        return [k for e in self.entities for k in e.join_keys]

    @property
    def ttl_ms(self) -> int | None:
        return _duration_ms(self.ttl, f"ttl of {self.name!r}")

    @property
    def feature_types(self) -> dict[str, str]:
        if self.aggregations:
            return {a.feature: ("int" if a.function in COUNTS else "float")
                    for a in self.aggregations}
        return {name: _logical(name, kind) for name, kind in self.features.items()}

    def spec(self) -> dict[str, Any]:
        return {
            "entities": [e.name for e in self.entities], "entity_keys": [list(e.join_keys) for e in self.entities],
            "join_keys": self.join_keys, "source": self.source.spec(),
            "features": self.feature_types, "ttl_ms": self.ttl_ms,
            "aggregations": [a.spec() for a in self.aggregations], "description": self.description,
            "online": self.online, "tags": dict(self.tags),
        }

    @classmethod
    def from_spec(cls, name: str, spec: Mapping[str, Any]) -> FeatureView:
        entities = [Entity(e, keys) for e, keys in zip(spec["entities"], spec["entity_keys"], strict=True)]
        aggs = [Aggregation(a["column"], a["function"], dt.timedelta(milliseconds=a["window_ms"]), a["name"])
                for a in spec.get("aggregations") or []]
        ttl = spec.get("ttl_ms")
        return cls(name, entities, Source.from_spec(spec["source"]),
                   features={} if aggs else dict(spec["features"]),
                   ttl=dt.timedelta(milliseconds=ttl) if ttl is not None else None, aggregations=aggs,
                   description=spec.get("description", ""), online=bool(spec.get("online", True)),
                   tags=dict(spec.get("tags") or {}))


# -- on-demand features ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OnDemandFeatureView:
    """Features computed from request data and other features by a vectorised function, the same
    offline (on a training set) and online (per request): ``function(df) -> DataFrame`` receives the
    input columns (feature names as in ``inputs``, request fields by name) and returns ``features``."""

    name: str
    function: Callable[[pd.DataFrame], pd.DataFrame]
    inputs: Sequence[str] = ()
    request: Sequence[str] = ()
    features: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    #: The function's source as recorded (a stored view's unpickled function has no source file).
    code: str | None = field(default=None, compare=False, repr=False)

    kind = "feature_view"

    def __post_init__(self) -> None:
        _check_name("An on-demand feature view", self.name)
        if not callable(self.function):
            raise InvalidParameter(f"On-demand view {self.name!r} needs a function(df) -> DataFrame.")
        if not self.features:
            raise InvalidParameter(f"On-demand view {self.name!r} needs features={{name: type}} it returns.")
        for ref in self.inputs:
            view, _, feature = str(ref).partition(":")
            if not view or not feature:
                raise InvalidParameter(f"On-demand view {self.name!r}: input {ref!r} is not 'view:feature'.")
        for name, kind in self.features.items():
            _check_name("A feature", name)
            _logical(name, kind)

    @property
    def feature_types(self) -> dict[str, str]:
        return {name: _logical(name, kind) for name, kind in self.features.items()}

    def spec(self) -> dict[str, Any]:
        code = self.code
        if code is None:
            try:
                code = inspect.getsource(self.function)
            except (OSError, TypeError):
                code = getattr(self.function, "__qualname__", repr(self.function))
        return {"on_demand": True, "inputs": list(self.inputs), "request": list(self.request),
                "features": self.feature_types, "code": code, "description": self.description}

    def record(self) -> dict[str, Any]:
        """The spec plus the function itself (cloudpickled by value), as stored; the digest covers the
        spec only, so an unchanged function's new pickle adds no version."""
        import sys

        import cloudpickle

        module = sys.modules.get(getattr(self.function, "__module__", ""))
        by_value = module is not None and not module.__name__.startswith("shipyard.") and \
            "site-packages" not in (getattr(module, "__file__", None) or "")
        if by_value:
            cloudpickle.register_pickle_by_value(module)
        try:
            blob = cloudpickle.dumps(self.function)
        finally:
            if by_value:
                cloudpickle.unregister_pickle_by_value(module)
        return {**self.spec(), "pickle": base64.b64encode(blob).decode()}

    @classmethod
    def from_spec(cls, name: str, spec: Mapping[str, Any]) -> OnDemandFeatureView:
        import pickle

        if "pickle" not in spec:
            raise InvalidParameter(f"On-demand view {name!r} was recorded without its function; apply it again.")
        function = pickle.loads(base64.b64decode(spec["pickle"]))  # noqa: S301 - written by an editor's apply
        return cls(name, function, list(spec["inputs"]), list(spec.get("request") or []), dict(spec["features"]),
                   spec.get("description", ""), spec.get("code"))

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Run the function on ``frame`` and check what it returns."""
        import pandas as pd

        try:
            out = self.function(frame)
        except Exception as exc:
            raise InvalidParameter(f"On-demand view {self.name!r} failed: {type(exc).__name__}: {exc}") from exc
        if not isinstance(out, pd.DataFrame):
            raise InvalidParameter(f"On-demand view {self.name!r} returned {type(out).__name__}; return a DataFrame "
                                   f"with columns {list(self.features)}.")
        missing = [f for f in self.features if f not in out.columns]
        if missing or len(out) != len(frame):
            raise InvalidParameter(f"On-demand view {self.name!r} must return {len(frame)} rows with columns "
                                   f"{list(self.features)}; got {len(out)} rows, missing {missing}.")
        return out[list(self.features)].set_axis(frame.index)


def on_demand(*, inputs: Sequence[str] = (), request: Sequence[str] = (), features: Mapping[str, Any],
              name: str | None = None, description: str = "") -> Callable[[Callable[..., Any]], OnDemandFeatureView]:
    """Decorator: turn ``function(df) -> DataFrame`` into an :class:`OnDemandFeatureView`."""

    def wrap(function: Callable[..., Any]) -> OnDemandFeatureView:
        return OnDemandFeatureView(name or function.__name__, function, list(inputs), list(request), dict(features),
                                   description or (function.__doc__ or "").strip())

    return wrap


Definition = Entity | FeatureView | OnDemandFeatureView


def definition_from_record(kind: str, name: str, spec: Mapping[str, Any]) -> Definition:
    """The Python object of a stored definition."""
    if kind == "entity":
        return Entity.from_spec(name, spec)
    if spec.get("on_demand"):
        return OnDemandFeatureView.from_spec(name, spec)
    return FeatureView.from_spec(name, spec)


def record_of(definition: Definition) -> dict[str, Any]:
    """``{"kind", "name", "digest", "spec"}`` as the store records it."""
    spec = definition.spec()
    stored = definition.record() if isinstance(definition, OnDemandFeatureView) else spec
    return {"kind": definition.kind, "name": definition.name, "digest": digest_of(spec), "spec": stored}
