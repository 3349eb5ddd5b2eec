"""The feature store offline: definitions, plan/apply, the CLI, point-in-time training sets and window
aggregations against independent pandas references (known answers and hypothesis), on-demand views,
lineage, sources and error messages. Online reads and materialization: test_features_online.py."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import shipyard as sy
from shipyard.exceptions import InvalidParameter, NotFound
from shipyard.features import FeatureView, OnDemandFeatureView, training_set
from shipyard.features._definitions import Entity, Source

from ._features_reference import T0, asof_reference, at, brute_aggregate, brute_latest, same, write

ORIGIN = sy.Entity("origin", ["origin"])
PLANE = sy.Entity("plane", ["plane"])


def weather_rows() -> pd.DataFrame:
    """Ties on event time (created breaks them; a null created loses), a null value, rows of several keys."""
    return pd.DataFrame({
        "origin": ["a", "a", "a", "a", "b", "b"],
        "ts": [at(0), at(60), at(60), at(180), at(0), at(0)],
        "created": [at(0), at(120), at(60), at(180), at(0), pd.NaT],
        "temp": [1.0, 2.0, 99.0, None, 5.0, 7.0],
        "wind": [10.0, 20.0, 99.0, 30.0, 50.0, 70.0],
    })


def plane_rows() -> pd.DataFrame:
    """No created column: exact duplicates of key and event time are broken by the source order."""
    return pd.DataFrame({"plane": [1, 1, 1, 2], "ts": [at(0), at(60), at(60), at(30)],
                         "seats": [100.0, 150.0, 160.0, 200.0]})


def entity_rows() -> pd.DataFrame:
    """Before any feature row, ties, a null value, past the TTL, exactly at the TTL, an unknown key; a
    non-default index that must survive."""
    return pd.DataFrame({
        "origin": ["a", "a", "a", "b", "c", "a", "b"],
        "plane": [1, 1, 2, 2, 3, 1, 1],
        "event_timestamp": [at(-1), at(60), at(180), at(300), at(0), at(120), at(120)],
        "label": [0, 1, 0, 1, 0, 1, 1],
    }, index=[10, 3, 7, 42, 5, 8, 1])


def views(tmp_path: Path, ttl: str | None = "2h") -> tuple[FeatureView, FeatureView]:
    weather = sy.FeatureView(name="weather", entities=[ORIGIN],
                             source=sy.ParquetSource(write(weather_rows(), tmp_path / "weather.parquet"),
                                                     timestamp="ts", created="created"),
                             features={"temp": float, "wind": float}, ttl=ttl)
    planes = sy.FeatureView(name="planes", entities=[PLANE],
                            source=sy.ParquetSource(write(plane_rows(), tmp_path / "planes.parquet"), timestamp="ts"),
                            features={"seats": float})
    return weather, planes


# -- 1. definitions -------------------------------------------------------------------------------

_SRC = sy.ParquetSource("x.parquet", timestamp="ts")


def _view(**kw: Any) -> FeatureView:
    args: dict[str, Any] = {"name": "v", "entities": [ORIGIN], "source": _SRC, "features": {"temp": float}, **kw}
    return sy.FeatureView(**args)


def _demand(**kw: Any) -> OnDemandFeatureView:
    args: dict[str, Any] = {"name": "demand", "inputs": ["weather:temp"], "features": {"out": float}, **kw}
    return sy.on_demand(**args)(lambda df: df)


@pytest.mark.parametrize(("make", "match"), [
    (lambda: sy.Entity("bad name", ["k"]), "An entity name 'bad name' is not valid"),
    (lambda: sy.Entity("e", []), "needs join_keys"),
    (lambda: _view(name="9lives"), "A feature view name '9lives' is not valid"),
    (lambda: _view(name=""), "is not valid"),
    (lambda: _view(features={}), "needs either features=.* not both or neither"),
    (lambda: _view(aggregations=[sy.Aggregation("temp", "sum", "1h")]), "not both or neither"),
    (lambda: _view(features={"temp": list}), "Feature 'temp' has type .*use float, int, str, bool or datetime"),
    (lambda: _view(features={"temp": "decimal"}), "has type 'decimal'"),
    (lambda: _view(features={"bad name": float}), "A feature name 'bad name' is not valid"),
    (lambda: _view(entities=[]), "needs entities="),
    (lambda: _view(source="x.parquet"), "source must be a ParquetSource"),
    (lambda: _view(ttl="forever"), "ttl of 'v' 'forever' is not a duration"),
    (lambda: _view(ttl="-1h"), "is not a duration"),
    (lambda: _view(ttl=-5), "ttl of 'v' must be zero .* or positive, got -5"),
    (lambda: _view(ttl=dt.timedelta(hours=-1)), "must be zero .* or positive"),
    (lambda: _view(entities=[ORIGIN, sy.Entity("o2", ["origin"])]), "share join keys"),
    (lambda: sy.Aggregation("fare", "median", "1h"), "function 'median' is not known; use one of"),
    (lambda: sy.Aggregation("fare", "sum", "soon"), "aggregation window 'soon' is not a duration"),
    (lambda: sy.Aggregation("fare", "sum", dt.timedelta(0)), "aggregation window must be positive"),
    (lambda: _view(features={}, aggregations=[sy.Aggregation("f", "sum", "1h"), sy.Aggregation("f", "sum", "60m",
                                                                                                name="f_sum_1h")]),
     "two aggregations named alike"),
    (lambda: _demand(features={}), "needs features="),
    (lambda: _demand(inputs=["temp"]), "input 'temp' is not 'view:feature'"),
    (lambda: _demand(inputs=["weather:"]), "is not 'view:feature'"),
    (lambda: _demand(inputs=[":temp"]), "is not 'view:feature'"),
    (lambda: _demand(features={"out": "complex"}), "has type 'complex'"),
    (lambda: OnDemandFeatureView("d", 3, features={"x": float}), "needs a function"),  # type: ignore[arg-type]
    (lambda: Source.from_spec({"type": "excel", "timestamp": "ts"}), "Unknown source type 'excel'"),
])
def test_definitions_refuse_bad_input_with_the_reason(make: Callable[[], object], match: str) -> None:
    with pytest.raises(InvalidParameter, match=match):
        make()


def test_a_zero_ttl_means_no_limit() -> None:
    assert _view(ttl=0).ttl_ms == 0 and _view(ttl="6h").ttl_ms == 6 * 3_600_000


@pytest.mark.parametrize("view", [
    _view(source=sy.ParquetSource("w/*.parquet", timestamp="ts", created="made"), ttl="6h", description="d",
          tags={"team": "ops"}, online=False, features={"temp": float, "n": int, "s": str, "b": bool,
                                                        "t": dt.datetime}),
    _view(features={}, aggregations=[sy.Aggregation("fare", "sum", "2h"), sy.Aggregation("fare", "std", "1d"),
                                     sy.Aggregation("late", "share", dt.timedelta(minutes=90), name="late_share")]),
    _view(entities=[ORIGIN, PLANE], source=sy.CsvSource("x.csv", timestamp="ts", delimiter=";"), ttl=dt.timedelta(0)),
    _view(source=sy.SqlSource("SELECT * FROM t", timestamp="ts", uri="duckdb:///x.duckdb")),
    _view(source=sy.SqlSource("SELECT * FROM t", timestamp="ts", created="c", uri="postgresql://h/db")),
], ids=["parquet", "aggregations", "csv-two-entities", "sql-duckdb", "sql-postgres"])
def test_specs_round_trip(view: FeatureView) -> None:
    again = FeatureView.from_spec(view.name, view.spec())
    assert again.spec() == view.spec()
    assert again.feature_types == view.feature_types and again.join_keys == view.join_keys


def test_entity_and_on_demand_specs_round_trip() -> None:
    entity = sy.Entity("route", ["origin", "dest"], description="a route")
    assert Entity.from_spec("route", entity.spec()) == entity

    @sy.on_demand(inputs=["weather:temp"], request=["bias"], features={"warm": float})
    def warm(df: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"warm": df["weather:temp"] + df["bias"]})

    again = OnDemandFeatureView.from_spec("warm", warm.record())
    assert again.spec() == warm.spec()
    frame = pd.DataFrame({"weather:temp": [1.0, 2.0], "bias": [10, 20]}, index=[7, 9])
    pd.testing.assert_frame_equal(again.apply(frame), warm.apply(frame))
    assert list(again.apply(frame).index) == [7, 9]


# -- 2. plan / apply / load_module / CLI -----------------------------------------------------------


def test_plan_and_apply_version_only_what_changed(tmp_path: Path) -> None:
    weather, planes = views(tmp_path)
    first = sy.features.plan([weather, planes])
    assert sorted((c.kind, c.name, c.action) for c in first.changes) == [
        ("entity", "origin", "added"), ("entity", "plane", "added"), ("feature_view", "planes", "added"),
        ("feature_view", "weather", "added")]
    written = sy.features.apply([weather, planes])
    assert sorted((d.name, d.version) for d in written) == [("origin", 1), ("plane", 1), ("planes", 1), ("weather", 1)]
    again = sy.features.plan([weather, planes])
    assert {c.action for c in again.changes} == {"unchanged"} and again.pending == []
    assert sy.features.apply([weather, planes]) == []  # no new version
    assert sy.features.get_view("weather").spec() == weather.spec()

    longer = sy.FeatureView(name="weather", entities=[ORIGIN], source=weather.source, features=dict(weather.features),
                            ttl="3h")
    changed = {c.name: c for c in sy.features.plan([longer, planes]).changes}
    assert changed["weather"].action == "changed" and changed["weather"].version == 1
    assert any(line.startswith("-") and '"ttl_ms": 7200000' in line for line in changed["weather"].diff)
    assert any(line.startswith("+") and '"ttl_ms": 10800000' in line for line in changed["weather"].diff)
    assert changed["planes"].action == "unchanged"
    assert [(d.name, d.version) for d in sy.features.apply([longer, planes])] == [("weather", 2)]
    assert sy.features.get_view("weather").ttl_ms == 3 * 3_600_000
    assert sy.features.get_view("weather", version=1).ttl_ms == 2 * 3_600_000

    pruned = {c.name: c.action for c in sy.features.plan([longer]).changes}
    assert pruned == {"origin": "unchanged", "weather": "unchanged", "plane": "removed", "planes": "removed"}
    assert {c.name: c.action for c in sy.features.plan([longer], prune=False).changes} == {
        "origin": "unchanged", "weather": "unchanged"}
    removed = sy.features.apply([longer], prune=True)
    assert sorted((d.name, d.deleted) for d in removed) == [("plane", True), ("planes", True)]
    assert [d.name for d in sy.features.definitions("feature_view")] == ["weather"]
    with pytest.raises(NotFound, match="planes"):
        sy.features.get_view("planes")


def test_apply_refuses_on_demand_views_reading_unknown_features(tmp_path: Path) -> None:
    weather, _ = views(tmp_path)
    with pytest.raises(InvalidParameter, match="reads 'weather:humidity', but 'weather' has no feature 'humidity'"):
        sy.features.apply([weather, _demand(inputs=["weather:humidity"])])
    with pytest.raises(InvalidParameter, match="no feature view 'ghost' is defined or applied"):
        sy.features.apply([weather, _demand(inputs=["ghost:temp"])])
    assert sy.features.definitions() == []  # nothing half-applied
    sy.features.apply([weather])
    assert [d.name for d in sy.features.apply([_demand()])] == ["demand"]  # an applied view is found
    stored = sy.features.get_view("demand")
    assert stored.spec() == _demand().spec() and sy.features.apply([stored]) == []  # a stored view is unchanged


FEATURES_PY = '''
import pandas as pd
import shipyard as sy

origin = sy.Entity("origin", join_keys=["origin"])
weather = sy.FeatureView(name="weather", entities=[origin], features={{"temp": float, "wind": float}}, ttl="{ttl}",
                         source=sy.ParquetSource("weather.parquet", timestamp="ts", created="created"))


@sy.on_demand(inputs=["weather:temp"], features={{"temp_f": float}})
def fahrenheit(df):
    return pd.DataFrame({{"temp_f": df["weather:temp"] * 9 / 5 + 32}})
'''


def test_load_module_finds_every_definition(tmp_path: Path) -> None:
    write(weather_rows(), tmp_path / "weather.parquet")
    with pytest.raises(InvalidParameter, match="No features module here"):
        sy.features.load_module()
    (tmp_path / "features.py").write_text(FEATURES_PY.format(ttl="2h"))
    found = sy.features.load_module()
    assert sorted((d.kind, d.name) for d in found) == [("entity", "origin"), ("feature_view", "fahrenheit"),
                                                       ("feature_view", "weather")]
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text(FEATURES_PY.format(ttl="1h"))
    assert {d.name for d in sy.features.load_module(package)} == {"origin", "weather", "fahrenheit"}
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(InvalidParameter, match="failed to import: RuntimeError: boom"):
        sy.features.load_module(tmp_path / "broken.py")
    with pytest.raises(InvalidParameter, match="No features module at"):
        sy.features.load_module(tmp_path / "missing.py")
    sy.features.apply(found)
    ts = training_set(entity_rows(), ["fahrenheit:temp_f"], log=False)
    same(ts.to_pandas()["temp_f"].tolist(), [None, 35.6, None, None, None, 35.6, 41.0])


def _cli(*args: str, code: int = 0) -> str:
    from shipyard.cli._app import app

    result = CliRunner().invoke(app, ["features", *args])
    assert result.exit_code == code, f"{args}: exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    return result.output


def test_cli_plan_apply_list_materialize_online_training_set(tmp_path: Path) -> None:
    write(weather_rows(), tmp_path / "weather.parquet")
    (tmp_path / "features.py").write_text(FEATURES_PY.format(ttl="2h"))
    out = _cli("plan", "--exit-code", code=3)
    assert "added" in out and "weather" in out and "Plan: 3 added" in out
    assert {c["action"] for c in json.loads(_cli("plan", "--json"))} == {"added"}
    _cli("apply")
    assert "Plan: 0 added, 0 changed, 0 removed, 3 unchanged" in _cli("plan", "--exit-code")
    (tmp_path / "features.py").write_text(FEATURES_PY.format(ttl="3h"))
    changed = _cli("plan", "--exit-code", code=3)
    assert "changed" in changed and "ttl_ms" in changed
    assert [(d["name"], d["version"]) for d in json.loads(_cli("apply", "--json"))] == [("weather", 2)]

    listing = _cli("list")
    assert "weather" in listing and "fahrenheit" in listing and "origin" in listing
    listed = {d["name"]: d for d in json.loads(_cli("list", "--json"))}
    assert listed["weather"]["version"] == 2 and listed["weather"]["watermark"] is None
    assert "pickle" not in listed["fahrenheit"]["spec"]
    assert [h["version"] for h in json.loads(_cli("list", "--history", "weather", "--json"))] == [1, 2]
    assert "History of feature_view/weather" in _cli("list", "--history", "weather")

    end = at(120).isoformat()
    reports = json.loads(_cli("materialize", "--end", end, "--json"))
    assert [(r["view"], r["rows"]) for r in reports] == [("weather", 2)]
    assert "weather" in _cli("materialize", "--end", end)
    listed = {d["name"]: d for d in json.loads(_cli("list", "--json"))}
    assert listed["weather"]["watermark"] == int(at(120).timestamp() * 1000)
    body = json.loads(_cli("online", "-f", "weather:temp", "-f", "fahrenheit:temp_f", "-e", "origin=a",
                           "-e", "origin=zz", "--at", end, "--json"))
    assert body["metadata"]["feature_names"] == ["origin", "temp", "temp_f"]
    assert [r["values"] for r in body["results"]] == [["a", "zz"], [2.0, None], [35.6, None]]
    assert body["results"][1]["statuses"] == ["PRESENT", "NOT_FOUND"]
    assert "NOT_FOUND" in _cli("online", "-f", "weather:temp", "-e", "origin=zz")

    entity_rows().to_parquet(tmp_path / "entities.parquet", index=False)
    out = _cli("training-set", "entities.parquet", "-o", "ts.parquet", "-f", "weather:temp", "-f", "fahrenheit:temp_f")
    assert "Wrote 7 rows" in out and "weather@v2" in out
    written = pd.read_parquet(tmp_path / "ts.parquet")
    expected = training_set(entity_rows(), ["weather:temp", "fahrenheit:temp_f"], log=False).to_pandas()
    pd.testing.assert_frame_equal(written, expected.reset_index(drop=True), check_dtype=False)
    entity_rows().assign(event_timestamp=lambda f: f["event_timestamp"].map(lambda t: t.isoformat())).to_csv(
        tmp_path / "entities.csv", index=False)
    assert "Wrote 7 rows" in _cli("training-set", "entities.csv", "-o", "csv.parquet", "-f", "weather:temp")
    same(pd.read_parquet(tmp_path / "csv.parquet")["temp"].tolist(), expected["temp"].tolist(), "from CSV rows")


# -- 3. training sets ------------------------------------------------------------------------------


def test_training_set_known_answers_two_views_with_different_keys(tmp_path: Path) -> None:
    weather, planes = views(tmp_path)
    sy.features.apply([weather, planes])
    entities = entity_rows()
    before = entities.copy()
    ts = training_set(entities, ["weather:temp", "planes:seats", "weather:wind"], log=False)
    df = ts.to_pandas()
    pd.testing.assert_frame_equal(entities, before)  # the caller's frame is not touched
    assert list(df.index) == list(entities.index)  # never dropped, duplicated or reordered
    assert list(df.columns[:4]) == list(entities.columns)
    assert sorted(df.columns[4:]) == ["seats", "temp", "wind"] and ts.features == ["temp", "seats", "wind"]
    pd.testing.assert_frame_equal(df[["origin", "plane", "label"]], entities[["origin", "plane", "label"]])
    assert (df["event_timestamp"] == entities["event_timestamp"]).all()
    # before anything; the tie at 60m (created later wins); the chosen row's null stays null; b at 300m is
    # 5h old (stale); unknown c; a at 120m; b at 120m exactly at the TTL (kept; created beats a null created)
    same(df["temp"].tolist(), [None, 2.0, None, None, None, 2.0, 5.0], "temp")
    same(df["wind"].tolist(), [None, 20.0, 30.0, None, None, 20.0, 50.0], "wind")
    same(df["seats"].tolist(), [None, 160.0, 200.0, 200.0, None, 160.0, 160.0], "seats")  # last duplicate wins
    reference = asof_reference(entities, weather_rows(), keys=["origin"], ts="ts", created="created",
                               columns=["temp", "wind"], ttl=dt.timedelta(hours=2))
    same(df["temp"].tolist(), reference["temp"].tolist(), "temp vs merge_asof")
    same(df["wind"].tolist(), reference["wind"].tolist(), "wind vs merge_asof")
    same(df["seats"].tolist(), asof_reference(entities, plane_rows(), keys=["plane"], ts="ts",
                                              columns=["seats"])["seats"].tolist(), "seats vs merge_asof")
    assert ts.views == {"weather": 1, "planes": 1} and ts.dataset is None and len(ts) == 7


def test_output_file_and_entity_rows_from_parquet_give_the_same_rows(tmp_path: Path) -> None:
    weather, planes = views(tmp_path)
    sy.features.apply([weather, planes])
    entities = entity_rows()
    refs = ["weather:*", "planes:seats"]
    memory = training_set(entities, refs, log=False).to_pandas()
    on_disk = training_set(entities, refs, output=tmp_path / "out" / "ts.parquet", log=False)
    assert on_disk.df is None and on_disk.path == tmp_path / "out" / "ts.parquet" and len(on_disk) == 7
    flat = memory.reset_index(drop=True)
    pd.testing.assert_frame_equal(on_disk.to_pandas(), flat, check_dtype=False)
    entities.to_parquet(tmp_path / "entities.parquet", index=False)
    from_path = training_set(str(tmp_path / "entities.parquet"), refs, log=False).to_pandas()
    pd.testing.assert_frame_equal(from_path[flat.columns], flat, check_dtype=False)
    assert list(tmp_path.glob("out/.tmp-*")) == []  # the temporary file was renamed


def test_entity_columns_with_labels_that_are_not_strings_are_kept(tmp_path: Path) -> None:
    weather, planes = views(tmp_path)
    sy.features.apply([weather, planes])
    entities = entity_rows()
    entities[0] = range(len(entities))  # e.g. a column from a NumPy array, labelled 0
    df = training_set(entities, ["weather:temp", "planes:seats"], log=False).to_pandas()
    assert list(df.columns) == ["origin", "plane", "event_timestamp", "label", "0", "temp", "seats"]
    assert df["0"].tolist() == list(range(len(entities))) and list(df.index) == list(entities.index)


def test_entity_rows_from_a_glob_keep_the_files_name_order_then_their_rows(tmp_path: Path) -> None:
    weather, planes = views(tmp_path)
    sy.features.apply([weather, planes])
    entities = entity_rows().reset_index(drop=True)
    folder = tmp_path / "ents"
    folder.mkdir()
    parts = {"b.parquet": entities.iloc[3:], "a.parquet": entities.iloc[:1], "ab.parquet": entities.iloc[1:3]}
    for name, part in parts.items():  # written out of name order; one file per row group or more
        part.to_parquet(folder / name, index=False, row_group_size=1)
    refs = ["weather:*", "planes:seats"]
    expected = training_set(entities, refs, log=False).to_pandas().reset_index(drop=True)
    got = training_set(str(folder / "*.parquet"), refs, log=False).to_pandas()
    pd.testing.assert_frame_equal(got[expected.columns], expected, check_dtype=False)


@pytest.mark.parametrize("pattern", ["*.parquet", ""], ids=["glob", "directory"])
def test_exact_ties_across_files_of_a_glob_go_to_the_last_file_then_row(tmp_path: Path, pattern: str) -> None:
    """A glob's (or a directory's) files are read in name order: among rows with the same key, event time
    and created time, the one in the later file wins, and within a file the later row; created still
    beats order."""
    folder = tmp_path / "w"
    folder.mkdir()
    rows = {"a.parquet": [("x", 60, 60, 1.0), ("x", 60, 60, 2.0), ("y", 0, 5, 8.0)],
            "b.parquet": [("x", 60, 60, 3.0), ("y", 0, 0, 9.0)],
            "c.parquet": [("x", 30, 30, 4.0)]}
    for name, part in rows.items():
        write(pd.DataFrame({"origin": [r[0] for r in part], "ts": [at(r[1]) for r in part],
                            "made": [at(r[2]) for r in part], "temp": [r[3] for r in part]}), folder / name)
    view = sy.FeatureView(name="w", entities=[ORIGIN], features={"temp": float},
                          source=sy.ParquetSource(str(folder / pattern) if pattern else str(folder), timestamp="ts",
                                                  created="made"))
    sy.features.apply([ORIGIN, view])
    ents = pd.DataFrame({"origin": ["x", "x", "y"], "event_timestamp": [at(60), at(45), at(1)]})
    got = training_set(ents, ["w:temp"], log=False).to_pandas()["temp"].tolist()
    same(got, [3.0, 4.0, 8.0], "glob ties")


def test_unusual_entity_frames_still_join(tmp_path: Path) -> None:
    weather, planes = views(tmp_path)
    sy.features.apply([weather, planes])
    empty = training_set(pd.DataFrame({"origin": [], "event_timestamp": []}), ["weather:temp"], log=False).to_pandas()
    assert list(empty.columns) == ["origin", "event_timestamp", "temp"] and empty.empty
    kinds = pd.DataFrame({"origin": pd.Categorical(["b", "a", "b"]), "plane": pd.Series([1, 2, 9], dtype="int32"),
                          "event_timestamp": [at(120), at(60), at(120)]})
    joined = training_set(kinds, ["weather:temp", "planes:seats"], log=False).to_pandas()
    same(joined["temp"].tolist(), [5.0, 2.0, 5.0], "temp by a categorical key")  # a duplicate row is kept
    same(joined["seats"].tolist(), [160.0, 200.0, None], "seats by an int32 key")
    nulls = pd.DataFrame({"origin": [None, None], "event_timestamp": [at(60), at(60)]}, index=["x", "y"])
    unmatched = training_set(nulls, ["weather:temp"], log=False).to_pandas()
    assert list(unmatched.index) == ["x", "y"] and unmatched["temp"].isna().all()
    naive = entity_rows().assign(event_timestamp=lambda f: f["event_timestamp"].dt.tz_localize(None))
    same(training_set(naive, ["weather:temp"], log=False).to_pandas()["temp"].tolist(),
         [None, 2.0, None, None, None, 2.0, 5.0], "naive times are UTC")


def _frame_of(rows: list[tuple[Any, ...]], names: list[str], dtypes: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({n: pd.Series([r[i] for r in rows], dtype=dtypes[n]) for i, n in enumerate(names)})


_min = st.integers(min_value=0, max_value=40)
_value = st.one_of(st.none(), st.floats(-5, 5, allow_nan=False))


def _tied(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows whose last field (a flag, dropped) is true take the key and event time of the row before: ties,
    which independent random times would rarely give."""
    out = [r[:-1] for r in rows]
    for i in range(1, len(out)):
        if rows[i][-1]:
            out[i] = (out[i - 1][0], out[i - 1][1], *out[i][2:])
    return out


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    weather=st.lists(st.tuples(st.sampled_from("abc"), _min, st.one_of(st.none(), _min), _value, st.booleans()),
                     max_size=20),
    planes=st.lists(st.tuples(st.integers(1, 3), _min, _value, st.booleans()), max_size=15),
    entities=st.lists(st.tuples(st.sampled_from("abcd"), st.integers(1, 4), _min), min_size=1, max_size=12),
    ttl=st.one_of(st.none(), st.integers(min_value=1, max_value=20)),
)
def test_training_sets_match_merge_asof_on_random_histories(
        tmp_path: Path, weather: list[tuple[Any, ...]], planes: list[tuple[Any, ...]],
        entities: list[tuple[Any, ...]], ttl: int | None) -> None:
    weather, planes = _tied(weather), _tied(planes)
    w = _frame_of(weather, ["origin", "ts", "created", "temp"],
                  {"origin": "str", "ts": "int64", "created": "float64", "temp": "float64"})
    w = w.assign(ts=T0 + pd.to_timedelta(w["ts"], unit="min"), created=T0 + pd.to_timedelta(w["created"], unit="min"))
    p = _frame_of(planes, ["plane", "ts", "seats"], {"plane": "int64", "ts": "int64", "seats": "float64"})
    p = p.assign(ts=T0 + pd.to_timedelta(p["ts"], unit="min"))
    e = _frame_of(entities, ["origin", "plane", "event_timestamp"],
                  {"origin": "str", "plane": "int64", "event_timestamp": "int64"})
    e = e.assign(event_timestamp=T0 + pd.to_timedelta(e["event_timestamp"], unit="min"))
    e.index = pd.Index([f"row{i}" for i in range(len(e))][::-1])
    w_ttl = dt.timedelta(minutes=ttl) if ttl else None
    sy.features.apply([
        sy.FeatureView(name="weather", entities=[ORIGIN], features={"temp": float}, ttl=w_ttl,
                       source=sy.ParquetSource(write(w, tmp_path / "w.parquet"), timestamp="ts", created="created")),
        sy.FeatureView(name="planes", entities=[PLANE], features={"seats": float},
                       source=sy.ParquetSource(write(p, tmp_path / "p.parquet"), timestamp="ts"))])
    df = training_set(e, ["weather:temp", "planes:seats"], log=False).to_pandas()
    assert list(df.index) == list(e.index) and list(df["origin"]) == list(e["origin"])
    expected_temp = asof_reference(e, w, keys=["origin"], ts="ts", created="created", columns=["temp"], ttl=w_ttl)
    expected_seats = asof_reference(e, p, keys=["plane"], ts="ts", columns=["seats"])
    same(df["temp"].tolist(), expected_temp["temp"].tolist(), "temp")
    same(df["seats"].tolist(), expected_seats["seats"].tolist(), "seats")


