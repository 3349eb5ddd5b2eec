"""The serving fast path (``_codec.Plan``) must agree with the general path — decode to a DataFrame,
then ``enforce`` — on every body it takes, and hand everything else to it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.exceptions import ShipyardError
from shipyard.models._signature import enforce
from shipyard.serving import _codec
from shipyard.serving._cache import ResponseCache, input_key

DECODERS = {"shipyard": _codec.decode_shipyard, "mlflow": _codec.decode_mlflow, "v2": _codec.decode_v2}


def signature(dtypes: list[str]) -> dict[str, Any]:
    return {"inputs": {"type": "columns", "columns": [
        {"name": f"c{i}", "dtype": d, "nullable": True} for i, d in enumerate(dtypes)]}}


value = st.one_of(st.integers(-1000, 1000), st.floats(-1e6, 1e6, allow_nan=False), st.none(),
                  st.sampled_from(["x", "1.5", True, 2.5]))


@st.composite
def cases(draw: Any) -> tuple[dict[str, Any], list[dict[str, Any]], str, Any]:
    dtypes = draw(st.lists(st.sampled_from(["float64", "int64", "float32"]), min_size=1, max_size=4))
    names = [f"c{i}" for i in range(len(dtypes))]
    n = draw(st.integers(1, 4))
    records = [{c: draw(value) for c in names} for _ in range(n)]
    if draw(st.booleans()):
        records[0].pop(draw(st.sampled_from(names)))  # a missing field
    if draw(st.booleans()):
        records[-1]["extra"] = 1.0
    shape = draw(st.sampled_from(["records", "bare", "columns", "rows", "split", "split_shuffled", "mlflow_records",
                                  "instances", "inputs_columns", "v2_columns", "v2_matrix"]))
    rows = [[r.get(c) for c in names] for r in records]
    shuffled = list(reversed(names))
    body: Any = {
        "records": {"records": records},
        "bare": records,
        "columns": {"columns": {c: [r.get(c) for r in records] for c in names}},
        "rows": {"rows": rows},
        "split": {"dataframe_split": {"columns": names, "data": rows}},
        "split_shuffled": {"dataframe_split": {"columns": shuffled, "data": [[r.get(c) for c in shuffled] for r in records]}},
        "mlflow_records": {"dataframe_records": records},
        "instances": {"instances": records},
        "inputs_columns": {"inputs": {c: [r.get(c) for r in records] for c in names}},
        "v2_columns": {"inputs": [{"name": c, "shape": [n], "datatype": "FP64", "data": [r.get(c) for r in records]}
                                  for c in names]},
        "v2_matrix": {"inputs": [{"name": "input-0", "shape": [n, len(names)], "datatype": "FP64", "data": rows}]},
    }[shape]
    protocol = "v2" if shape.startswith("v2") else "mlflow" if shape in ("split", "split_shuffled", "mlflow_records",
                                                                          "instances", "inputs_columns") else "shipyard"
    return signature(dtypes), records, protocol, body


@settings(max_examples=300, deadline=None)
@given(cases(), st.sampled_from(["drop", "error"]))
def test_the_fast_path_agrees_with_the_general_path(case: tuple[Any, Any, str, Any], extra: str) -> None:
    sig, _records, protocol, body = case
    plan = _codec.Plan.of(sig, extra)
    assert plan is not None
    matrix = plan.matrix(body, protocol)
    if matrix is None:
        return  # handed to the general path, which answers it either way
    frame = enforce(DECODERS[protocol](body, plan.columns), sig, extra)  # must not raise: the fast path took it
    fed = plan.frame(matrix)  # what the model receives on the fast path
    assert list(fed.columns) == plan.columns
    assert [str(t) for t in fed.dtypes] == plan.dtypes == [str(t) for t in frame[plan.columns].dtypes]
    np.testing.assert_array_equal(fed.to_numpy(np.float64), frame[plan.columns].to_numpy(np.float64))


def test_what_the_fast_path_leaves_to_the_general_path() -> None:
    plan = _codec.Plan.of(signature(["float64", "int64"]), "drop")
    assert plan is not None
    assert plan.matrix({"records": [{"c0": 1.0, "c1": 2}]}, "shipyard") is not None
    assert plan.matrix({"records": [{"c0": None, "c1": 2}]}, "shipyard") is not None  # null: a missing float
    for bad in ({"records": [{"c0": 1.0}]},  # missing column
                {"records": [{"c0": "1.0", "c1": 2}]},  # a string, even one that parses
                {"records": [{"c0": 1.0, "c1": 2.5}]},  # not an integer
                {"records": [{"c0": 1.0, "c1": None}]},  # a missing integer
                {"records": []}, {"what": 1}, [], "text"):
        assert plan.matrix(bad, "shipyard") is None, bad
    assert _codec.Plan.of({"inputs": {"type": "columns", "columns": [{"name": "a", "dtype": "str"}]}}, "drop") is None
    assert _codec.Plan.of(signature(["float64"]), "keep") is None  # unexpected columns reach the model: a DataFrame
    assert _codec.Plan.of(None, "drop") is None


def test_a_lone_null_in_a_float_column_is_missing_not_a_string() -> None:
    sig = signature(["float64", "int64"])
    frame = enforce(_codec.decode_shipyard({"records": [{"c0": None, "c1": 3}]}, ["c0", "c1"]), sig)
    assert frame["c0"].dtype == np.float64 and np.isnan(frame["c0"].iloc[0])
    strict = {"inputs": {"type": "columns", "columns": [{"name": "c0", "dtype": "int64", "nullable": False}]}}
    with pytest.raises(ShipyardError, match="c0: has 1 missing value"):
        enforce(_codec.decode_shipyard({"records": [{"c0": None}]}, ["c0"]), strict)


def test_response_cache_is_bounded_and_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr("shipyard.serving._cache.time.monotonic", lambda: clock[0])
    cache = ResponseCache(size=2, ttl=10)
    a, b, c = (input_key(np.array([[float(i)]])) for i in range(3))
    assert len({a, b, c}) == 3 and input_key(np.array([[0.0]])) == a
    cache.put(a, "A")
    cache.put(b, "B")
    assert cache.get(a) == "A"  # a is now the most recent
    cache.put(c, "C")  # evicts b, the least recent
    assert cache.get(b) is None and cache.get(a) == "A" and cache.get(c) == "C" and len(cache) == 2
    clock[0] += 11
    assert cache.get(a) is None and len(cache) == 1
    frame_key = input_key(pd.DataFrame({"x": ["a", "b"]}))
    assert frame_key == input_key(pd.DataFrame({"x": ["a", "b"]})) != input_key(pd.DataFrame({"x": ["a", "c"]}))
