"""The feature store online: materialization (full, incremental, chunked, interrupted, rebuilt on a new
view version) and online reads, which must agree with the offline training set at the same time for
every entity; Feast's statuses and event times; on-demand views online; the HTTP endpoint with auth."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import shipyard as sy
from shipyard.exceptions import InvalidParameter, NotFound
from shipyard.features import FeatureView, OnlineFeatures, training_set
from shipyard.workspace import current_workspace

from ._features_reference import at, same, write
from .test_features import ORIGIN, feels, plane_rows, trip_rows, trips_view, views, weather_rows

#: An origin whose trips are all more than a day before every materialization time.
OLD = pd.DataFrame({"origin": ["c"], "ts": [at(-3000)], "fare": [3.0], "late": [False]})


def _apply(tmp_path: Path, project: str = "default") -> list[FeatureView]:
    weather, planes = views(tmp_path)
    trips = trips_view(write(pd.concat([trip_rows(), OLD], ignore_index=True), tmp_path / "trips.parquet"))
    sy.features.apply([weather, planes, trips, feels], project=project)
    return [weather, planes, trips]


def _source(view: str) -> pd.DataFrame:
    return {"weather": weather_rows(), "planes": plane_rows(),
            "trips": pd.concat([trip_rows(), OLD], ignore_index=True)}[view]


def _keys(view: FeatureView, rows: pd.DataFrame, end: pd.Timestamp) -> list[Any]:
    """The keys with a source row at or before ``end`` (the entities a materialization writes)."""
    key = view.join_keys[0]
    return sorted({k.item() if hasattr(k, "item") else k for k in rows.loc[rows["ts"] <= end, key]})


def _online(refs: list[str], key: str, values: list[Any], when: pd.Timestamp, project: str = "default",
            **extra: list[Any]) -> OnlineFeatures:
    return sy.features.online(refs, entities={key: values, **extra}, at=when, project=project)


def _column(result: OnlineFeatures, name: str) -> tuple[list[Any], list[str], list[str | None]]:
    i = result.names.index(name)
    return result.values[i], result.statuses[i], result.event_timestamps[i]


def _iso(t: pd.Timestamp) -> str:
    return t.isoformat().replace("+00:00", "Z")


# -- 8. materialization and online reads ------------------------------------------------------------


@pytest.mark.parametrize("end", [at(60), at(125), at(200), at(600)])
def test_online_after_materialize_equals_the_training_set_at_that_time(tmp_path: Path, end: pd.Timestamp) -> None:
    defined = _apply(tmp_path)
    reports = sy.features.materialize(end=end)
    assert sorted(r.view for r in reports) == ["planes", "trips", "weather"]  # on-demand views are not stored
    for view in defined:
        keys = _keys(view, _source(view.name), end)
        key = view.join_keys[0]
        online = _online([f"{view.name}:*"], key, keys, end)
        offline = training_set(pd.DataFrame({key: keys, "event_timestamp": [end] * len(keys)}), [f"{view.name}:*"],
                               log=False).to_pandas()
        assert online.names == [key, *view.feature_types]
        for feature in view.feature_types:
            values, statuses, _ = _column(online, feature)
            same(values, offline[feature].tolist(), f"{view.name}:{feature} at {end}")
            for value, status in zip(values, statuses, strict=True):
                assert status != "NOT_FOUND" and (status == "PRESENT") == (value is not None), (feature, status)
    origins = _keys(defined[0], weather_rows(), end)
    bias = list(range(len(origins)))
    online = _online(["feels:*"], "origin", origins, end, bias=bias)
    offline = training_set(pd.DataFrame({"origin": origins, "event_timestamp": [end] * len(origins), "bias": bias}),
                           ["feels:*"], log=False).to_pandas()
    assert online.names == ["origin", "feels", "windy"]  # the inputs it read are not in the result
    same(_column(online, "feels")[0], offline["feels"].tolist(), "feels")
    same(_column(online, "windy")[0], offline["windy"].tolist(), "windy")


def test_statuses_and_event_timestamps(tmp_path: Path) -> None:
    _apply(tmp_path)
    before = _online(["weather:temp"], "origin", ["a"], at(200))
    assert _column(before, "temp") == ([None], ["NOT_FOUND"], [None])  # nothing materialized yet
    sy.features.materialize(end=at(200))
    result = _online(["weather:temp", "weather:wind"], "origin", ["a", "b", "zz"], at(200))
    assert result.names == ["origin", "temp", "wind"]
    assert _column(result, "origin") == (["a", "b", "zz"], ["PRESENT"] * 3, [None] * 3)
    # a: the row at 180m has a null temp; b: its row at 0m is 200m old, past the 2h TTL; zz: unknown
    assert _column(result, "temp") == ([None, None, None], ["NULL_VALUE", "OUTSIDE_MAX_AGE", "NOT_FOUND"],
                                       [_iso(at(180)), _iso(at(0)), None])
    assert _column(result, "wind") == ([30.0, None, None], ["PRESENT", "OUTSIDE_MAX_AGE", "NOT_FOUND"],
                                       [_iso(at(180)), _iso(at(0)), None])
    exactly = _online(["weather:temp"], "origin", ["b"], at(120))  # exactly at the TTL: still fresh
    assert _column(exactly, "temp")[:2] == ([5.0], ["PRESENT"])
    now = sy.features.online(["weather:wind", "planes:seats"], [{"origin": "a", "plane": 2}])  # judged now
    assert _column(now, "wind")[1] == ["OUTSIDE_MAX_AGE"] and _column(now, "seats")[:2] == ([200.0], ["PRESENT"])
    assert now.to_dict() == {"origin": ["a"], "plane": [2], "wind": [None], "seats": [200.0]}
    assert now.to_pandas().shape == (1, 4)
    trips = _online(["trips:fare_count_2h", "trips:fare_sum_1d"], "origin", ["a", "c"], at(200))
    assert _column(trips, "fare_count_2h") == ([1, 0], ["PRESENT", "PRESENT"], [_iso(at(200))] * 2)  # one null fare
    assert _column(trips, "fare_sum_1d")[:2] == ([65.0, None], ["PRESENT", "NULL_VALUE"])
    unknown = _online(["trips:fare_count_2h", "trips:fare_sum_1d"], "origin", ["zz"], at(200))
    offline = training_set(pd.DataFrame({"origin": ["zz"], "event_timestamp": [at(200)]}),
                           ["trips:fare_count_2h", "trips:fare_sum_1d"], log=False).to_pandas()
    assert offline["fare_count_2h"].tolist() == [0] and offline["fare_sum_1d"].isna().all()
    assert _column(unknown, "fare_count_2h")[:2] == ([0], ["NOT_FOUND"])  # a count agrees with the training set
    assert _column(unknown, "fare_sum_1d")[:2] == ([None], ["NOT_FOUND"])
    full = sy.features.online(["weather:wind"], [{"origin": "a"}], at=at(200), full_names=True)
    assert full.names == ["origin", "weather__wind"]


def test_keys_sent_in_another_type_are_found(tmp_path: Path) -> None:
    """JSON clients send ids as strings or floats: an integer key is found from its digits or an integral
    float, a string key of digits from an integer — never from another spelling ("02", "2.5")."""
    _apply(tmp_path)
    tails = pd.DataFrame({"tail": ["101", "7", "N1"], "ts": [at(0), at(0), at(0)], "age": [3.0, 9.0, 1.0]})
    sy.features.apply([sy.FeatureView(name="tails", entities=[sy.Entity("tail", ["tail"])], features={"age": float},
                                       source=sy.ParquetSource(write(tails, tmp_path / "tails.parquet"),
                                                               timestamp="ts"))])
    sy.features.materialize(end=at(200))
    planes = _online(["planes:seats"], "plane", [2, "2", 2.0, "02", "2.5", 9, "9", True], at(200))
    assert _column(planes, "seats")[:2] == ([200.0] * 3 + [None] * 5, ["PRESENT"] * 3 + ["NOT_FOUND"] * 5)
    by_tail = _online(["tails:age"], "tail", [101, 101.0, "101", 7, "N1", "0101", 102], at(200))
    assert _column(by_tail, "age")[:2] == ([3.0, 3.0, 3.0, 9.0, 1.0, None, None], ["PRESENT"] * 5 + ["NOT_FOUND"] * 2)


def test_key_alternates_cover_each_column_of_a_key() -> None:
    from shipyard.features._online import encode_key, key_alternates

    assert key_alternates(["JFK"]) == [] and key_alternates([True]) == []
    assert key_alternates([7]) == [encode_key(["7"])]
    assert set(key_alternates(["JFK", "12"])) == {encode_key(["JFK", 12])}
    assert set(key_alternates([3.0, "12"])) == {encode_key(k) for k in ([3.0, 12], [3, "12"], [3, 12], ["3", "12"],
                                                                          ["3", 12])}
    assert encode_key(["1", "2", "3", "4"]) in key_alternates([1.0, 2.0, 3.0, 4.0])  # every combination, 4 keys


def _state(project: str, when: pd.Timestamp, tmp_path: Path) -> dict[str, Any]:
    """Every view's values, statuses and (for plain views) event times of every key, read back."""
    state: dict[str, Any] = {}
    for view, key, keys in [("weather", "origin", ["a", "b", "zz"]), ("planes", "plane", [1, 2, 9]),
                            ("trips", "origin", ["a", "b", "c", "zz"])]:
        result = _online([f"{view}:*"], key, keys, when, project=project)
        stamps = result.event_timestamps if view != "trips" else None
        state[view] = (result.names, result.values, result.statuses, stamps)
    return state


