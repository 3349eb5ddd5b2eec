"""Materialization into the online store, and online reads.

``materialize(end=...)`` writes, for every online view, each entity's latest row with an event time
in ``(start, end]`` (aggregation views: each entity's window aggregates as of ``end``) to the online
store; ``materialize_incremental(end=...)`` starts each view from its watermark. Work is chunked by
time (the watermark moves after each chunk, so an interrupted run resumes where it stopped) and
streamed by entity in record batches, so memory stays bounded; the online store's newer-wins writes
make any rerun give the same state. A view whose definition changed (new version) is rebuilt.

``online(features, entity_rows)`` reads the values back with their event times and a status per
value (Feast's: ``PRESENT``, ``NULL_VALUE``, ``NOT_FOUND``, ``OUTSIDE_MAX_AGE``). On-demand views are
computed on the values read, as offline.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import TYPE_CHECKING, Any

from shipyard._internal._time import now_ms, parse_when
from shipyard.config import get_settings
from shipyard.data._source import quote
from shipyard.entities import Materialization
from shipyard.exceptions import InvalidParameter
from shipyard.features._definitions import AGGREGATES, COUNTS, FeatureView, OnDemandFeatureView
from shipyard.features._offline import MEMORY_LIMIT, SQL_TYPES, source_relation, spill_directory
from shipyard.features._pit import CREATED, ORDER, TS, arrow_batches, connect, interval
from shipyard.features._registry import Selected, resolve, visible_columns
from shipyard.online.base import OnlineRow, OnlineStore
from shipyard.workspace import current_workspace

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from shipyard.storage.base import MetadataStore

#: Rows of source data per time chunk of a materialization: the watermark moves after each, and each chunk
#: writes each of its entities once (so fewer, larger chunks write less; DuckDB spills to disk within one).
CHUNK_ROWS = 20_000_000
#: Rows per online-store write.
BATCH_ROWS = 50_000
PRESENT, NULL_VALUE, NOT_FOUND, OUTSIDE_MAX_AGE = "PRESENT", "NULL_VALUE", "NOT_FOUND", "OUTSIDE_MAX_AGE"

try:  # orjson is part of the server extra; the standard library is the fallback
    import orjson

    def _dumps(value: Any) -> bytes:
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)

    _loads = orjson.loads
except ImportError:  # pragma: no cover - depends on the install

    def _dumps(value: Any) -> bytes:
        return json.dumps(value, default=str).encode()

    _loads = json.loads  # type: ignore[assignment]


def encode_key(values: Sequence[Any]) -> str:
    """An entity's join-key values as the online store's key: compact JSON (UTF-8 kept), numpy scalars
    as Python values; a single string or integer key, the common case, without the JSON encoder."""
    if len(values) == 1:
        value = values[0]
        if type(value) is int:
            return f"[{value}]"
        if type(value) is str and value.isalnum() and value.isascii():
            return f'["{value}"]'
    return json.dumps([v.item() if hasattr(v, "item") else v for v in values], separators=(",", ":"),
                      ensure_ascii=False)


_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")
#: At most this many other encodings are tried for a key that is not found: every one for a key of up to
#: four columns (a float has two others, an integer or digits one).
_MAX_ALTERNATES = 3**4 - 1


def key_alternates(values: Sequence[Any]) -> list[str]:
    """The same key written in the other type, for a key that was not found as given: an integer as its
    digits, digits (canonical, no leading zero) as an integer, an integral float as either. A view's
    key column has one type, so at most one of these can be stored; JSON clients often send ids as
    strings (or as floats), which would otherwise read as NOT_FOUND — a silent train/serve skew."""
    options: list[list[Any]] = []
    for value in values:
        value = value.item() if hasattr(value, "item") else value
        other: list[Any] = [value]
        if isinstance(value, bool):
            pass
        elif isinstance(value, int):
            other.append(str(value))
        elif isinstance(value, float) and value.is_integer():
            other += [int(value), str(int(value))]
        elif isinstance(value, str) and _INTEGER.fullmatch(value):
            other.append(int(value))
        options.append(other)
    combos = itertools.product(*options)
    next(combos)  # the key as given
    return [encode_key(c) for c in itertools.islice(combos, _MAX_ALTERNATES)]


def _read_keys(store: OnlineStore, space: str, given: Sequence[Sequence[Any]]) -> list[OnlineRow | None]:
    """The stored rows of ``given`` keys; those not found are tried once more, all at once, in their
    other types (:func:`key_alternates`)."""
    rows = store.read(space, [encode_key(vals) for vals in given])
    missing = [i for i, row in enumerate(rows) if row is None]
    if not missing:
        return rows
    tried = {i: key_alternates(given[i]) for i in missing}
    flat = list(dict.fromkeys(k for alternates in tried.values() for k in alternates))
    if not flat:
        return rows
    found = dict(zip(flat, store.read(space, flat), strict=True))
    rows = list(rows)
    for i, alternates in tried.items():
        rows[i] = next((found[k] for k in alternates if found[k] is not None), None)
    return rows


def _plain(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return value


def namespace(project: str, view: str) -> str:
    return f"{project}/{view}"


# -- materialization ------------------------------------------------------------------------------


@dataclass
class MaterializeReport:
    view: str
    rows: int
    start: int | None
    end: int
    chunks: int
    seconds: float


def _views(names: Sequence[str] | None, project: str) -> list[tuple[FeatureView, int]]:
    store = current_workspace().metadata
    records = store.list_feature_definitions(project, "feature_view")
    out = []
    for record in records:
        if names is not None and record.name not in names:
            continue
        if record.spec.get("on_demand") or not record.spec.get("online", True):
            continue
        view = FeatureView.from_spec(record.name, record.spec)  # the listed record already holds the spec
        out.append((view, record.version))
    if names is not None:
        missing = sorted(set(names) - {v.name for v, _ in out})
        if missing:
            raise InvalidParameter(f"No online feature view {missing} in project {project!r}; applied ones: "
                                   f"{sorted(r.name for r in records)}.")
    return out


def _write_stream(store: OnlineStore, space: str, reader: Any, keys: Sequence[str], features: Sequence[str],
                  fixed_ts: int | None, progress: Callable[[int], None] | None) -> int:
    written = 0
    for batch in reader:
        cols = {name: batch.column(name).to_pylist() for name in batch.schema.names}
        key_cols = [cols[k] for k in keys]
        feat_cols = [cols[f] for f in features]
        n = batch.num_rows
        event = cols.get("__ts_us") or [fixed_ts] * n
        created = cols.get("__created_us") or [0] * n
        rows = [OnlineRow(encode_key([c[i] for c in key_cols]), int(event[i]), int(created[i] or 0),
                          _dumps({f: _plain(c[i]) for f, c in zip(features, feat_cols, strict=True)}))
                for i in range(n)]
        store.write(space, rows)
        written += n
        if progress is not None:
            progress(n)
    return written


def _plain_chunk(con: duckdb.DuckDBPyConnection, view: FeatureView, relation: str, lo: int | None, hi: int) -> Any:
    keys = ", ".join(quote(k) for k in view.join_keys)
    where = f"{TS} <= make_timestamptz({hi * 1000})" + (f" AND {TS} > make_timestamptz({lo * 1000})" if lo is not None
                                                         else "")
    order = f"{TS} DESC" + (f", {CREATED} DESC NULLS LAST" if view.source.created else "") + \
        (f", {ORDER} DESC" if view.source.type == "parquet" else "")
    created = f"epoch_us({CREATED})" if view.source.created else "0"
    feats = ", ".join(f"CAST({quote(f)} AS {SQL_TYPES[t]}) AS {quote(f)}" for f, t in view.feature_types.items())
    query = (f"SELECT {keys}, epoch_us({TS}) AS __ts_us, {created} AS __created_us, {feats} FROM {relation} "
             f"WHERE {where} QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {order}) = 1")
    return arrow_batches(con, query, BATCH_ROWS)


def _aggregate_at(con: duckdb.DuckDBPyConnection, view: FeatureView, relation: str, since: int | None, end: int) -> Any:
    """Each entity's aggregates as of ``end``: every entity with a row at or before ``end`` (a full run),
    or with a row whose window still covered a time after ``since`` (an incremental run)."""
    keys = ", ".join(quote(k) for k in view.join_keys)
    widest = max(a.window_ms for a in view.aggregations) * 1000
    hi = f"make_timestamptz({end * 1000})"
    scope = f"{TS} <= {hi}" + (f" AND {TS} > make_timestamptz({since * 1000}) - {interval(widest)}"
                               if since is not None else "")
    on = " AND ".join(f"k.{quote(k)} = f.{quote(k)}" for k in view.join_keys)
    aggs = []
    for a in view.aggregations:
        expr = f"{AGGREGATES[a.function].format(c='f.' + quote(a.column))} FILTER (WHERE f.{TS} > {hi} - " \
               f"{interval(a.window_ms * 1000)})"
        zero = a.function in COUNTS
        aggs.append(f"{'COALESCE(' + expr + ', 0)' if zero else expr} AS {quote(a.feature)}")
    query = (f"SELECT {', '.join('k.' + quote(k) for k in view.join_keys)}, {', '.join(aggs)} "
             f"FROM (SELECT DISTINCT {keys} FROM {relation} WHERE {scope}) k LEFT JOIN {relation} f ON {on} "
             f"AND f.{TS} <= {hi} AND f.{TS} > {hi} - {interval(widest)} GROUP BY {', '.join('k.' + quote(k) for k in view.join_keys)}")
    return arrow_batches(con, query, BATCH_ROWS)


def _chunks(con: duckdb.DuckDBPyConnection, relation: str, lo: int | None, hi: int, chunk_rows: int) -> list[tuple[int | None, int]]:
    """Time slices of ``(lo, hi]`` holding about ``chunk_rows`` source rows each."""
    where = f"{TS} <= make_timestamptz({hi * 1000})" + (f" AND {TS} > make_timestamptz({lo * 1000})"
                                                         if lo is not None else "")
    count, first = con.execute(f"SELECT count(*), epoch_ms(min({TS})) FROM {relation} WHERE {where}").fetchall()[0]
    if not count:
        return [(lo, hi)]
    n = max(1, math.ceil(count / chunk_rows))
    base = lo if lo is not None else int(first) - 1
    step = max(1, math.ceil((hi - base) / n))
    edges = [base + step * i for i in range(1, n)] + [hi]
    return [(lo if i == 0 else edges[i - 1], e) for i, e in enumerate(edges)]


def _materialize_view(view: FeatureView, version: int, *, start: int | None, end: int, incremental: bool,
                      project: str, chunk_rows: int, progress: Callable[[str, int, int], None] | None) -> MaterializeReport:
    ws = current_workspace()
    store: OnlineStore = ws.online
    space = namespace(project, view.name)
    marks = {m.view: m for m in ws.metadata.list_materializations(project)}
    mark: Materialization | None = marks.get(view.name)
    if mark is not None and mark.view_version != version:
        store.delete_view(space)  # a new definition: its rows may have other features
        mark = None
    lo = (mark.watermark if mark is not None else None) if incremental else start
    expected = mark.watermark if mark is not None else None
    started = time.perf_counter()
    con = connect(MEMORY_LIMIT, spill_directory())
    total = chunks = 0
    try:
        columns = [a.column for a in view.aggregations] if view.aggregations else list(view.feature_types)
        con.execute(f"CREATE TEMP VIEW __sy_src AS SELECT * FROM {source_relation(con, view, columns)}")
        if lo is not None and lo >= end:
            return MaterializeReport(view.name, 0, lo, end, 0, time.perf_counter() - started)
        slices = [(lo, end)] if view.aggregations else _chunks(con, "__sy_src", lo, end, chunk_rows)
        done = 0

        def tick(n: int) -> None:
            nonlocal done
            done += n
            if progress is not None:
                progress(view.name, done, 0)

        for a, b in slices:
            if view.aggregations:
                reader = _aggregate_at(con, view, "__sy_src", a, b)
                rows = _write_stream(store, space, reader, view.join_keys, list(view.feature_types), b * 1000, tick)
            else:
                reader = _plain_chunk(con, view, "__sy_src", a, b)
                rows = _write_stream(store, space, reader, view.join_keys, list(view.feature_types), None, tick)
            mark = ws.metadata.set_materialization(project, view.name, view_version=version, watermark=b, rows=rows,
                                                   expected_watermark=expected)
            expected = b
            total += rows
            chunks += 1
    finally:
        con.close()
    return MaterializeReport(view.name, total, lo, end, chunks, time.perf_counter() - started)


def materialize(end: Any = None, *, start: Any = None, views: Sequence[str] | None = None, chunk_rows: int = CHUNK_ROWS,
                progress: Callable[[str, int, int], None] | None = None, project: str | None = None) -> list[MaterializeReport]:
    """Write every online view's latest values with an event time in ``(start, end]`` (``start``: from
    the beginning of the data; ``end``: now) to the online store, whatever the watermarks say."""
    return _run(end, start, views, False, chunk_rows, progress, project)


def materialize_incremental(end: Any = None, *, views: Sequence[str] | None = None, chunk_rows: int = CHUNK_ROWS,
                            progress: Callable[[str, int, int], None] | None = None,
                            project: str | None = None) -> list[MaterializeReport]:
    """Like :func:`materialize`, from each view's watermark (the beginning for a view never materialized)."""
    return _run(end, None, views, True, chunk_rows, progress, project)


