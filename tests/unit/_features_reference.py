"""Independent references for the feature-store tests: what a point-in-time join, a window aggregation
and a range retrieval should return, written in plain pandas (``merge_asof``) and brute-force loops, so
the DuckDB SQL under test is checked against code that shares none of it."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

T0 = pd.Timestamp("2024-01-01", tz="UTC")


def at(minutes: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(minutes=minutes)


def write(frame: pd.DataFrame, path: Path) -> str:
    """Write ``frame`` as one Parquet file (the source order is the row order) and return its path."""
    frame.to_parquet(path, index=False)
    return str(path)


def _dedup(rows: pd.DataFrame, keys: Sequence[str], ts: str, created: str | None) -> pd.DataFrame:
    """One row per key and event time: the latest created wins (a null created loses), then the last
    in the source."""
    order = rows.assign(_order=range(len(rows)))
    by = [ts, *([created] if created else []), "_order"]
    order = order.sort_values(by, na_position="first", kind="stable")
    return order.drop_duplicates(subset=[*keys, ts], keep="last").drop(columns="_order")


def asof_reference(entities: pd.DataFrame, rows: pd.DataFrame, *, keys: Sequence[str], ts: str,
                   columns: Sequence[str], created: str | None = None, ttl: dt.timedelta | None = None,
                   entity_ts: str = "event_timestamp") -> pd.DataFrame:
    """``columns`` of the latest row at or before each entity row's time, per key, older than ``ttl``
    counting as missing: pandas ``merge_asof`` per view. The result has the entity rows' index."""
    keys = list(keys)
    if rows.empty:
        return pd.DataFrame({c: [np.nan] * len(entities) for c in columns}, index=entities.index)
    right = _dedup(rows, keys, ts, created)[[*keys, ts, *columns]].sort_values(ts, kind="stable")
    left = entities[[*keys, entity_ts]].assign(_row=range(len(entities))).sort_values(entity_ts, kind="stable")
    merged = pd.merge_asof(left, right.rename(columns={ts: "_feature_ts"}), left_on=entity_ts,
                           right_on="_feature_ts", by=keys, direction="backward", allow_exact_matches=True,
                           tolerance=pd.Timedelta(ttl) if ttl is not None else None)
    merged = merged.sort_values("_row")
    out = merged[list(columns)].reset_index(drop=True)
    out.index = entities.index
    return out


def brute_latest(rows: pd.DataFrame, *, keys: Sequence[str], key: tuple[Any, ...], t: pd.Timestamp, ts: str,
                 columns: Sequence[str], created: str | None = None,
                 ttl: dt.timedelta | None = None) -> dict[str, Any]:
    """The same answer as :func:`asof_reference` for one entity and time, by a loop over the rows."""
    best: tuple[Any, ...] | None = None
    chosen: pd.Series | None = None
    for position, (_, row) in enumerate(rows.iterrows()):
        if tuple(row[k] for k in keys) != key or row[ts] > t:
            continue
        made = row[created] if created else None
        rank = (row[ts], 0 if made is None or pd.isna(made) else 1, made if made is not None and not pd.isna(made)
                else pd.Timestamp(0, tz="UTC"), position)
        if best is None or rank > best:
            best, chosen = rank, row
    if chosen is None or (ttl is not None and t - chosen[ts] > ttl):
        return {c: None for c in columns}
    return {c: None if pd.isna(chosen[c]) else chosen[c] for c in columns}


def brute_aggregate(rows: pd.DataFrame, *, keys: Sequence[str], key: tuple[Any, ...], t: pd.Timestamp, ts: str,
                    column: str, function: str, window: dt.timedelta) -> Any:
    """``function`` of the non-null ``column`` values of the rows of ``key`` with an event time in
    ``(t - window, t]``; an empty window gives 0 for counts and None otherwise."""
    mask = (rows[ts] > t - window) & (rows[ts] <= t)
    for k, value in zip(keys, key, strict=True):
        mask &= rows[k] == value
    values = rows.loc[mask, column].dropna()
    if function == "count":
        return int(len(values))
    if function == "count_distinct":
        return int(values.nunique())
    if values.empty:
        return None
    numbers = values.astype(float)
    result = {"sum": numbers.sum(), "mean": numbers.mean(), "min": numbers.min(), "max": numbers.max(),
              "share": numbers.mean(), "std": numbers.std(ddof=1)}[function]
    return None if math.isnan(result) else float(result)


def same(actual: Sequence[Any], expected: Sequence[Any], what: str = "") -> None:
    """Element-wise equality with None and NaN as one missing value, floats to 1e-9."""
    assert len(actual) == len(expected), f"{what}: {len(actual)} values, expected {len(expected)}"
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        a_missing = a is None or a is pd.NA or (isinstance(a, float) and math.isnan(a))
        e_missing = e is None or e is pd.NA or (isinstance(e, float) and math.isnan(e))
        assert a_missing == e_missing, f"{what}[{i}]: got {a!r}, expected {e!r}"
        if a_missing:
            continue
        if isinstance(e, (float, np.floating)) or isinstance(a, (float, np.floating)):
            assert math.isclose(float(a), float(e), rel_tol=1e-9, abs_tol=1e-9), f"{what}[{i}]: got {a!r}, expected {e!r}"
        else:
            assert a == e, f"{what}[{i}]: got {a!r}, expected {e!r}"