def test_incremental_materialization_matches_a_full_one(tmp_path: Path) -> None:
    t1, t2 = at(90), at(600)
    for project in ("full", "inc"):
        _apply(tmp_path, project)
    sy.features.materialize(end=t2, project="full")
    sy.features.materialize(end=t1, project="inc")
    marks = {m.view: m for m in sy.features.materializations(project="inc")}
    assert {v: m.watermark for v, m in marks.items()} == {v: int(t1.timestamp() * 1000)
                                                          for v in ("planes", "trips", "weather")}
    assert all(m.view_version == 1 for m in marks.values())
    reports = sy.features.materialize_incremental(end=t2, project="inc")
    assert {r.view: r.start for r in reports} == {v: int(t1.timestamp() * 1000) for v in ("planes", "trips", "weather")}
    assert {m.watermark for m in sy.features.materializations(project="inc")} == {int(t2.timestamp() * 1000)}
    expected = _state("full", t2, tmp_path)
    assert _state("inc", t2, tmp_path) == expected
    assert expected["weather"][2][1] == ["OUTSIDE_MAX_AGE", "OUTSIDE_MAX_AGE", "NOT_FOUND"]  # temp of a, b, zz
    again = sy.features.materialize_incremental(end=t2, project="inc")  # nothing new: nothing written
    assert [(r.rows, r.chunks) for r in again] == [(0, 0)] * 3
    sy.features.materialize(end=t2, project="inc")  # a full rerun changes nothing either
    assert _state("inc", t2, tmp_path) == expected