def _humidity_rows() -> pd.DataFrame:
    return pd.DataFrame({"origin": ["a", "c", "a", "c"], "ts": [at(30), at(30), at(90), at(200)],
                         "humidity": [0.5, 0.6, None, 0.8]})


@pytest.mark.parametrize("every", [None, "1h"])
def test_range_retrieval_matches_a_brute_force_expectation(tmp_path: Path, every: str | None) -> None:
    weather, _ = views(tmp_path)
    humidity = sy.FeatureView(name="humidity", entities=[ORIGIN], features={"humidity": float},
                              source=sy.ParquetSource(write(_humidity_rows(), tmp_path / "h.parquet"), timestamp="ts"))
    sy.features.apply([weather, humidity])
    start, end = at(30), at(180)
    df = training_set(features=["weather:temp", "humidity:humidity"], start=start, end=end, every=every,
                      log=False).to_pandas()
    sources = pd.concat([weather_rows()[["origin", "ts"]], _humidity_rows()[["origin", "ts"]]])
    if every is None:
        points = {(o, t) for o, t in zip(sources["origin"], sources["ts"], strict=True) if start <= t <= end}
    else:
        keys = {o for o, t in zip(sources["origin"], sources["ts"], strict=True) if t <= end}
        grid = pd.date_range(start, end, freq=every)
        points = {(o, t) for o in keys for t in grid}
    expected = sorted(points, key=lambda p: (p[1], p[0]))
    assert list(zip(df["origin"], df["event_timestamp"], strict=True)) == expected
    assert list(df.index) == list(range(len(expected)))
    for column, rows, kw in [("temp", weather_rows(), {"created": "created", "ttl": dt.timedelta(hours=2)}),
                             ("humidity", _humidity_rows(), {})]:
        brute = [brute_latest(rows, keys=["origin"], key=(o,), t=t, ts="ts", columns=[column], **kw)[column]
                 for o, t in expected]
        same(df[column].tolist(), brute, column)
    with pytest.raises(InvalidParameter, match="needs entity rows, or start= and end="):
        training_set(features=["weather:temp"], start=start)


