"""``FeatureRegistryStoreSuite``: entity and feature-view definitions as versioned records, and the
materialization watermarks, as every metadata store must keep them."""

from __future__ import annotations

import threading

import pytest

from shipyard.exceptions import AlreadyExists, InvalidParameter, NotFound
from shipyard.storage.base import MetadataStore


def _view(name: str, digest: str, **spec: object) -> dict[str, object]:
    return {"kind": "feature_view", "name": name, "digest": digest, "spec": {"features": {"temp": "float"}, **spec}}


_ENTITY = {"kind": "entity", "name": "origin", "digest": "e1", "spec": {"join_keys": ["origin"]}}


class FeatureRegistryStoreSuite:
    """Mixed into :class:`MetadataStoreSuite`; uses its ``store`` and ``project`` fixtures."""

    def test_apply_versions_only_what_changed(self, store: MetadataStore, project: str) -> None:
        first = store.apply_feature_definitions(project, [_ENTITY, _view("weather", "d1")])
        assert [(d.kind, d.name, d.version) for d in first] == [("entity", "origin", 1), ("feature_view", "weather", 1)]
        assert store.apply_feature_definitions(project, [_ENTITY, _view("weather", "d1")]) == []
        second = store.apply_feature_definitions(project, [_ENTITY, _view("weather", "d2", ttl_ms=5)])
        assert [(d.name, d.version, d.digest) for d in second] == [("weather", 2, "d2")]
        latest = store.get_feature_definition(project, "feature_view", "weather")
        assert (latest.version, latest.deleted, dict(latest.spec)["ttl_ms"]) == (2, False, 5)
        assert store.get_feature_definition(project, "feature_view", "weather", 1).digest == "d1"
        listed = store.list_feature_definitions(project)
        assert [(d.kind, d.name, d.version) for d in listed] == [("entity", "origin", 1), ("feature_view", "weather", 2)]
        assert [d.name for d in store.list_feature_definitions(project, "entity")] == ["origin"]
        history = store.list_feature_definitions(project, history="feature_view/weather")
        assert [d.version for d in history] == [1, 2]

    def test_remove_leaves_a_deleted_version_and_reapply_revives(self, store: MetadataStore, project: str) -> None:
        store.apply_feature_definitions(project, [_ENTITY, _view("weather", "d1"), _view("planes", "p1")])
        removed = store.apply_feature_definitions(project, [], remove=[["feature_view", "planes"]])
        assert [(d.name, d.version, d.deleted) for d in removed] == [("planes", 2, True)]
        assert [d.name for d in store.list_feature_definitions(project, "feature_view")] == ["weather"]
        with pytest.raises(NotFound, match="No feature view 'planes'"):
            store.get_feature_definition(project, "feature_view", "planes")
        assert store.get_feature_definition(project, "feature_view", "planes", 1).digest == "p1"
        with pytest.raises(NotFound, match="to remove"):
            store.apply_feature_definitions(project, [], remove=[["feature_view", "planes"]])
        again = store.apply_feature_definitions(project, [_view("planes", "p1")])
        assert [(d.version, d.deleted) for d in again] == [(3, False)]

    def test_apply_is_one_transaction(self, store: MetadataStore, project: str) -> None:
        store.apply_feature_definitions(project, [_view("weather", "d1")])
        with pytest.raises(NotFound):
            store.apply_feature_definitions(project, [_view("weather", "d2"), _view("new", "n1")],
                                            remove=[["feature_view", "missing"]])
        assert store.get_feature_definition(project, "feature_view", "weather").digest == "d1"
        assert [d.name for d in store.list_feature_definitions(project)] == ["weather"]

    def test_bad_definitions_are_refused(self, store: MetadataStore, project: str) -> None:
        with pytest.raises(InvalidParameter, match="kind"):
            store.apply_feature_definitions(project, [{"kind": "table", "name": "x", "digest": "d", "spec": {}}])
        with pytest.raises(InvalidParameter, match="name"):
            store.apply_feature_definitions(project, [_view("", "d")])
        with pytest.raises(InvalidParameter, match="once per call"):
            store.apply_feature_definitions(project, [_view("w", "a"), _view("w", "b")])
        with pytest.raises(NotFound, match="Did you mean 'weather'"):
            store.apply_feature_definitions(project, [_view("weather", "d1")])
            store.get_feature_definition(project, "feature_view", "weathr")
        with pytest.raises(NotFound, match="no version 9"):
            store.get_feature_definition(project, "feature_view", "weather", 9)

    def test_materialization_watermarks(self, store: MetadataStore, project: str) -> None:
        assert store.list_materializations(project) == []
        one = store.set_materialization(project, "weather", view_version=1, watermark=1000, rows=10)
        two = store.set_materialization(project, "weather", view_version=1, watermark=2000, rows=5,
                                        expected_watermark=1000)
        assert (one.rows, two.rows, two.watermark) == (10, 15, 2000)
        with pytest.raises(AlreadyExists, match="moved"):
            store.set_materialization(project, "weather", view_version=1, watermark=3000, rows=1,
                                      expected_watermark=1000)
        rebuilt = store.set_materialization(project, "weather", view_version=2, watermark=500, rows=7)
        assert (rebuilt.view_version, rebuilt.rows, rebuilt.watermark) == (2, 7, 500)
        store.set_materialization(project, "airports", view_version=1, watermark=10, rows=1)
        assert [(m.view, m.watermark) for m in store.list_materializations(project)] == [("airports", 10),
                                                                                         ("weather", 500)]

    def test_concurrent_watermark_moves_cannot_both_win(self, store: MetadataStore, project: str) -> None:
        store.set_materialization(project, "weather", view_version=1, watermark=0, rows=0)
        outcomes: list[str] = []
        barrier = threading.Barrier(4)

        def move(i: int) -> None:
            barrier.wait()
            try:
                store.set_materialization(project, "weather", view_version=1, watermark=100 + i, rows=1,
                                          expected_watermark=0)
                outcomes.append("ok")
            except AlreadyExists:
                outcomes.append("lost")

        threads = [threading.Thread(target=move, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["lost", "lost", "lost", "ok"]
        assert store.list_materializations(project)[0].rows == 1