def _run(end: Any, start: Any, views: Sequence[str] | None, incremental: bool, chunk_rows: int,
         progress: Callable[[str, int, int], None] | None, project: str | None) -> list[MaterializeReport]:
    project = project or get_settings().project
    ws = current_workspace()
    if ws.remote and not ws.settings.online_uri:
        from shipyard.exceptions import ConfigError

        raise ConfigError("Materializing writes to the online store directly, and this workspace talks to a Shipyard "
                          "server: set online_uri (SHIPYARD_ONLINE_URI) to the team's online store, e.g. "
                          "redis://host:6379/0.")
    end_ms = now_ms() if end is None or end == "now" else parse_when(end)
    start_ms = None if start is None else parse_when(start)
    if start_ms is not None and start_ms >= end_ms:
        raise InvalidParameter(f"materialize: start ({start}) must be before end ({end}).")
    if chunk_rows < 1:
        raise InvalidParameter(f"chunk_rows must be at least 1, got {chunk_rows}.")
    return [_materialize_view(view, version, start=start_ms, end=end_ms, incremental=incremental, project=project,
                              chunk_rows=chunk_rows, progress=progress)
            for view, version in _views(views, project)]


# -- online reads ---------------------------------------------------------------------------------


@dataclass
class OnlineFeatures:
    """Values read online, column-oriented like Feast's response: ``names`` (the join keys, then the
    features), and per name the ``values``, ``statuses`` and ``event_times_us`` (epoch microseconds,
    or None) — :attr:`event_timestamps` gives them as ISO-8601 UTC strings, formatted when first asked
    (a prediction that fetches features never needs them)."""

    names: list[str]
    values: list[list[Any]]
    statuses: list[list[str]]
    event_times_us: list[list[int | None]]
    _iso: list[list[str | None]] | None = dataclass_field(default=None, init=False, repr=False, compare=False)

    @property
    def event_timestamps(self) -> list[list[str | None]]:
        """When each value was observed (ISO-8601 UTC; None where no row was found)."""
        if self._iso is None:
            formatted: dict[int, list[str | None]] = {}  # a view's columns share one list of times
            for col in self.event_times_us:
                if id(col) not in formatted:
                    formatted[id(col)] = _iso_column(col)
            self._iso = [formatted[id(col)] for col in self.event_times_us]
        return self._iso

    def to_dict(self) -> dict[str, list[Any]]:
        return dict(zip(self.names, self.values, strict=True))

    def to_pandas(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.to_dict())

    def to_response(self) -> dict[str, Any]:
        """The body of ``POST /v1/features/online`` (the shape of Feast's ``/get-online-features``)."""
        return {"metadata": {"feature_names": self.names},
                "results": [{"values": v, "statuses": s, "event_timestamps": t}
                            for v, s, t in zip(self.values, self.statuses, self.event_timestamps, strict=True)]}


