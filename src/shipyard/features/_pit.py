"""Point-in-time joins: each entity row gets the latest feature values known at its timestamp.

For an entity row with keys ``k`` and timestamp ``t``, the feature row chosen is the one with the same
keys and the greatest event timestamp ``<= t``; among feature rows with that same event timestamp,
the one created last (``created``) wins, and among exact duplicates the one that comes last in the
source. With a ``ttl``, a feature row older than ``t - ttl`` is too stale: the features are null. An
entity row without a match keeps its place with null features — entity rows are never dropped,
duplicated or reordered. A null feature value in the chosen row stays null (values are not filled
from older rows: a row is one observation).

The join runs in DuckDB (an ``ASOF LEFT JOIN`` after keeping one feature row per key and event time),
which spills to disk rather than running out of memory on large inputs. Timestamps without a time zone
are taken as UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from shipyard.exceptions import InvalidParameter

if TYPE_CHECKING:
    import pandas as pd

ROW = "__shipyard_row"
FEATURE_TS = "__shipyard_feature_ts"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _utc(frame: pd.DataFrame, column: str, what: str) -> pd.Series:
    import pandas as pd

    if column not in frame.columns:
        raise InvalidParameter(f"The {what} has no timestamp column {column!r}; it has {list(frame.columns)}. "
                               "Name the column that holds event times.")
    values = frame[column]
    if not pd.api.types.is_datetime64_any_dtype(values):
        try:
            values = pd.to_datetime(values, utc=True)
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
    import duckdb

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
    stamps = _utc(entities, entity_timestamp, "entity rows")
    if features.empty:  # nothing to join (an empty frame's key columns may not even have the keys' type)
        return entities.assign(**{entity_timestamp: stamps}, **{prefix + c: features[c].reindex(entities.index)
                                                               for c in columns})
    left = entities.assign(**{ROW: range(len(entities)), entity_timestamp: stamps})
    right = features[[*keys, *columns, *([created] if created else [])]].assign(
        **{FEATURE_TS: _utc(features, timestamp, "feature rows"), "__shipyard_order": range(len(features))})
    if created:
        right[created] = _utc(features, created, "feature rows")
    key_list = ", ".join(_quote(k) for k in keys)
    order = (f"{_quote(created)} DESC NULLS LAST, " if created else "") + '"__shipyard_order" DESC'
    picked = ", ".join(f"f.{_quote(c)} AS {_quote(prefix + c)}" for c in columns)
    stale = (f"e.{_quote(entity_timestamp)} - e.{FEATURE_TS} > INTERVAL '{int(ttl.total_seconds() * 1_000_000)} microseconds'"
             if ttl is not None else "FALSE")
    outputs = ", ".join(f"CASE WHEN {stale} THEN NULL ELSE {_quote(prefix + c)} END AS {_quote(prefix + c)}"
                        for c in columns)
    query = f"""
        WITH f AS (
            SELECT * FROM right_rows WHERE {FEATURE_TS} IS NOT NULL
            QUALIFY row_number() OVER (PARTITION BY {key_list}, {FEATURE_TS} ORDER BY {order}) = 1
        ), joined AS (
            SELECT e.*, f.{FEATURE_TS}, {picked}
            FROM left_rows e ASOF LEFT JOIN f
              ON {" AND ".join(f"e.{_quote(k)} = f.{_quote(k)}" for k in keys)}
             AND e.{_quote(entity_timestamp)} >= f.{FEATURE_TS}
        )
        SELECT * EXCLUDE ({FEATURE_TS}, {", ".join(_quote(prefix + c) for c in columns)}), {outputs}
        FROM joined e ORDER BY {ROW}
    """
    con = duckdb.connect()
    try:
        con.register("left_rows", left)
        con.register("right_rows", right)
        result: pd.DataFrame = con.execute(query).df()
    finally:
        con.close()
    result = result.drop(columns=[ROW])
    result.index = entities.index
    return result