def test_range_retrieval_needs_views_with_the_same_keys(tmp_path: Path) -> None:
    sy.features.apply(list(views(tmp_path)))
    with pytest.raises(InvalidParameter, match="share the same join keys"):
        training_set(features=["weather:temp", "planes:seats"], start=at(0), end=at(60))


# -- 4. window aggregations ------------------------------------------------------------------------

AGGS = [("fare", f, "2h") for f in ("count", "sum", "mean", "min", "max", "std", "count_distinct")] + \
    [("late", "share", "2h"), ("fare", "count", "1d"), ("fare", "sum", "1d"), ("late", "share", "1d")]
WINDOWS = {"2h": dt.timedelta(hours=2), "1d": dt.timedelta(days=1)}


def trips_view(path: str) -> FeatureView:
    return sy.FeatureView(name="trips", entities=[ORIGIN], source=sy.ParquetSource(path, timestamp="ts"),
                          aggregations=[sy.Aggregation(c, f, w) for c, f, w in AGGS])


def check_aggregates(df: pd.DataFrame, rows: pd.DataFrame, entities: pd.DataFrame) -> None:
    for column, function, window in AGGS:
        name = f"{column}_{function}_{window}"
        expected = [brute_aggregate(rows, keys=["origin"], key=(o,), t=t, ts="ts", column=column, function=function,
                                    window=WINDOWS[window])
                    for o, t in zip(entities["origin"], entities["event_timestamp"], strict=True)]
        same(df[name].tolist(), expected, name)
        if function in ("count", "count_distinct"):
            assert df[name].dtype.kind == "i", f"{name} should be integers (0 for empty windows)"