def _iso_column(micros: Sequence[int | None]) -> list[str | None]:
    """Epoch microseconds as ISO-8601 UTC (``2026-01-01T06:00:00Z``, with ``.ffffff`` when there are
    microseconds), None kept — a response's column at once, by numpy (a third of the time per value of
    formatting each in Python)."""
    import numpy as np

    if not any(us is not None for us in micros):
        return [None] * len(micros)
    times = np.array([_NAT if us is None else us for us in micros], dtype=np.int64)
    text = np.datetime_as_string(times.astype("datetime64[us]"), unit="us").tolist()
    whole = (times % 1_000_000 == 0).tolist()
    return [None if us is None else (t[:-7] + "Z" if w else t + "Z") for us, t, w in zip(micros, text, whole, strict=True)]


def _iso(micros: int | None) -> str | None:
    """One time as :func:`_iso_column` writes it."""
    return _iso_column([micros])[0]


_NAT = -(2**63)  # numpy's "not a time"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def _micros(text: str | None) -> int | None:
    """An ISO-8601 time (as :func:`_iso` writes it) as epoch microseconds."""
    if text is None:
        return None
    return (dt.datetime.fromisoformat(text) - _EPOCH) // dt.timedelta(microseconds=1)


class OnlineReader:
    """Reads online features for one project, caching the resolved definitions for ``ttl_s`` seconds
    (a definition applied in another process reaches this reader within that time)."""

    def __init__(self, project: str, ttl_s: float = 10.0, store: MetadataStore | None = None) -> None:
        self.project = project
        self.store = store
        self.ttl_s = ttl_s
        self._cache: dict[tuple[tuple[str, ...], bool], tuple[float, list[Selected], list[str]]] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    def _resolve(self, refs: Sequence[str], full_names: bool) -> tuple[list[Selected], list[str]]:
        key = (tuple(refs), full_names)
        hit = self._cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.ttl_s:
            return hit[1], hit[2]
        selected = resolve(list(refs), project=self.project, full_names=full_names, store=self.store)
        wanted = visible_columns(list(refs), selected, full_names)
        with self._lock:
            self._cache[key] = (time.monotonic(), selected, wanted)
        return selected, wanted

    def read(self, refs: Sequence[str], entities: Mapping[str, Sequence[Any]], *, at_ms: int | None = None,
             full_names: bool = False, store: OnlineStore | None = None) -> OnlineFeatures:
        selected, wanted = self._resolve(refs, full_names)
        if not isinstance(entities, Mapping) or not entities:
            raise InvalidParameter("Give the entities' join keys, e.g. entity_rows=[{'origin': 'JFK'}] or "
                                   "entities={'origin': ['JFK']}.")
        lengths = {len(v) for v in entities.values()}
        if len(lengths) != 1:
            raise InvalidParameter(f"Every join-key column needs the same number of values, got {lengths}.")
        n = lengths.pop()
        store = store or current_workspace().online
        now_us = (at_ms if at_ms is not None else now_ms()) * 1000
        out: dict[str, tuple[list[Any], list[str], list[int | None]]] = {}
        for sel in selected:
            view = sel.view
            if isinstance(view, OnDemandFeatureView):
                continue
            missing = [k for k in view.join_keys if k not in entities]
            if missing:
                raise InvalidParameter(f"Feature view {view.name!r} is keyed by {view.join_keys}; the request lacks "
                                       f"{missing} (it has {sorted(entities)}).")
            given = list(zip(*(entities[k] for k in view.join_keys), strict=True))
            rows = _read_keys(store, namespace(self.project, view.name), given)
            ttl_us = (view.ttl_ms or 0) * 1000
            stamps = [None if row is None else row.event_ts for row in rows]
            decoded: list[dict[str, Any] | None] = []  # each row decoded once; None: not found or too old
            found: list[str] = []
            for row in rows:
                if row is None:
                    decoded.append(None)
                    found.append(NOT_FOUND)
                elif ttl_us and now_us - row.event_ts > ttl_us:
                    decoded.append(None)
                    found.append(OUTSIDE_MAX_AGE)
                else:
                    decoded.append(_loads(row.values))
                    found.append(PRESENT)
            counts = {a.feature for a in view.aggregations if a.function in COUNTS}
            for feature, column in zip(sel.features, sel.outputs, strict=True):
                values = [None if d is None else d.get(feature) for d in decoded]
                if feature in counts:  # no rows known for the entity: a count of 0, as in a training set
                    values = [0 if v is None and f == NOT_FOUND else v for f, v in zip(found, values, strict=True)]
                statuses = ([NULL_VALUE if f == PRESENT and v is None else f for f, v in zip(found, values, strict=True)]
                            if None in values else found.copy())  # no value missing: the row statuses
                out[column] = (values, statuses, stamps)
        self._on_demand(selected, entities, out, n)
        key_names = list(dict.fromkeys(k for s in selected if isinstance(s.view, FeatureView) for k in s.view.join_keys))
        names = [*key_names, *wanted]
        result = OnlineFeatures(names, [], [], [])
        for name in names:
            if name in out:
                values, statuses, stamps = out[name]
            else:
                values, statuses, stamps = list(entities[name]), [PRESENT] * n, [None] * n
            result.values.append(values)
            result.statuses.append(statuses)
            result.event_times_us.append(stamps)
        return result

    @staticmethod
    def _on_demand(selected: Sequence[Selected], entities: Mapping[str, Sequence[Any]],
                   out: dict[str, tuple[list[Any], list[str], list[int | None]]], n: int) -> None:
        import pandas as pd

        by_view = {s.view.name: s for s in selected}
        for sel in selected:
            view = sel.view
            if not isinstance(view, OnDemandFeatureView):
                continue
            frame: dict[str, Any] = {}
            for ref in view.inputs:
                source, _, feature = ref.partition(":")
                inner = by_view[source]
                frame[ref] = out[inner.outputs[inner.features.index(feature)]][0]
            for field in view.request:
                if field not in entities:
                    raise InvalidParameter(f"On-demand view {view.name!r} needs the request field {field!r}; send it "
                                           "with the entity keys.")
                frame[field] = list(entities[field])
            computed = view.apply(pd.DataFrame(frame, index=range(n)))
            for feature, column in zip(sel.features, sel.outputs, strict=True):
                values = [_plain(v.item() if hasattr(v, "item") else v) for v in computed[feature].tolist()]
                out[column] = (values, [PRESENT if v is not None else NULL_VALUE for v in values], [None] * n)


