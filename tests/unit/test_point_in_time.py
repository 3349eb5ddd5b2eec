"""The point-in-time join against an independent reference (pandas ``merge_asof``): known answers for
ties, TTL, nulls and unmatched rows, and hypothesis over random feature histories."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipyard.exceptions import InvalidParameter
from shipyard.features import point_in_time_join
from shipyard.features._pit import join_frames

T0 = pd.Timestamp("2013-01-01", tz="UTC")


def reference(entities: pd.DataFrame, features: pd.DataFrame, ttl: dt.timedelta | None,
              keys: tuple[str, ...] = ("key",)) -> pd.DataFrame:
    """The same join written independently: drop superseded duplicates (latest created — a null created
    time counts as the earliest —, then the last in the source), then merge_asof backward with the TTL as
    tolerance."""
    if features.empty:  # merge_asof wants the key columns' types to match, and an empty frame's do not
        return entities.assign(value=np.nan)[[*keys, "event_timestamp", "value"]].reset_index(drop=True)
    f = features.assign(_order=range(len(features))).sort_values(["ts", "created", "_order"], na_position="first")
    f = f.drop_duplicates(subset=[*keys, "ts"], keep="last").drop(columns=["_order"])
    e = entities.assign(_row=range(len(entities))).sort_values("event_timestamp", kind="stable")
    merged = pd.merge_asof(e, f.sort_values("ts")[[*keys, "ts", "value"]], left_on="event_timestamp", right_on="ts",
                           by=list(keys), direction="backward", allow_exact_matches=True,
                           tolerance=pd.Timedelta(ttl) if ttl is not None else None)
    return merged.sort_values("_row")[[*keys, "event_timestamp", "value"]].reset_index(drop=True)


def test_known_answers_ties_ttl_nulls_and_unmatched() -> None:
    features = pd.DataFrame({
        "key": ["a", "a", "a", "a", "b"],
        "ts": [T0, T0 + pd.Timedelta("1h"), T0 + pd.Timedelta("1h"), T0 + pd.Timedelta("3h"), T0],
        "created": [T0, T0 + pd.Timedelta("2h"), T0 + pd.Timedelta("1h"), T0 + pd.Timedelta("3h"), T0],
        "value": [1.0, 2.0, 99.0, None, 5.0],
    })
    entities = pd.DataFrame({
        "key": ["a", "a", "a", "b", "c", "a"],
        "event_timestamp": [T0 - pd.Timedelta("1m"), T0 + pd.Timedelta("1h"), T0 + pd.Timedelta("3h"),
                            T0 + pd.Timedelta("5h"), T0, T0 + pd.Timedelta("2h")],
        "label": [0, 1, 0, 1, 0, 1],
    })
    out = point_in_time_join(entities, features, keys=["key"], columns=["value"], timestamp="ts", created="created")
    assert list(out["label"]) == [0, 1, 0, 1, 0, 1]  # order and rows kept
    values = out["value"].tolist()
    assert np.isnan(values[0])  # before any feature row
    assert values[1] == 2.0  # the tie at 1h: created later wins (2.0, not 99.0)
    assert np.isnan(values[2])  # the chosen row's value is null: stays null, not the older 2.0
    assert values[3] == 5.0 and np.isnan(values[4]) and values[5] == 2.0
    ttl = point_in_time_join(entities, features, keys=["key"], columns=["value"], timestamp="ts", created="created",
                             ttl=dt.timedelta(hours=2))
    assert np.isnan(ttl["value"].iloc[3]) and ttl["value"].iloc[5] == 2.0  # b's row is 5h old: stale


@pytest.mark.parametrize("fetch", [True, False], ids=["narrow-then-fetch", "one-asof"])
def test_an_entity_row_without_a_time_gets_no_features(fetch: bool) -> None:
    features = pd.DataFrame({"key": ["a", "a"], "ts": [T0, T0 + pd.Timedelta("1h")], "created": [T0, pd.NaT],
                             "value": [1.0, 2.0]})
    entities = pd.DataFrame({"key": ["a", "a", "a"], "event_timestamp": [T0 + pd.Timedelta("2h"), pd.NaT, T0]})
    out = join_frames(entities, features, keys=["key"], columns=["value"], timestamp="ts", created="created",
                      fetch=fetch)
    assert out["value"].iloc[0] == 2.0 and np.isnan(out["value"].iloc[1]) and out["value"].iloc[2] == 1.0


@pytest.mark.parametrize("fetch", [True, False], ids=["narrow-then-fetch", "one-asof"])
def test_keys_and_features_named_like_the_join_s_own_columns(fetch: bool) -> None:
    features = pd.DataFrame({"c0": ["a", "b"], "c1": ["x", "y"], "ts": [T0, T0], "o": [1.0, 2.0], "k": [3, 4]})
    entities = pd.DataFrame({"c0": ["b", "a"], "c1": ["y", "x"], "event_timestamp": [T0, T0]})
    out = join_frames(entities, features, keys=["c0", "c1"], columns=["o", "k"], timestamp="ts", fetch=fetch)
    assert out["o"].tolist() == [2.0, 1.0] and out["k"].tolist() == [4, 3]


@pytest.mark.parametrize("base", [0, -(2**40), 2**40])
@pytest.mark.parametrize("spread", [2, 2**33], ids=["narrow-span", "wide-span"])
def test_integer_keys_match_exactly_inside_and_outside_the_source_span(base: int, spread: int) -> None:
    """Integer keys spanning less than 2**32 are joined as 4-byte offsets; keys outside the span, floats
    and wide spans must still match exactly what they equal."""
    features = pd.DataFrame({"k": [base, base + spread], "ts": [T0, T0], "v": [1.0, 2.0]})
    entities = pd.DataFrame({"k": [base + spread, base, base + 1, base - 1, 2**62, -(2**62)],
                             "event_timestamp": [T0] * 6})
    out = point_in_time_join(entities, features, keys=["k"], columns=["v"], timestamp="ts")
    assert out["v"].tolist()[:2] == [2.0, 1.0] and out["v"].iloc[2:].isna().all()
    floats = pd.DataFrame({"k": [float(base + spread), base + 0.5, base - 0.5, base + spread + 0.25],
                           "event_timestamp": [T0] * 4})
    got = point_in_time_join(floats, features, keys=["k"], columns=["v"], timestamp="ts")["v"]
    assert got.iloc[0] == 2.0 and got.iloc[1:].isna().all()


@pytest.mark.parametrize(("dtype", "lo", "hi"), [("int32", -2_000_000_000, 2_000_000_000), ("int16", -32768, 32767),
                                                ("int8", -100, 100), ("uint64", 2**63, 2**63 + 5)])
def test_narrow_integer_keys_whose_offsets_overflow_their_own_type(dtype: str, lo: int, hi: int) -> None:
    """The offset from the minimum is computed wider than the key (an INTEGER spanning -2e9..2e9 would
    overflow an INTEGER subtraction), on both sides; the entity side may be narrower than the source."""
    features = pd.DataFrame({"k": np.array([lo, hi], dtype=dtype), "ts": [T0, T0], "v": [1.0, 2.0]})
    entities = pd.DataFrame({"k": np.array([hi, lo], dtype=dtype), "event_timestamp": [T0, T0]})
    out = point_in_time_join(entities, features, keys=["k"], columns=["v"], timestamp="ts")
    assert out["v"].tolist() == [2.0, 1.0]
    if dtype != "uint64":
        small = pd.DataFrame({"k": np.array([0, -1], dtype="int8"), "event_timestamp": [T0, T0]})
        wide = features.assign(k=features["k"].astype("int64"))
        assert point_in_time_join(small, wide, keys=["k"], columns=["v"], timestamp="ts")["v"].isna().all()


def test_bad_input_is_refused_with_the_reason() -> None:
    entities = pd.DataFrame({"key": ["a"], "event_timestamp": [T0]})
    features = pd.DataFrame({"key": ["a"], "ts": [T0], "value": [1.0]})
    with pytest.raises(InvalidParameter, match="lack the join key"):
        point_in_time_join(entities.drop(columns=["key"]), features, keys=["key"], columns=["value"], timestamp="ts")
    with pytest.raises(InvalidParameter, match="no timestamp column 'when'"):
        point_in_time_join(entities, features, keys=["key"], columns=["value"], timestamp="when")
    with pytest.raises(InvalidParameter, match="lack \\['nope'\\]"):
        point_in_time_join(entities, features, keys=["key"], columns=["nope"], timestamp="ts")
    with pytest.raises(InvalidParameter, match="prefix="):
        point_in_time_join(entities.assign(value=1), features, keys=["key"], columns=["value"], timestamp="ts")
    naive = entities.assign(event_timestamp=[T0.tz_localize(None)])  # naive means UTC
    assert point_in_time_join(naive, features, keys=["key"], columns=["value"], timestamp="ts")["value"].tolist() == [1.0]


_minutes = st.integers(min_value=0, max_value=40)
_few_minutes = st.integers(min_value=0, max_value=12)  # event times of feature rows: ties are frequent
_second = st.integers(min_value=0, max_value=1)  # a second join key's values


@pytest.mark.parametrize("fetch", [True, False], ids=["narrow-then-fetch", "one-asof"])
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    feature_rows=st.lists(st.tuples(st.sampled_from("abc"), _few_minutes, st.one_of(st.none(), _minutes),
                                    st.one_of(st.none(), st.floats(-5, 5, allow_nan=False)), _second,
                                    st.booleans()), max_size=25),
    entity_rows=st.lists(st.tuples(st.sampled_from("abcd"), _minutes, _second), min_size=1, max_size=15),
    ttl_minutes=st.one_of(st.none(), st.integers(min_value=1, max_value=20)),
    two_keys=st.booleans(),
)
def test_matches_merge_asof_on_random_histories(
        fetch: bool, feature_rows: list[tuple[str, int, int | None, float | None, int, bool]],
        entity_rows: list[tuple[str, int, int]], ttl_minutes: int | None, two_keys: bool) -> None:
    keys = ("key", "n") if two_keys else ("key",)
    for i in range(1, len(feature_rows)):  # a row flagged as a tie takes the keys and event time of the one before
        if feature_rows[i][5]:
            prev = feature_rows[i - 1]
            feature_rows[i] = (prev[0], prev[1], *feature_rows[i][2:4], prev[4], True)
    features = pd.DataFrame({
        "key": [r[0] for r in feature_rows],
        "n": pd.Series([r[4] for r in feature_rows], dtype="int64"),
        "ts": [T0 + pd.Timedelta(minutes=r[1]) for r in feature_rows],
        "created": pd.Series([T0 + pd.Timedelta(minutes=r[2]) if r[2] is not None else pd.NaT for r in feature_rows],
                             dtype="datetime64[ns, UTC]"),
        "value": pd.Series([r[3] for r in feature_rows], dtype="float64"),
    })
    entities = pd.DataFrame({"key": [r[0] for r in entity_rows], "n": [r[2] for r in entity_rows],
                             "event_timestamp": [T0 + pd.Timedelta(minutes=r[1]) for r in entity_rows]})
    if not two_keys:
        features, entities = features.drop(columns=["n"]), entities.drop(columns=["n"])
    ttl = dt.timedelta(minutes=ttl_minutes) if ttl_minutes is not None else None
    ours = join_frames(entities, features, keys=list(keys), columns=["value"], timestamp="ts", created="created",
                       ttl=ttl, fetch=fetch)
    expected = reference(entities, features, ttl, keys)
    assert ours[list(keys)].values.tolist() == expected[list(keys)].values.tolist()
    np.testing.assert_array_equal(ours["value"].to_numpy(dtype=float), expected["value"].to_numpy(dtype=float))
