"""Point-in-time joins: each entity row gets the latest feature values known at its timestamp.

For an entity row with keys ``k`` and timestamp ``t``, the feature row chosen is the one with the same
keys and the greatest event timestamp ``<= t``; among feature rows with that same event timestamp,
the one created last (``created``) wins, and among exact duplicates the one that comes last in the
source. With a ``ttl``, a feature row older than ``t - ttl`` is too stale: the features are null. An
entity row without a match keeps its place with null features — entity rows are never dropped,
duplicated or reordered. A null feature value in the chosen row stays null (values are not filled
from older rows: a row is one observation).

Window aggregations (:class:`AggregateInput`) take, for each entity row, the source rows of the same
keys with an event time in ``(t - window, t]``.

The joins are SQL run by DuckDB, which spills to disk rather than running out of memory on large
inputs: per view, a narrow ASOF join on keys and event times, then the tie-break among the matched
rows and a join back of their values (:func:`_fetched_ctes`) — or, for sources without a row identity,
one ``ASOF LEFT JOIN`` carrying the values, the tie-break folded into its inequality
(:func:`_latest_ctes`). All times are ``TIMESTAMPTZ`` in a session whose time zone is UTC, so timestamps
without a zone are taken as UTC; an entity row without a time matches nothing.
:func:`pit_query` builds the query for any number of views; :func:`point_in_time_join` runs it on two
DataFrames.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipyard.data._source import quote as q
from shipyard.exceptions import InvalidParameter

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

ROW = "__sy_row"
TS = "__sy_ts"
CREATED = "__sy_created"
ORDER = "__sy_order"
KEY = "__sy_key"
VALUE = "__sy_v"  # the feature values inside a join, by position (never a user's column name)


def interval(micros: int) -> str:
    return f"INTERVAL '{int(micros)} microseconds'"


@dataclass
class ViewInput:
    """One view's rows as a SQL relation with the join ``keys``, ``__sy_ts`` (TIMESTAMPTZ), optionally
    ``__sy_created`` and ``__sy_order``, and the feature columns; ``columns``: (source, output) pairs."""

    relation: str
    keys: list[str]
    columns: list[tuple[str, str]]
    ttl_us: int | None = None
    created: bool = False
    #: the SQL type of ``__sy_order`` (the source order that breaks exact ties, unique per row: a view that
    #: has one is matched narrowly, then its values fetched — :func:`_fetched_ctes`); None: there is none.
    order: str | None = None
    #: SQL types the features are cast to (the declared types), one per column; None keeps the source's.
    types: list[str | None] | None = None


@dataclass
class AggregateInput:
    """A window-aggregation view: ``aggregates`` are (SQL template over ``{c}``, source column, window in
    microseconds, output name, whether an empty window gives 0)."""

    relation: str
    keys: list[str]
    aggregates: list[tuple[str, str, int, str, bool]] = field(default_factory=list)


def _cast(expr: str, sql_type: str | None) -> str:
    return f"CAST({expr} AS {sql_type})" if sql_type else expr


def pit_query(con: duckdb.DuckDBPyConnection, entities: str, entity_ts: str,
              views: Sequence[ViewInput | AggregateInput], *, fetch: bool = True) -> str:
    """The SQL of ``entities`` (a relation with ``__sy_row`` and ``entity_ts`` as TIMESTAMPTZ) joined to
    every view in turn, ordered by ``__sy_row`` (which the result keeps).

    A view whose rows have a source order (a unique row identity: Parquet's file and row number, a
    DataFrame's position) is matched first, narrowly — an ASOF join on keys and event times that
    carries no feature values, run on ``con`` now into a temporary table — and the query then breaks
    ties among the matched rows and joins their values; other views are joined in the query with their
    values. ``fetch=False`` joins every view in the query (nothing runs now: for an empty entity frame,
    whose key columns have no meaningful type)."""
    ts = q(entity_ts)
    ctes = [f"e0 AS (SELECT * FROM {entities})"]
    for i, view in enumerate(views, 1):
        if isinstance(view, AggregateInput):
            ctes += _aggregate_ctes(i, view, ts)
        elif fetch and view.order is not None:
            ctes += _fetched_ctes(con, i, view, entities, ts)
        else:
            ctes += _latest_ctes(i, view, ts)
    return f"WITH {', '.join(ctes)} SELECT * FROM e{len(views)} ORDER BY {ROW}"


def _rank(view: ViewInput, ts: str) -> tuple[str, str]:
    """The ASOF inequality's two sides as structs: feature rows at ``(event time, 0, created, source
    order)``, an entity row at ``t`` at ``(t, 1, ...)`` — after every feature row of time ``t`` and before
    any later one, so the greatest row ``<=`` is the latest event, created last, coming last in the
    source. An entity row without a time matches nothing."""
    rank = ([(f"c := coalesce({CREATED}, '-infinity'::TIMESTAMPTZ)", "c := NULL::TIMESTAMPTZ")] if view.created
            else []) + ([(f"o := {ORDER}", f"o := NULL::{view.order}")] if view.order else [])
    if not rank:
        return TS, f"e.{ts}"
    fkey = f"struct_pack(t := {TS}, x := 0::UTINYINT, {', '.join(f for f, _ in rank)})"
    ekey = (f"CASE WHEN e.{ts} IS NOT NULL THEN struct_pack(t := e.{ts}, x := 1::UTINYINT, "
            f"{', '.join(e for _, e in rank)}) END")
    return fkey, ekey


def _picked(view: ViewInput, ts: str, fts: str, value: str) -> str:
    """The output columns: ``value`` (a template over the column index) unless the match is missing or,
    with a TTL, older than the entity row by more than the TTL (``fts``: the match's event time in
    microseconds; integers are exact, and cheaper than interval arithmetic)."""
    stale = f"{fts} IS NULL" + (f" OR epoch_us(e.{ts}) - {fts} > {int(view.ttl_us)}" if view.ttl_us else "")
    types = view.types or [None] * len(view.columns)
    return ", ".join(f"CASE WHEN {stale} THEN NULL ELSE {_cast(value.format(j), t)} END AS {q(out)}"
                     for j, (t, (_, out)) in enumerate(zip(types, view.columns, strict=True)))


def _latest_ctes(i: int, view: ViewInput, ts: str) -> list[str]:
    """The latest feature row per entity row in one ``ASOF LEFT JOIN`` carrying the feature values, the
    tie-break folded into its inequality (:func:`_rank`): no grouping pass over the feature rows."""
    on = " AND ".join(f"e.{q(k)} = f.{q(k)}" for k in view.keys)
    fkey, ekey = _rank(view, ts)
    keys = ", ".join(q(k) for k in view.keys)
    payload = ", ".join(f"{q(c)} AS {q(VALUE + str(j))}" for j, (c, _) in enumerate(view.columns))
    right = f"(SELECT {keys}, {TS}, {fkey} AS {KEY}, {payload} FROM {view.relation} WHERE {TS} IS NOT NULL)"
    picked = _picked(view, ts, f"epoch_us(f.{TS})", f'f."{VALUE}{{}}"')
    return [f"k{i} AS (SELECT *, {ekey} AS {KEY} FROM e{i - 1} e)",
            f"e{i} AS (SELECT e.* EXCLUDE ({KEY}), {picked} FROM k{i} e ASOF LEFT JOIN {right} f "
            f"ON {on} AND e.{KEY} >= f.{KEY})"]


#: DuckDB's integer types (as DESCRIBE names them).
INTEGERS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
             "UHUGEINT")


def _join_keys(con: duckdb.DuckDBPyConnection, view: ViewInput, entities: str) -> list[tuple[str, str]]:
    """Each join key as joined: ``(expression over a source row, expression over an entity row)``. An
    integer key whose source values span less than 2**32 is joined as its offset from the minimum, a
    4-byte UINTEGER (DuckDB's sort of the feature rows is a quarter faster on the narrower key); an entity
    value outside that span can match nothing and becomes NULL. Other keys are joined as they are."""
    source = {r[0]: str(r[1]).upper() for r in con.execute(f"DESCRIBE SELECT * FROM {view.relation}").fetchall()}
    given = {r[0]: str(r[1]).upper() for r in con.execute(f"DESCRIBE SELECT * FROM {entities}").fetchall()}
    ints = [k for k in view.keys if source.get(k) in INTEGERS and given.get(k) in INTEGERS]
    spans = {}
    if ints:
        row = con.execute(f"SELECT {', '.join(f'min({q(k)}), max({q(k)})' for k in ints)} FROM {view.relation}"
                          ).fetchall()[0]
        spans = {k: (row[2 * j], row[2 * j + 1]) for j, k in enumerate(ints)}
    out = []
    for k in view.keys:
        lo, hi = spans.get(k, (None, None))
        if lo is None or hi is None or int(hi) - int(lo) >= 2**32:
            out.append((f"p.{q(k)}", f"e.{q(k)}"))
            continue
        # widened first: in the key's own type the subtraction can overflow (an INTEGER spanning -2e9..2e9)
        out.append((f"(CAST(p.{q(k)} AS HUGEINT) - {int(lo)})::UINTEGER",
                    f"CASE WHEN e.{q(k)} BETWEEN {int(lo)} AND {int(hi)} "
                    f"THEN (CAST(e.{q(k)} AS HUGEINT) - {int(lo)})::UINTEGER END"))
    return out


def _fetched_ctes(con: duckdb.DuckDBPyConnection, i: int, view: ViewInput, entities: str, ts: str) -> list[str]:
    """A view with a source order (a unique row identity), in two steps. First a narrow ``ASOF JOIN`` on
    the keys (:func:`_join_keys`) and the event time alone — no ranks, no feature values, so DuckDB sorts
    the keys and one timestamp per feature row and the sort stays in memory — into the temporary table
    ``__sy_m{i}``: each entity row's keys as joined and the event time of its match. Then the query
    picks, among the source rows at a matched ``(keys, event time)`` (a semi-join), the one created last
    and last in the source, and joins its values back to the entity rows: one pass over the feature
    values, grouping only the matched rows."""
    joined = _join_keys(con, view, entities)
    names = [q(f"__sy_k{j}") for j in range(len(joined))]
    fkeys = ", ".join(f"{f} AS {n}" for (f, _), n in zip(joined, names, strict=True))
    ekeys = ", ".join(f"{e} AS {n}" for (_, e), n in zip(joined, names, strict=True))
    on = " AND ".join(f"e.{n} = f.{n}" for n in names)
    con.execute(f"CREATE OR REPLACE TEMP TABLE __sy_m{i} AS SELECT e.{ROW}, {', '.join(f'f.{n}' for n in names)}, "
                f"f.{TS} FROM (SELECT e.{ROW}, {ekeys}, e.{ts} FROM {entities} e) e ASOF JOIN "
                f"(SELECT {fkeys}, p.{TS} FROM {view.relation} p WHERE p.{TS} IS NOT NULL) f "
                f"ON {on} AND e.{ts} >= f.{TS}")
    payload = ", ".join(f"p.{q(c)} AS {q(VALUE + str(j))}" for j, (c, _) in enumerate(view.columns))
    group = [*names, TS]
    rank = ", ".join([*([f"p.{CREATED} DESC NULLS LAST"] if view.created else []), f"p.{ORDER} DESC"])
    winners = (f"(SELECT * EXCLUDE ({ORDER}{', ' + CREATED if view.created else ''}) FROM (SELECT {fkeys}, "
               f"p.{TS}, p.{ORDER}, {f'p.{CREATED}, ' if view.created else ''}{payload} FROM {view.relation} p) p "
               f"SEMI JOIN (SELECT DISTINCT {', '.join(group)} FROM __sy_m{i}) m "
               f"ON {' AND '.join(f'p.{k} = m.{k}' for k in group)} "
               f"QUALIFY row_number() OVER (PARTITION BY {', '.join(f'p.{k}' for k in group)} ORDER BY {rank}) = 1)")
    picked = _picked(view, ts, f"epoch_us(m.{TS})", f'w."{VALUE}{{}}"')
    return [f"e{i} AS (SELECT e.*, {picked} FROM e{i - 1} e LEFT JOIN __sy_m{i} m ON m.{ROW} = e.{ROW} "
            f"LEFT JOIN {winners} w ON {' AND '.join(f'w.{k} = m.{k}' for k in group)})"]


def _aggregate_ctes(i: int, view: AggregateInput, ts: str) -> list[str]:
    """Window aggregates per entity row: the entity rows and the source rows in one relation, ordered by
    time per key, each aggregate a window ``RANGE BETWEEN (w - 1 us) PRECEDING AND CURRENT ROW`` — the
    rows in ``(t - w, t]`` (timestamps have microsecond resolution; peers at ``t`` are in). Entity rows
    carry no values, so they count for nothing; only they are kept."""
    keys = ", ".join(q(k) for k in view.keys)
    windows = sorted({w for _, _, w, _, _ in view.aggregates})
    named = ", ".join(f"w{j} AS (PARTITION BY {keys} ORDER BY {TS} RANGE BETWEEN {interval(w - 1)} PRECEDING AND "
                      f"CURRENT ROW)" for j, w in enumerate(windows))
    cols = ", ".join(dict.fromkeys(q(col) for _, col, _, _, _ in view.aggregates))
    aggs = ", ".join(f"{tpl.format(c=q(col))} OVER w{windows.index(w)} AS {q(out)}"
                     for tpl, col, w, out, _ in view.aggregates)
    outs = ", ".join(f"COALESCE(a.{q(out)}, 0) AS {q(out)}" if zero else f"a.{q(out)}"
                     for _, _, _, out, zero in view.aggregates)
    union = (f"SELECT {keys}, {ts} AS {TS}, {ROW} FROM e{i - 1} UNION ALL BY NAME "
             f"SELECT {keys}, {TS}, {cols} FROM {view.relation} WHERE {TS} IS NOT NULL")
    return [f"a{i} AS (SELECT {ROW}, {aggs} FROM ({union}) WINDOW {named} QUALIFY {ROW} IS NOT NULL)",
            f"e{i} AS (SELECT e.*, {outs} FROM e{i - 1} e LEFT JOIN a{i} a ON e.{ROW} = a.{ROW})"]


def arrow_batches(con: duckdb.DuckDBPyConnection, query: str, rows: int) -> Any:
    """The query's result as a stream of Arrow record batches (DuckDB 1.x and 2.x)."""
    relation = con.sql(query)
    reader = getattr(relation, "to_arrow_reader", None) or relation.fetch_arrow_reader
    return reader(rows)


def connect(memory_limit: str | None = None, temp_directory: str | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection for feature work: UTC, spilling to ``temp_directory`` past ``memory_limit``."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    if temp_directory:
        con.execute(f"SET temp_directory = '{temp_directory}'")
    con.execute("SET preserve_insertion_order = false")
    return con


def utc(frame: pd.DataFrame, column: str, what: str) -> pd.Series:
    """``frame[column]`` as UTC timestamps (naive means UTC; strings are parsed)."""
    import pandas as pd

    if column not in frame.columns:
        raise InvalidParameter(f"The {what} have no timestamp column {column!r}; they have {list(frame.columns)}. "
                               "Name the column that holds event times.")
    values = frame[column]
    if not pd.api.types.is_datetime64_any_dtype(values):
        try:
            values = pd.to_datetime(values, utc=True, format="ISO8601")
        except (ValueError, TypeError) as exc:
            raise InvalidParameter(f"Column {column!r} of the {what} is not a timestamp ({exc}).") from exc
    elif values.dt.tz is None:
        values = values.dt.tz_localize("UTC")
    else:
        values = values.dt.tz_convert("UTC")
    return values.astype("datetime64[us, UTC]")


def point_in_time_join(
    entities: pd.DataFrame, features: pd.DataFrame, *, keys: Sequence[str], columns: Sequence[str],
    timestamp: str, created: str | None = None, entity_timestamp: str = "event_timestamp",
    ttl: dt.timedelta | None = None, prefix: str = "",
) -> pd.DataFrame:
    """``entities`` with ``columns`` of ``features`` as of each entity row's ``entity_timestamp``
    (see the module docstring). ``keys``: the join keys, in both frames; ``timestamp`` / ``created``:
    the feature rows' event and creation times; ``prefix``: prepended to the added column names."""
    return join_frames(entities, features, keys=keys, columns=columns, timestamp=timestamp, created=created,
                       entity_timestamp=entity_timestamp, ttl=ttl, prefix=prefix)


def join_frames(
    entities: pd.DataFrame, features: pd.DataFrame, *, keys: Sequence[str], columns: Sequence[str],
    timestamp: str, created: str | None = None, entity_timestamp: str = "event_timestamp",
    ttl: dt.timedelta | None = None, prefix: str = "", fetch: bool = True,
) -> pd.DataFrame:
    """:func:`point_in_time_join`, choosing the query shape: ``fetch=False`` joins the values in the
    ASOF join itself, the shape used for sources without a row identity (CSV, SQL)."""
    keys, columns = list(keys), list(columns)
    if not keys:
        raise InvalidParameter("A point-in-time join needs at least one join key.")
    missing = [c for c in keys if c not in entities.columns]
    if missing:
        raise InvalidParameter(f"The entity rows lack the join key(s) {missing}; they have {list(entities.columns)}.")
    missing = [c for c in [*keys, *columns, *([created] if created else [])] if c not in features.columns]
    if missing:
        raise InvalidParameter(f"The feature rows lack {missing}; they have {list(features.columns)}.")
    if ttl is not None and ttl <= dt.timedelta(0):
        raise InvalidParameter(f"ttl must be positive, got {ttl}.")
    clash = [f"{prefix}{c}" for c in columns if f"{prefix}{c}" in entities.columns]
    if clash:
        raise InvalidParameter(f"The entity rows already have columns {clash}: pass a prefix= for the features.")
    stamps = utc(entities, entity_timestamp, "entity rows")
    if features.empty:  # nothing to join (an empty frame's key columns may not even have the keys' type)
        return entities.assign(**{entity_timestamp: stamps}, **{prefix + c: features[c].reindex(entities.index)
                                                               for c in columns})
    left = entities.assign(**{ROW: range(len(entities)), entity_timestamp: stamps})
    right = features[[*keys, *columns]].assign(**{TS: utc(features, timestamp, "feature rows"),
                                                 ORDER: range(len(features))})
    if created:
        right[CREATED] = utc(features, created, "feature rows")
    view = ViewInput("right_rows", keys, [(c, prefix + c) for c in columns],
                     int(ttl / dt.timedelta(microseconds=1)) if ttl is not None else None, created=bool(created),
                     order="BIGINT")
    con = connect()
    try:
        con.register("left_rows", left)
        con.register("right_rows", right)
        result: pd.DataFrame = con.execute(pit_query(con, "left_rows", entity_timestamp, [view], fetch=fetch)).df()
    finally:
        con.close()
    result = result.drop(columns=[ROW])
    result.index = entities.index
    return result