def trip_rows() -> pd.DataFrame:
    """Rows of 'a' exactly at t (in) and exactly at t - 2h (out of the 2h window), a null fare, 'b'
    with one row (std is null)."""
    return pd.DataFrame({
        "origin": ["a", "a", "a", "a", "a", "b", "a"],
        "ts": [at(0), at(60), at(120), at(120), at(-600), at(100), at(500)],
        "fare": [10.0, 20.0, 30.0, None, 5.0, 7.0, 1000.0],
        "late": [True, False, None, True, False, True, True],
    })


def test_window_aggregations_known_answers(tmp_path: Path) -> None:
    rows = trip_rows()
    sy.features.apply([trips_view(write(rows, tmp_path / "trips.parquet"))])
    entities = pd.DataFrame({"origin": ["a", "a", "b", "z", "a"],
                             "event_timestamp": [at(120), at(0), at(100), at(120), at(-1)]}, index=[5, 4, 3, 2, 1])
    df = training_set(entities, ["trips:*"], log=False).to_pandas()
    assert list(df.index) == [5, 4, 3, 2, 1]
    first = df.iloc[0]  # a at 120m, 2h window (0, 120]: 20, 30 and a null; 0m is out, 120m is in
    assert (first["fare_count_2h"], first["fare_sum_2h"], first["fare_min_2h"], first["fare_max_2h"]) == (2, 50.0, 20.0,
                                                                                                          30.0)
    assert first["late_share_2h"] == 0.5 and first["fare_count_1d"] == 4 and first["fare_sum_1d"] == 65.0
    assert df.iloc[2]["fare_count_2h"] == 1 and np.isnan(df.iloc[2]["fare_std_2h"])
    empty = df.iloc[3]  # 'z' has no rows: counts 0, the rest null
    assert empty["fare_count_2h"] == 0 and empty["fare_count_distinct_2h"] == 0 and np.isnan(empty["fare_sum_2h"])
    assert df.iloc[4]["fare_count_2h"] == 0 and df.iloc[4]["fare_count_1d"] == 1  # only the row 10h before
    check_aggregates(df, rows, entities)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.tuples(st.sampled_from("ab"), st.integers(0, 30).map(lambda m: m * 15),
                            st.one_of(st.none(), st.integers(-3, 3).map(float)), st.one_of(st.none(), st.booleans())),
                  max_size=25),
    entities=st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 30).map(lambda m: m * 15)), min_size=1,
                      max_size=10),
)
def test_window_aggregations_match_brute_force(tmp_path: Path, rows: list[tuple[Any, ...]],
                                               entities: list[tuple[Any, ...]]) -> None:
    frame = _frame_of(rows, ["origin", "ts", "fare", "late"],
                      {"origin": "str", "ts": "int64", "fare": "float64", "late": "boolean"})
    frame = frame.assign(ts=T0 + pd.to_timedelta(frame["ts"], unit="min"))
    e = _frame_of(entities, ["origin", "event_timestamp"], {"origin": "str", "event_timestamp": "int64"})
    e = e.assign(event_timestamp=T0 + pd.to_timedelta(e["event_timestamp"], unit="min"))
    sy.features.apply([trips_view(write(frame, tmp_path / "trips.parquet"))])
    df = training_set(e, ["trips:*"], log=False).to_pandas()
    assert list(df["origin"]) == list(e["origin"])
    check_aggregates(df, frame, e)