def test_small_chunks_give_the_same_state(tmp_path: Path) -> None:
    for project in ("whole", "chunked"):
        _apply(tmp_path, project)
    end = at(600)
    sy.features.materialize(end=end, project="whole")
    seen: list[tuple[str, int]] = []
    reports = sy.features.materialize(end=end, project="chunked", chunk_rows=2,
                                      progress=lambda view, done, _total: seen.append((view, done)))
    chunks = {r.view: r.chunks for r in reports}
    assert chunks["weather"] >= 3 and chunks["planes"] >= 2 and chunks["trips"] == 1
    assert seen and {v for v, _ in seen} == {"planes", "trips", "weather"}
    assert _state("chunked", end, tmp_path) == _state("whole", end, tmp_path)
    _apply(tmp_path, "late")
    late = sy.features.materialize(start=at(100), end=end, project="late")
    # only rows after 100m (aggregations: the entities whose windows reach past 100m, not the old 'c')
    assert {r.view: r.rows for r in late} == {"planes": 0, "trips": 2, "weather": 1}
    assert _column(_online(["weather:wind"], "origin", ["a", "b"], at(200), project="late"), "wind")[:2] == (
        [30.0, None], ["PRESENT", "NOT_FOUND"])
    with pytest.raises(InvalidParameter, match="chunk_rows must be at least 1"):
        sy.features.materialize(end=end, chunk_rows=0)
    with pytest.raises(InvalidParameter, match="start .* must be before end"):
        sy.features.materialize(end=at(0), start=at(10))
    with pytest.raises(InvalidParameter, match="No online feature view \\['feels'\\]"):
        sy.features.materialize(end=end, views=["feels"])


