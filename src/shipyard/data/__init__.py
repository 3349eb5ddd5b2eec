"""Data contracts: infer a schema from data, add expectations, validate data against it in DuckDB.

::

    import shipyard as sy
    from shipyard.data import compare, freshness, not_null

    schema = sy.data.infer_schema(train)                  # types, nulls, ranges, categories, row band
    schema.expect(compare("arr_time", ">", "dep_time"), freshness("time_hour", "2d"))
    schema.save("flights.schema.yaml")
    report = sy.data.validate("batch.parquet", schema)   # DataFrame, Arrow table, Parquet or CSV
    print(report)                                         # failed checks, counts and failing rows
"""

from shipyard.data._contracts import get_contract, list_contracts, save_contract
from shipyard.data._expectations import (
    Between,
    Compare,
    Expectation,
    Freshness,
    InSet,
    Monotonic,
    NotNull,
    Regex,
    RowCount,
    Sql,
    Unique,
    between,
    compare,
    freshness,
    in_set,
    monotonic,
    not_null,
    regex,
    row_count,
    sql,
    unique,
)
from shipyard.data._infer import infer_schema
from shipyard.data._schema import Column, HasType, NoExtraColumns, Schema
from shipyard.data._source import LOGICAL_TYPES
from shipyard.data._validate import CheckResult, ValidationReport, validate

__all__ = [
    "LOGICAL_TYPES", "Between", "CheckResult", "Column", "Compare", "Expectation", "Freshness", "HasType", "InSet",
    "Monotonic", "NoExtraColumns", "NotNull", "Regex", "RowCount", "Schema", "Sql", "Unique", "ValidationReport",
    "between", "compare", "freshness", "get_contract", "in_set", "infer_schema", "list_contracts", "monotonic", "not_null", "regex", "row_count", "save_contract", "sql",
    "unique", "validate",
]
