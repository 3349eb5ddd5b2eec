"""The feature store's lineage (training sets recorded as datasets linked to runs), its sources
(Parquet, CSV, SQL over DuckDB files, local files and PostgreSQL) and the messages of its errors."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pandas as pd
import pytest

import shipyard as sy
from shipyard.exceptions import InvalidParameter, NotFound
from shipyard.features import FeatureView, training_set
from shipyard.features._definitions import Source

from ._features_reference import asof_reference, same, write
from .test_features import ORIGIN, entity_rows, trip_rows, trips_view, views, weather_rows

# -- 6. lineage -------------------------------------------------------------------------------------


def test_training_sets_are_recorded_and_linked_to_the_run(tmp_path: Path) -> None:
    from shipyard.workspace import current_workspace

    weather, planes = views(tmp_path)
    sy.features.apply([weather, planes])
    refs = ["weather:temp", "planes:seats"]
    with sy.start_run(experiment="features") as run:
        ts = training_set(entity_rows(), refs, name="flights-train")
    assert ts.dataset is not None and ts.dataset.name == "flights-train" and ts.dataset.num_rows == 7
    links = current_workspace().metadata.list_run_datasets(run.id)
    assert [(link.dataset.id, link.direction) for link in links] == [(ts.dataset.id, "input")]
    assert sy.features.feature_lineage(ts.dataset) == {"weather": 1, "planes": 1}
    assert ts.dataset.profile["features"]["refs"] == ["temp", "seats"]
    assert ts.dataset.source == "features:planes@v1,weather@v1"

    unchanged = training_set(entity_rows(), refs)
    assert unchanged.dataset is not None and unchanged.dataset.digest == ts.dataset.digest
    write(weather_rows().assign(temp=lambda f: f["temp"] + 1), tmp_path / "weather.parquet")
    changed = training_set(entity_rows(), refs)
    assert changed.dataset is not None and changed.dataset.digest != ts.dataset.digest
    longer = sy.FeatureView(name="weather", entities=[ORIGIN], source=weather.source, features=dict(weather.features),
                            ttl="1d")
    sy.features.apply([longer])
    on_disk = training_set(entity_rows(), refs, output=tmp_path / "ts.parquet")
    assert on_disk.dataset is not None and sy.features.feature_lineage(on_disk.dataset) == {"weather": 2, "planes": 1}
    assert on_disk.dataset.num_rows == 7 and training_set(entity_rows(), refs, log=False).dataset is None


# -- 7. sources -------------------------------------------------------------------------------------


def _check_weather(view: FeatureView) -> None:
    sy.features.apply([view])
    df = training_set(entity_rows(), ["weather:temp", "weather:wind"], log=False).to_pandas()
    reference = asof_reference(entity_rows(), weather_rows(), keys=["origin"], ts="ts", created="created",
                               columns=["temp", "wind"], ttl=dt.timedelta(hours=2))
    same(df["temp"].tolist(), reference["temp"].tolist(), "temp")
    same(df["wind"].tolist(), reference["wind"].tolist(), "wind")


def _weather_view(source: Source) -> FeatureView:
    return sy.FeatureView(name="weather", entities=[ORIGIN], source=source, features={"temp": float, "wind": float},
                          ttl="2h")


def test_csv_source(tmp_path: Path) -> None:
    rows = weather_rows().assign(ts=lambda f: f["ts"].map(lambda t: t.isoformat()),
                                 created=lambda f: f["created"].map(lambda t: None if pd.isna(t) else t.isoformat()))
    rows.to_csv(tmp_path / "weather.csv", index=False, sep=";")
    _check_weather(_weather_view(sy.CsvSource(str(tmp_path / "weather.csv"), timestamp="ts", created="created",
                                              delimiter=";")))


@pytest.mark.parametrize("form", ["absolute", "relative"])
def test_sql_source_over_a_duckdb_file(tmp_path: Path, form: str) -> None:
    import duckdb

    rows = weather_rows().assign(n=range(6))
    with duckdb.connect(str(tmp_path / "src.duckdb")) as con:
        con.register("weather_rows", rows)
        con.execute("CREATE TABLE weather AS SELECT * FROM weather_rows")
    uri = f"duckdb:///{tmp_path / 'src.duckdb'}" if form == "absolute" else "duckdb:///src.duckdb"
    _check_weather(_weather_view(sy.SqlSource("SELECT * FROM weather ORDER BY n", timestamp="ts", created="created",
                                              uri=uri)))


def test_sql_source_over_local_files(tmp_path: Path) -> None:
    path = write(weather_rows(), tmp_path / "w.parquet")
    _check_weather(_weather_view(sy.SqlSource(f"SELECT origin, ts, created, temp, wind FROM read_parquet('{path}')",
                                              timestamp="ts", created="created")))


def test_unreadable_sql_sources_are_reported(tmp_path: Path) -> None:
    sy.features.apply([_weather_view(sy.SqlSource("SELECT * FROM weather", timestamp="ts",
                                                  uri="duckdb:///missing.duckdb"))])
    with pytest.raises(InvalidParameter, match="Cannot read the source of feature view 'weather'"):
        training_set(entity_rows(), ["weather:temp"], log=False)
    sy.features.apply([_weather_view(sy.SqlSource("SELECT * FROM weather", timestamp="ts", uri="mysql://h/db"))])
    with pytest.raises(InvalidParameter, match="uri 'mysql://h/db' is not supported"):
        training_set(entity_rows(), ["weather:temp"], log=False)


@pytest.mark.backend("postgres")
def test_sql_source_over_postgres(postgres_uri: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_uri)
    table = f"weather_{uuid.uuid4().hex[:10]}"
    rows = weather_rows().assign(n=range(6))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE TABLE {table} (n int, origin text, ts timestamptz, created timestamptz, "
                                 "temp double precision, wind double precision)"))
            conn.execute(sa.text(f"INSERT INTO {table} VALUES (:n, :origin, :ts, :created, :temp, :wind)"),
                         [{k: (None if pd.isna(v) else v.to_pydatetime() if isinstance(v, pd.Timestamp) else v)
                           for k, v in r.items()} for r in rows.to_dict("records")])
        _check_weather(_weather_view(sy.SqlSource(f"SELECT * FROM {table} ORDER BY n", timestamp="ts",
                                                  created="created", uri=postgres_uri)))
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()


# -- 10. errors ---------------------------------------------------------------------------------------


def test_retrieval_errors_say_what_to_fix(tmp_path: Path) -> None:
    weather, planes = views(tmp_path)
    sy.features.apply([weather, planes])
    entities = entity_rows()
    with pytest.raises(NotFound, match="No feature view 'wether'.*Did you mean 'weather'"):
        training_set(entities, ["wether:temp"])
    with pytest.raises(InvalidParameter, match="has no feature 'tmp'. Did you mean 'temp'"):
        training_set(entities, ["weather:tmp"])
    with pytest.raises(InvalidParameter, match="is not 'view:feature'"):
        training_set(entities, ["weather"])
    with pytest.raises(InvalidParameter, match="takes a list of 'view:feature'"):
        training_set(entities, "weather:temp")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="lack the join key\\(s\\) \\['plane'\\]"):
        training_set(entities.drop(columns="plane"), ["planes:seats"])
    with pytest.raises(InvalidParameter, match="no timestamp column 'event_timestamp'"):
        training_set(entities.drop(columns="event_timestamp"), ["weather:temp"])
    with pytest.raises(InvalidParameter, match="no timestamp column 'when'"):
        training_set(entities, ["weather:temp"], entity_timestamp="when")
    with pytest.raises(InvalidParameter, match="already have columns \\['temp'\\]"):
        training_set(entities.assign(temp=1.0), ["weather:temp"])
    with pytest.raises(InvalidParameter, match="must be a pandas DataFrame or a Parquet path"):
        training_set([1, 2], ["weather:temp"])  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="must be Parquet"):
        training_set("entities.csv", ["weather:temp"])


@pytest.mark.parametrize("refs", [["weather:temp"], ["trips:fare_count_2h"]])
def test_join_key_type_mismatch_is_refused(tmp_path: Path, refs: list[str]) -> None:
    weather, planes = views(tmp_path)
    sy.features.apply([weather, planes, trips_view(write(trip_rows(), tmp_path / "trips.parquet"))])
    numbered = entity_rows().assign(origin=range(7))
    with pytest.raises(InvalidParameter, match="Join key 'origin' is BIGINT in the entity rows but VARCHAR in the "
                                               "source of feature view"):
        training_set(numbered, refs, log=False)
    with pytest.raises(InvalidParameter, match="Join key 'plane' is VARCHAR in the entity rows but BIGINT in the "
                                               "source of feature view 'planes'"):
        training_set(entity_rows().assign(plane=lambda f: f["plane"].astype(str)), ["planes:seats"], log=False)


def test_sources_missing_columns_are_reported(tmp_path: Path) -> None:
    path = write(weather_rows().drop(columns="wind"), tmp_path / "weather.parquet")
    sy.features.apply([_weather_view(sy.ParquetSource(path, timestamp="ts", created="created"))])
    with pytest.raises(InvalidParameter, match="source of feature view 'weather' has no column\\(s\\) \\['wind'\\]"):
        training_set(entity_rows(), ["weather:wind"])
    sy.features.apply([_weather_view(sy.ParquetSource(str(tmp_path / "gone.parquet"), timestamp="ts"))])
    with pytest.raises(InvalidParameter, match="gone.parquet' does not exist"):
        training_set(entity_rows(), ["weather:temp"])


def test_shared_feature_names_need_full_names(tmp_path: Path) -> None:
    weather, _ = views(tmp_path)
    other = sy.FeatureView(name="weather2", entities=[ORIGIN], source=weather.source, features={"temp": float})
    sy.features.apply([weather, other])
    with pytest.raises(InvalidParameter, match="Features \\['temp'\\] come from more than one view: pass full_names=True"):
        training_set(entity_rows(), ["weather:temp", "weather2:temp"])
    df = training_set(entity_rows(), ["weather:temp", "weather2:temp"], full_names=True, log=False).to_pandas()
    assert list(df.columns[-2:]) == ["weather__temp", "weather2__temp"]
    same(df["weather2__temp"].tolist(), asof_reference(entity_rows(), weather_rows(), keys=["origin"], ts="ts",
                                                        created="created", columns=["temp"])["temp"].tolist())