def test_an_interrupted_materialization_resumes_to_the_same_state(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    for project in ("clean", "default"):
        _apply(tmp_path, project)
    end = at(180)  # weather's rows fall in two time chunks: up to 60m, and 180m
    sy.features.materialize(end=end, project="clean", chunk_rows=2)
    store = current_workspace().online
    real = store.write
    calls: list[str] = []

    second_chunk_us = int(at(60).timestamp() * 1_000_000)

    def flaky(view: str, rows: Any) -> int:  # fails on weather's second time chunk, however batches fall
        rows = list(rows)
        calls.append(view)
        if view == "default/weather" and any(r.event_ts > second_chunk_us for r in rows):
            raise ConnectionError("the online store went away")
        return real(view, rows)

    monkeypatch.setattr(store, "write", flaky)
    with pytest.raises(ConnectionError, match="went away"):
        sy.features.materialize(end=end, chunk_rows=2)
    monkeypatch.undo()
    marks = {m.view: m.watermark for m in sy.features.materializations()}
    assert marks["planes"] == marks["trips"] == int(end.timestamp() * 1000)
    assert marks["weather"] < int(end.timestamp() * 1000)  # it stopped after weather's first chunk
    assert _state("default", end, tmp_path) != _state("clean", end, tmp_path)  # a's row at 180m is missing
    sy.features.materialize_incremental(end=end, chunk_rows=2)
    assert _state("default", end, tmp_path) == _state("clean", end, tmp_path)
    sy.features.materialize(end=end)
    assert _state("default", end, tmp_path) == _state("clean", end, tmp_path)


def test_a_new_view_version_rebuilds_the_online_view(tmp_path: Path) -> None:
    _apply(tmp_path)
    sy.features.materialize(end=at(100), views=["weather"])
    assert _column(_online(["weather:wind"], "origin", ["a", "b"], at(100)), "wind")[0] == [20.0, 50.0]
    moved = pd.DataFrame({"origin": ["c"], "ts": [at(50)], "temp": [8.0]})
    replaced = sy.FeatureView(name="weather", entities=[ORIGIN], features={"temp": float},
                              source=sy.ParquetSource(write(moved, tmp_path / "moved.parquet"), timestamp="ts"))
    assert [(d.name, d.version) for d in sy.features.apply([replaced])] == [("weather", 2)]
    sy.features.materialize_incremental(end=at(100), views=["weather"])
    result = _online(["weather:temp"], "origin", ["a", "b", "c"], at(100))
    assert _column(result, "temp")[:2] == ([None, None, 8.0], ["NOT_FOUND", "NOT_FOUND", "PRESENT"])
    assert current_workspace().online.count("default/weather") == 1
    mark = sy.features.materializations()[0]
    assert (mark.view, mark.view_version) == ("weather", 2)


def test_on_demand_views_online(tmp_path: Path) -> None:
    _apply(tmp_path)
    sy.features.materialize(end=at(120))
    rows = [{"origin": "a", "bias": 1}, {"origin": "b", "bias": 2}, {"origin": "zz", "bias": 3}]
    result = sy.features.online(["feels:feels", "weather:temp"], rows, at=at(120))
    assert result.names == ["origin", "feels", "temp"]
    feels_values, feels_statuses, feels_stamps = _column(result, "feels")
    assert feels_statuses == ["PRESENT", "PRESENT", "NULL_VALUE"] and feels_stamps == [None] * 3
    offline = training_set(pd.DataFrame({"origin": ["a", "b", "zz"], "event_timestamp": [at(120)] * 3,
                                         "bias": [1, 2, 3]}), ["feels:feels", "weather:temp"], log=False).to_pandas()
    same(feels_values, offline["feels"].tolist(), "feels")
    same(feels_values, [2.0 - 2.0 + 1, 5.0 - 5.0 + 2, None], "feels by hand")
    full = sy.features.online(["feels:feels"], rows, at=at(120), full_names=True)
    assert full.names == ["origin", "feels__feels"]
    lonely = sy.features.online(["feels:windy", "feels:feels"], [{"origin": "zz", "bias": 1}], at=at(120))
    assert _column(lonely, "windy")[0] == [False] and _column(lonely, "feels")[:2] == ([None], ["NULL_VALUE"])
    offline_lonely = training_set(pd.DataFrame({"origin": ["zz"], "event_timestamp": [at(120)], "bias": [1]}),
                                  ["feels:windy"], log=False).to_pandas()
    assert offline_lonely["windy"].tolist() == [False]
    with pytest.raises(InvalidParameter, match="needs the request field 'bias'"):
        sy.features.online(["feels:feels"], [{"origin": "a"}], at=at(120))


def test_online_read_errors(tmp_path: Path) -> None:
    _apply(tmp_path)
    with pytest.raises(NotFound, match="No feature view 'wether'.*Did you mean 'weather'"):
        sy.features.online(["wether:temp"], [{"origin": "a"}])
    with pytest.raises(InvalidParameter, match="has no feature 'tmp'. Did you mean 'temp'"):
        sy.features.online(["weather:tmp"], [{"origin": "a"}])
    with pytest.raises(InvalidParameter, match="keyed by \\['plane'\\]; the request lacks \\['plane'\\]"):
        sy.features.online(["planes:seats"], [{"origin": "a"}])
    with pytest.raises(InvalidParameter, match="needs entity_rows="):
        sy.features.online(["weather:temp"], [])
    with pytest.raises(InvalidParameter, match="the same number of values"):
        sy.features.online(["weather:temp"], entities={"origin": ["a", "b"], "bias": [1]})


# -- 9. the HTTP endpoint ------------------------------------------------------------------------------


def _client(auth: bool = False) -> Any:
    with warnings.catch_warnings():  # starlette asks for httpx2, which this environment does not have
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
        from fastapi.testclient import TestClient

    from shipyard.server._app import create_app
    from shipyard.workspace import build_workspace

    ws = build_workspace()
    return TestClient(create_app(ws, auth=auth)), ws


@pytest.mark.parametrize("path", ["/v1/features/online", "/get-online-features"])
def test_http_online_features(tmp_path: Path, path: str) -> None:
    _apply(tmp_path)
    sy.features.materialize(end=at(200))
    client, ws = _client()
    with client:
        body = {"features": ["weather:temp", "weather:wind", "trips:fare_count_2h"],
                "entities": {"origin": ["a", "b", "zz"]}, "at": at(200).isoformat()}
        response = client.post(path, json=body)
        assert response.status_code == 200, response.text
        data = response.json()
        assert data["metadata"] == {"feature_names": ["origin", "temp", "wind", "fare_count_2h"]}
        assert [sorted(r) for r in data["results"]] == [["event_timestamps", "statuses", "values"]] * 4
        assert data["results"][1] == {"values": [None, None, None],
                                      "statuses": ["NULL_VALUE", "OUTSIDE_MAX_AGE", "NOT_FOUND"],
                                      "event_timestamps": [_iso(at(180)), _iso(at(0)), None]}
        assert data == sy.features.online(body["features"], entities=body["entities"], at=at(200)).to_response()
        full = client.post(path, json={**body, "features": ["feels:feels"], "full_feature_names": True,
                                       "entities": {"origin": ["a"], "bias": [1]}})
        assert full.status_code == 200 and full.json()["metadata"]["feature_names"] == ["origin", "feels__feels"]

        missing = client.post(path, json={**body, "features": ["ghost:temp"]})
        assert missing.status_code == 404 and "No feature view 'ghost'" in missing.json()["message"]
        unknown = client.post(path, json={**body, "features": ["weather:tmp"]})
        assert unknown.status_code == 400, unknown.text
        assert "Did you mean 'temp'" in unknown.json()["message"]
        for bad in ({"features": ["weather:temp"]}, {"features": "weather:temp", "entities": {"origin": ["a"]}},
                    {"entities": {"origin": ["a"]}}):
            invalid = client.post(path, json=bad)
            assert invalid.status_code == 422 and invalid.json()["error_code"] == "INVALID_PARAMETER"
        service = client.post(path, json={**body, "feature_service": "svc"})
        assert service.status_code == 422 and "not supported" in service.json()["message"]
    ws.close()


def test_http_online_features_with_auth(tmp_path: Path) -> None:
    from shipyard.access import issue_token
    from shipyard.entities import Role

    _apply(tmp_path)
    sy.features.materialize(end=at(200))
    client, ws = _client(auth=True)
    store = ws.metadata
    for name in ("bo", "cy"):
        store.create_user(name)
    viewer = issue_token(store, "bo", "default", Role.VIEWER)[1]
    stranger = issue_token(store, "cy", "other", Role.EDITOR)[1]
    body = {"features": ["weather:wind"], "entities": {"origin": ["a"]}, "at": at(200).isoformat()}
    with client:
        read = client.post("/v1/features/online", json=body, headers={"Authorization": f"Bearer {viewer}"})
        assert read.status_code == 200 and read.json()["results"][1]["values"] == [30.0]
        refused = client.post("/v1/features/online", json=body, headers={"Authorization": f"Bearer {stranger}"})
        assert refused.status_code == 403 and "needs viewer on project 'default'" in refused.json()["message"]
        other = client.post("/v1/features/online", json={**body, "project": "other"},
                            headers={"Authorization": f"Bearer {viewer}"})
        assert other.status_code == 403
        assert client.post("/get-online-features", json=body).status_code == 401
    ws.close()


def test_materialize_keeps_declared_ttl_semantics_online_and_offline(tmp_path: Path) -> None:
    """A TTL of zero means no limit, online as offline."""
    weather, _ = views(tmp_path, ttl=None)
    forever = sy.FeatureView(name="weather", entities=[ORIGIN], source=weather.source, features=dict(weather.features),
                             ttl=dt.timedelta(0))
    sy.features.apply([forever])
    sy.features.materialize(end=at(600))
    result = _online(["weather:wind"], "origin", ["b"], at(10_000))
    offline = training_set(pd.DataFrame({"origin": ["b"], "event_timestamp": [at(10_000)]}), ["weather:wind"],
                           log=False).to_pandas()
    assert _column(result, "wind")[:2] == ([50.0], ["PRESENT"]) and offline["wind"].tolist() == [50.0]


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=-2 * 10**15, max_value=7 * 10**15))
def test_event_times_format_exactly_as_iso_8601(micros: int) -> None:
    from shipyard.features._online import _iso

    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    assert _iso(micros) == (epoch + dt.timedelta(microseconds=micros)).isoformat().replace("+00:00", "Z")
    assert "." not in str(_iso(micros - micros % 1_000_000))  # whole seconds: no fraction, as isoformat()
    from shipyard.features._online import _micros

    assert _micros(_iso(micros)) == micros  # a client of a team server reads back the exact time


