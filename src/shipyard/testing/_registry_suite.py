"""``RegistryStoreSuite``: the registry behaviour every metadata store must show."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from shipyard.entities import ModelVersionStatus
from shipyard.exceptions import AlreadyExists, InvalidParameter, NotFound
from shipyard.storage.base import MetadataStore


class RegistryStoreSuite:
    """Mixed into :class:`MetadataStoreSuite`; uses its ``store`` and ``project`` fixtures."""

    def _version(self, store: MetadataStore, project: str, name: str, ready: bool = True, **kw: Any) -> int:
        mv = store.create_model_version(
            project, name, source=kw.pop("source", "runs:/x/model"), storage_uri="file:///tmp/m", run_id=kw.pop("run_id", None),
            flavor="sklearn", manifest={"files": {"model.pkl": "a" * 64}}, manifest_sha256="b" * 64,
            signature={"inputs": {"type": "tensor", "dtype": "float64", "shape": [-1, 3]}}, **kw,
        )
        if ready:
            store.update_model_version(project, name, mv.version, status=ModelVersionStatus.READY)
        return mv.version

    def test_registered_model_crud(self, store: MetadataStore, project: str) -> None:
        model = store.create_registered_model(project, "churn", "predicts churn", {"team": "ops"})
        assert (model.name, model.description, dict(model.tags), model.latest_version) == ("churn", "predicts churn", {"team": "ops"}, None)
        with pytest.raises(AlreadyExists):
            store.create_registered_model(project, "churn")
        updated = store.update_registered_model(project, "churn", description="v2", set_tags={"tier": "1"}, delete_tags=["team"])
        assert updated.description == "v2" and dict(updated.tags) == {"tier": "1"}
        with pytest.raises(NotFound, match="Did you mean 'churn'"):
            store.get_registered_model(project, "chrun")

    def test_versions_number_up_and_carry_their_record(self, store: MetadataStore, project: str) -> None:
        versions = [self._version(store, project, "m", description=f"d{i}", tags={"i": str(i)}) for i in range(3)]
        assert versions == [1, 2, 3]
        mv = store.get_model_version(project, "m", 2)
        assert mv.status is ModelVersionStatus.READY and mv.description == "d1" and dict(mv.tags) == {"i": "1"}
        assert mv.manifest["files"] == {"model.pkl": "a" * 64} and mv.signature["inputs"]["shape"] == [-1, 3]
        assert mv.uri == "models:/m/2"
        assert store.get_registered_model(project, "m").latest_version == 3
        with pytest.raises(NotFound, match="Available versions: 1–3"):
            store.get_model_version(project, "m", 9)
        assert [v.version for v in store.search_model_versions(project, "m")] == [3, 2, 1]
        trimmed = store.update_model_version(project, "m", 2, set_tags={"j": "2"}, delete_tags=["i"])
        assert dict(trimmed.tags) == {"j": "2"}

    def test_version_status_and_failed_message(self, store: MetadataStore, project: str) -> None:
        v = self._version(store, project, "m", ready=False)
        assert store.get_model_version(project, "m", v).status is ModelVersionStatus.REGISTERING
        store.update_model_version(project, "m", v, status=ModelVersionStatus.FAILED, status_message="hash mismatch")
        failed = store.get_model_version(project, "m", v)
        assert failed.status is ModelVersionStatus.FAILED and failed.status_message == "hash mismatch"
        with pytest.raises(InvalidParameter, match="only READY"):
            store.set_alias(project, "m", "champion", v)
        statuses = [ModelVersionStatus.READY]
        assert store.search_model_versions(project, "m", statuses=statuses) == []

    def test_register_from_missing_run(self, store: MetadataStore, project: str) -> None:
        with pytest.raises(NotFound, match="no such run"):
            self._version(store, project, "m", run_id=uuid.uuid4().hex)
        with pytest.raises(NotFound):
            store.get_registered_model(project, "m")  # nothing half-created

    def test_aliases_move_atomically_with_history(self, store: MetadataStore, project: str) -> None:
        for _ in range(3):
            self._version(store, project, "m")
        first = store.set_alias(project, "m", "champion", 1, "ana", "initial")
        time.sleep(0.005)
        second = store.set_alias(project, "m", "champion", 3, "bo", "better AUC")
        store.set_alias(project, "m", "challenger", 2)
        assert (first.previous_version, second.previous_version) == (None, 1)
        model = store.get_registered_model(project, "m")
        assert dict(model.aliases) == {"champion": 3, "challenger": 2}
        assert store.get_model_version(project, "m", 3).aliases == ("champion",)
        history = store.alias_history(project, "m", "champion")
        assert [(e.version, e.previous_version, e.actor, e.reason) for e in history] == [
            (1, None, "ana", "initial"), (3, 1, "bo", "better AUC")]
        assert len(store.alias_history(project, "m")) == 3
        store.set_alias(project, "m", "challenger", None, "ana", "retired")
        assert "challenger" not in store.get_registered_model(project, "m").aliases
        assert store.alias_history(project, "m", "challenger")[-1].version is None
        with pytest.raises(NotFound):
            store.set_alias(project, "m", "challenger", None)
        with pytest.raises(NotFound):
            store.set_alias(project, "m", "champion", 42)

    def test_archive_refused_while_aliased(self, store: MetadataStore, project: str) -> None:
        self._version(store, project, "m")
        self._version(store, project, "m")
        store.set_alias(project, "m", "champion", 1)
        with pytest.raises(InvalidParameter, match="@champion"):
            store.update_model_version(project, "m", 1, status=ModelVersionStatus.ARCHIVED)
        assert store.update_model_version(project, "m", 2, status=ModelVersionStatus.ARCHIVED).status is ModelVersionStatus.ARCHIVED
        store.set_alias(project, "m", "champion", None)
        store.update_model_version(project, "m", 1, status=ModelVersionStatus.ARCHIVED)

    def test_search_models_and_versions(self, store: MetadataStore, project: str) -> None:
        store.create_registered_model(project, "flight-delay", tags={"team": "ops"})
        store.create_registered_model(project, "flight-cancel", tags={"team": "ds"})
        store.create_registered_model(project, "churn")
        self._version(store, project, "flight-delay", tags={"stage": "prod"})
        self._version(store, project, "flight-delay")
        store.set_alias(project, "flight-delay", "champion", 1)
        assert [m.name for m in store.search_registered_models(project, name_like="FLIGHT%")] == ["flight-cancel", "flight-delay"]
        assert [m.name for m in store.search_registered_models(project, tags={"team": "ops"})] == ["flight-delay"]
        assert [m.name for m in store.search_registered_models(project, alias="champion")] == ["flight-delay"]
        assert [v.version for v in store.search_model_versions(project, tags={"stage": "prod"})] == [1]
        assert store.search_registered_models(project + "-other") == []

    def test_models_are_per_project(self, store: MetadataStore, project: str) -> None:
        self._version(store, project, "m")
        with pytest.raises(NotFound):
            store.get_registered_model(project + "-b", "m")
        assert self._version(store, project + "-b", "m") == 1
