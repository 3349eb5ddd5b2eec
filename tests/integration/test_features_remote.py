"""The feature store through a team server: definitions and datasets over the platform API, online reads
over ``POST /v1/features/online`` (the server holds the online store), materialization refused without
an online store of the client's own."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import shipyard as sy
from shipyard import config
from shipyard.exceptions import ConfigError, NotFound
from shipyard.workspace import reset_workspace

from .conftest import ServerProcess

T0 = pd.Timestamp("2024-01-01", tz="UTC")


def _use(monkeypatch: pytest.MonkeyPatch, **env: str | None) -> None:
    for key, value in env.items():
        if value is None:
            monkeypatch.delenv(f"SHIPYARD_{key.upper()}", raising=False)
        else:
            monkeypatch.setenv(f"SHIPYARD_{key.upper()}", value)
    config.reset()
    reset_workspace()


def test_a_client_of_a_server_reads_online_features_through_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, online = f"sqlite:///{tmp_path / 'team.db'}", f"sqlite:///{tmp_path / 'team-online.db'}"
    _use(monkeypatch, store_uri=store, online_uri=online)
    pd.DataFrame({"user": ["a", "b", "a"], "ts": [T0, T0, T0 + pd.Timedelta("1h")], "clicks": [1.0, 5.0, 2.0]}) \
        .to_parquet(tmp_path / "clicks.parquet")
    user = sy.Entity("user", join_keys=["user"])
    view = sy.FeatureView(name="activity", entities=[user], features={"clicks": float},
                          source=sy.ParquetSource(str(tmp_path / "clicks.parquet"), timestamp="ts"))
    sy.features.apply([user, view])
    sy.features.materialize(end="2024-01-02T00:00:00Z")
    local = sy.features.online(["activity:clicks"], [{"user": "a"}, {"user": "b"}, {"user": "zz"}])
    with ServerProcess(store, (tmp_path / "artifacts").as_uri(), tmp_path, 1, "--online", online) as server:
        _use(monkeypatch, store_uri=server.url, online_uri=None)
        remote = sy.features.online(["activity:clicks"], [{"user": "a"}, {"user": "b"}, {"user": "zz"}])
        assert remote == local  # values, statuses and event times (epoch microseconds) alike
        assert remote.event_timestamps == local.event_timestamps and local.event_timestamps[1][0] is not None
        assert remote.to_dict() == {"user": ["a", "b", "zz"], "clicks": [2.0, 5.0, None]}
        assert remote.statuses[1] == ["PRESENT", "PRESENT", "NOT_FOUND"]
        with pytest.raises(NotFound, match="No feature view 'nope'"):
            sy.features.online(["nope:clicks"], [{"user": "a"}])
        with pytest.raises(ConfigError, match="online_uri"):
            sy.features.materialize(end="2024-01-02T00:00:00Z")
        entity_rows = pd.DataFrame({"user": ["a", "b"], "event_timestamp": [T0 + pd.Timedelta("30min")] * 2})
        built = sy.features.training_set(entity_rows, ["activity:clicks"], name="remote-train")
        assert built.to_pandas()["clicks"].tolist() == [1.0, 5.0]
        assert built.dataset is not None and sy.features.feature_lineage(built.dataset) == {"activity": 1}