_readers: dict[str, OnlineReader] = {}


def reader(project: str | None = None) -> OnlineReader:
    project = project or get_settings().project
    found = _readers.get(project)
    if found is None:
        found = _readers[project] = OnlineReader(project)
    return found


def online(features: Sequence[str], entity_rows: Sequence[Mapping[str, Any]] | None = None, *,
           entities: Mapping[str, Sequence[Any]] | None = None, at: Any = None, full_names: bool = False,
           project: str | None = None) -> OnlineFeatures:
    """Read ``features`` for entities from the online store: ``entity_rows=[{"origin": "JFK"}, ...]``
    or column-wise ``entities={"origin": ["JFK", ...]}`` (request fields for on-demand views go along).
    ``at``: the time TTLs are judged at (default now)."""
    if entities is None:
        if not entity_rows:
            raise InvalidParameter("online() needs entity_rows=[{'origin': 'JFK'}, ...] (or entities={...}).")
        names = list(dict.fromkeys(k for row in entity_rows for k in row))
        entities = {k: [row.get(k) for row in entity_rows] for k in names}
    at_ms = None if at is None else parse_when(at)
    ws = current_workspace()
    if ws.remote and not ws.settings.online_uri:  # a client of a team server without its own online_uri
        return _over_http(ws, features, entities, at_ms, full_names, project or ws.settings.project)
    return reader(project or ws.settings.project).read(features, entities, at_ms=at_ms, full_names=full_names,
                                                       store=ws.online)


def _over_http(ws: Any, features: Sequence[str], entities: Mapping[str, Sequence[Any]], at_ms: int | None,
               full_names: bool, project: str) -> OnlineFeatures:
    """Read through the server's ``POST /v1/features/online`` (the server holds the online store)."""
    from shipyard._internal._wire import raise_for

    body = {"features": list(features), "entities": {k: list(v) for k, v in entities.items()},
            "full_feature_names": full_names, "project": project,
            "at": _iso(at_ms * 1000) if at_ms is not None else None}
    response = ws.metadata.http.post("/v1/features/online", content=_dumps(body),
                                     headers={"content-type": "application/json"})
    payload = _loads(response.content)
    if response.status_code >= 400:
        raise_for(response.status_code, payload, ws.metadata.uri)
    results = payload["results"]
    return OnlineFeatures(list(payload["metadata"]["feature_names"]), [r["values"] for r in results],
                          [r["statuses"] for r in results], [[_micros(t) for t in r["event_timestamps"]] for r in results])


def clear_caches() -> None:
    for r in _readers.values():
        r.clear()
