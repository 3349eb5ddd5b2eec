"""A deployment that declares online features: the client sends entity keys and request fields, the
server reads the features from the online store, the model sees (and the prediction log keeps) them."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline

import shipyard as sy
from shipyard.exceptions import InvalidParameter, NotFound
from shipyard.serving._app import InferenceServer
from shipyard.workspace import current_workspace

from .test_inference_server import serving

T0 = pd.Timestamp("2024-03-01", tz="UTC")


@pytest.fixture
def deployed(tmp_path: Path) -> tuple[Pipeline, pd.DataFrame]:
    rng = np.random.default_rng(3)
    stations = [f"S{i}" for i in range(20)]
    hours = pd.date_range(T0, periods=48, freq="h")
    weather = pd.DataFrame([(s, h, float(rng.normal(10, 5))) for s in stations for h in hours],
                           columns=["station", "ts", "temp"])
    weather.loc[weather["station"] == "S0", "temp"] = np.nan  # a present row with a null value
    weather.to_parquet(tmp_path / "weather.parquet")
    station = sy.Entity("station", join_keys=["station"])
    view = sy.FeatureView(name="weather", entities=[station], ttl="2h", features={"temp": float},
                          source=sy.ParquetSource(str(tmp_path / "weather.parquet"), timestamp="ts"))
    sy.features.apply([station, view])
    train = pd.DataFrame({"station": rng.choice(stations, 400), "distance": rng.uniform(1, 10, 400),
                          "event_timestamp": rng.choice(hours, 400)})
    table = sy.features.training_set(train, ["weather:temp"], log=False).to_pandas().fillna({"temp": 10.0})
    label = (table["temp"] + table["distance"] > 15).astype(int)
    model = make_pipeline(SimpleImputer(), LogisticRegression()).fit(table[["distance", "temp"]], label)
    with sy.start_run() as run:
        info = run.log_model(model, name="model", input_example=table[["distance", "temp"]].head(3))
    sy.register_model(info.uri, "temp-model")
    sy.set_alias("temp-model", "champion", 1)
    sy.features.materialize(end=hours[-1].isoformat())
    sy.deploy("with-features", routes={"temp-model@champion": 100}, features=["weather:temp"])
    return model, weather


def test_the_server_adds_online_features_and_logs_what_it_used(
        deployed: tuple[Pipeline, pd.DataFrame]) -> None:
    model, weather = deployed
    at = int(pd.Timestamp(weather["ts"].max()).timestamp() * 1000)
    server = InferenceServer(current_workspace(), "default", deployments=["with-features"], reload_seconds=0,
                             clock=lambda: at)
    rows = [{"station": "S3", "distance": 4.0}, {"station": "S7", "distance": 9.5}]
    with serving(server) as url:
        answer = httpx.post(f"{url}/v1/deployments/with-features/predict", json={"records": rows})
        assert answer.status_code == 200, answer.text
        missing = httpx.post(f"{url}/v1/deployments/with-features/predict",
                             json={"records": [{"station": "nowhere", "distance": 1.0}]})
        assert missing.status_code == 200, missing.text  # no online value: a missing feature, as for any null
    server.close()
    latest = weather[weather["ts"] == weather["ts"].max()].set_index("station")["temp"]
    expected = model.predict(pd.DataFrame({"distance": [4.0, 9.5], "temp": [latest["S3"], latest["S7"]]})).tolist()
    assert answer.json()["predictions"] == expected
    logged = sy.predictions("with-features")
    used = logged[logged["request_id"] == answer.json()["request_id"]].sort_values("row")
    np.testing.assert_allclose(used["in_temp"], [latest["S3"], latest["S7"]])
    assert used["in_station"].tolist() == ["S3", "S7"]
    assert logged[logged["request_id"] == missing.json()["request_id"]]["in_temp"].isna().all()


def test_past_the_ttl_the_feature_is_missing(deployed: tuple[Pipeline, pd.DataFrame]) -> None:
    _, weather = deployed
    later = int((pd.Timestamp(weather["ts"].max()) + pd.Timedelta("3h")).timestamp() * 1000)
    server = InferenceServer(current_workspace(), "default", deployments=["with-features"], reload_seconds=0,
                             clock=lambda: later)
    with serving(server) as url:
        answer = httpx.post(f"{url}/v1/deployments/with-features/predict",
                            json={"records": [{"station": "S3", "distance": 4.0}]})
        assert answer.status_code == 200, answer.text
    server.close()
    logged = sy.predictions("with-features")
    assert logged[logged["request_id"] == answer.json()["request_id"]]["in_temp"].isna().all()


def test_deploy_refuses_features_that_do_not_exist(deployed: tuple[Pipeline, pd.DataFrame]) -> None:
    with pytest.raises(InvalidParameter, match="no feature 'tmp'.*Did you mean 'temp'"):
        sy.deploy("with-features", routes={"temp-model@champion": 100}, features=["weather:tmp"])
    with pytest.raises(NotFound, match="No feature view 'wether'"):
        sy.deploy("with-features", routes={"temp-model@champion": 100}, features=["wether:temp"])
    with pytest.raises(InvalidParameter, match="'view:feature'"):
        sy.deploy("with-features", routes={"temp-model@champion": 100}, features="weather:temp")  # type: ignore[arg-type]
    off = sy.deploy("with-features", routes={"temp-model@champion": 100}, features=[])
    assert "features" not in off.config
    kept = sy.deploy("with-features", routes={"temp-model@champion": 100}, features=["weather:temp"])
    again = sy.deploy("with-features", routes={"temp-model@champion": 100})
    assert list(kept.config["features"]) == list(again.config["features"]) == ["weather:temp"]