# -- 5. on-demand views (offline; online: test_features_online.py) -----------------------------------


@sy.on_demand(inputs=["weather:temp", "weather:wind"], request=["bias"], features={"feels": float, "windy": bool})
def feels(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"feels": df["weather:temp"] - df["weather:wind"] / 10 + df["bias"],
                         "windy": df["weather:wind"] > 25})


@pytest.mark.parametrize("full_names", [False, True])
def test_on_demand_views_offline(tmp_path: Path, full_names: bool) -> None:
    weather, planes = views(tmp_path)
    sy.features.apply([weather, planes, feels])
    entities = entity_rows().assign(bias=[1, 2, 3, 4, 5, 6, 7])
    prefix = (lambda view: f"{view}__") if full_names else (lambda view: "")
    df = training_set(entities, ["feels:feels", "planes:seats"], full_names=full_names, log=False).to_pandas()
    assert sorted(c for c in df.columns if c not in entities.columns) == sorted([f"{prefix('feels')}feels",
                                                                                  f"{prefix('planes')}seats"])
    reference = asof_reference(entities, weather_rows(), keys=["origin"], ts="ts", created="created",
                               columns=["temp", "wind"], ttl=dt.timedelta(hours=2))
    expected = reference["temp"] - reference["wind"] / 10 + entities["bias"]
    same(df[f"{prefix('feels')}feels"].tolist(), expected.tolist(), "feels")
    both = training_set(entities, ["weather:temp", "feels:*"], full_names=full_names, log=False).to_pandas()
    assert f"{prefix('weather')}temp" in both.columns and f"{prefix('weather')}wind" not in both.columns
    assert list(both.columns[-3:]) == [f"{prefix('weather')}temp", f"{prefix('feels')}feels",
                                       f"{prefix('feels')}windy"]
    same(both[f"{prefix('feels')}windy"].tolist(), [False, False, True, False, False, False, True], "windy")
    on_disk = training_set(entities, ["feels:feels"], full_names=full_names, output=tmp_path / "od.parquet",
                           log=False).to_pandas()
    same(on_disk[f"{prefix('feels')}feels"].tolist(), expected.tolist(), "feels on disk")
    assert f"{prefix('weather')}temp" not in on_disk.columns


def test_on_demand_view_failures_are_reported(tmp_path: Path) -> None:
    weather, _ = views(tmp_path)

    @sy.on_demand(inputs=["weather:temp"], features={"x": float})
    def broken(df: pd.DataFrame) -> pd.DataFrame:
        raise ZeroDivisionError("nope")

    @sy.on_demand(inputs=["weather:temp"], features={"x": float})
    def short(df: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"x": [1.0]})

    sy.features.apply([weather, broken, short])
    with pytest.raises(InvalidParameter, match="On-demand view 'broken' failed: ZeroDivisionError: nope"):
        training_set(entity_rows(), ["broken:x"], log=False)
    with pytest.raises(InvalidParameter, match="must return 7 rows with columns \\['x'\\]; got 1 rows"):
        training_set(entity_rows(), ["short:x"], log=False)
    sy.features.apply([feels])
    with pytest.raises(InvalidParameter, match="KeyError: 'bias'"):  # the request field is not in the entity rows
        training_set(entity_rows(), ["feels:feels"], log=False)