@given(st.lists(st.one_of(st.none(), st.integers(min_value=-2 * 10**15, max_value=7 * 10**15),
                          st.integers(min_value=-2 * 10**9, max_value=7 * 10**9).map(lambda s: s * 1_000_000)),
                max_size=20))
def test_a_column_of_event_times_formats_as_each_value_does(micros: list[int | None]) -> None:
    from shipyard.features._online import _iso, _iso_column

    assert _iso_column(micros) == [_iso(us) for us in micros]


def test_event_timestamps_are_formatted_when_first_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read keeps each value's event time as epoch microseconds; the ISO strings are made once per view,
    on the first access of ``event_timestamps`` (a prediction that fetches features never pays for them)."""
    from shipyard.features import _online as module

    _apply(tmp_path)
    sy.features.materialize(end=at(200))
    formatted: list[list[int | None]] = []
    monkeypatch.setattr(module, "_iso_column", lambda col: formatted.append(list(col)) or
                        [None if us is None else str(us) for us in col])
    result = _online(["weather:temp", "weather:wind"], "origin", ["a", "zz"], at(200))
    micros = int(at(180).value // 1000)
    assert result.event_times_us == [[None, None], [micros, None], [micros, None]]
    assert formatted == [] and result._iso is None
    assert result.event_timestamps == [[None, None], [str(micros), None], [str(micros), None]]
    assert formatted == [[None, None], [micros, None]]  # the key column, then the view's two features at once
    monkeypatch.undo()
    result = _online(["weather:temp", "weather:wind"], "origin", ["a", "zz"], at(200))
    stamps = result.event_timestamps
    assert stamps == [[None, None], [_iso(at(180)), None], [_iso(at(180)), None]]
    assert result.event_timestamps is stamps and stamps[1] is stamps[2]  # once per view, then kept
    assert result.to_response()["results"][2]["event_timestamps"] == [_iso(at(180)), None]
