"""``infer_schema``: learn a Schema from data in two DuckDB queries (profile, then categories)."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from shipyard.data._schema import Column, Schema
from shipyard.data._source import VIEW, create_view, logical_type, open_source, quote
from shipyard.exceptions import InvalidParameter


def infer_schema(data: Any, *, name: str | None = None, max_categories: int = 20,
                 row_tolerance: float = 0.5) -> Schema:
    """A schema that ``data`` satisfies, to edit and keep.

    Per column: the type, whether it has missing values (NaN counts as missing), the observed range of
    numbers, the allowed values of a string column with at most ``max_categories`` distinct values that
    repeat (every one of a pandas category column's, up to the same limit), and uniqueness of integer
    and string columns whose values never repeat. The row-count band is the row count ±
    ``row_tolerance`` (0.5: half to one and a half times as many rows). Timestamps get no range, so
    newer data still fits; add ``freshness`` or ``between`` for them.

    ``data``: a pandas DataFrame, a pyarrow Table, or the path of a Parquet or CSV file.
    """
    import duckdb

    if max_categories < 0 or not 0 <= row_tolerance:
        raise InvalidParameter(f"max_categories ({max_categories}) and row_tolerance ({row_tolerance}) must be >= 0.")
    con = duckdb.connect()
    try:
        source = open_source(con, data)
        create_view(con, source.types)
        profile = _profile(con, source.types)
        rows = int(profile.pop("__rows"))
        candidates = [c for c, t in source.types.items()
                      if logical_type(t) == "string" and 0 < profile[c]["distinct"] <= max_categories
                      and (t.upper().startswith("ENUM") or 2 * profile[c]["distinct"] <= profile[c]["count"])]
        categories = _categories(con, candidates)
    finally:
        con.close()
    columns = {}
    for col, duck_type in source.types.items():
        kind = logical_type(duck_type)
        stats = profile[col]
        column = Column(type=kind, nullable=stats["count"] < rows)
        if kind in ("int", "float"):
            column.min, column.max = _number(stats["min"]), _number(stats["max"])
        if col in categories:
            column.categories = categories[col]
        elif kind in ("int", "string") and stats["count"] >= 2 and stats["distinct"] == stats["count"]:
            column.unique = True
        columns[col] = column
    return Schema(columns=columns, min_rows=math.floor(rows * (1 - min(row_tolerance, 1.0))),
                  max_rows=math.ceil(rows * (1 + row_tolerance)), name=name)


def _profile(con: Any, types: dict[str, str]) -> dict[str, Any]:
    parts = ["count(*)"]
    layout: list[tuple[str, str]] = []
    for col, duck_type in types.items():
        q, kind = quote(col), logical_type(duck_type)
        parts.append(f"count({q})")
        layout.append((col, "count"))
        if kind in ("int", "float"):
            parts += [f"min({q})", f"max({q})"]
            layout += [(col, "min"), (col, "max")]
        if kind in ("int", "string"):
            parts.append(f"count(DISTINCT {q})")
            layout.append((col, "distinct"))
    row = con.execute(f"SELECT {', '.join(parts)} FROM {VIEW}").fetchone()
    out: dict[str, Any] = {"__rows": row[0]}
    for col in types:
        out[col] = {"distinct": 0}
    for (col, key), value in zip(layout, row[1:], strict=True):
        out[col][key] = value
    return out


def _categories(con: Any, columns: list[str]) -> dict[str, list[Any]]:
    if not columns:
        return {}
    lists = ", ".join(f"list(DISTINCT CAST({quote(c)} AS VARCHAR) ORDER BY CAST({quote(c)} AS VARCHAR)) "
                      f"FILTER (WHERE {quote(c)} IS NOT NULL)" for c in columns)
    row = con.execute(f"SELECT {lists} FROM {VIEW}").fetchone()
    return {c: list(values or []) for c, values in zip(columns, row, strict=True)}


def _number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    return value
