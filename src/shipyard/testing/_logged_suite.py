"""``LoggedModelStoreSuite``: logged models and project quotas, as every metadata store must keep them."""

from __future__ import annotations

import uuid

import pytest

from shipyard.entities import LoggedModelStatus
from shipyard.exceptions import AlreadyExists, InvalidParameter, NotFound, QuotaExceeded
from shipyard.storage.base import MetadataStore, QuotaStore


def _mid() -> str:
    return f"m-{uuid.uuid4().hex}"


class LoggedModelStoreSuite:
    """Mixed into :class:`MetadataStoreSuite`; uses its ``store`` and ``project`` fixtures."""

    def test_logged_model_lifecycle(self, store: MetadataStore, project: str) -> None:
        exp = store.create_experiment(project, "lm").id
        mid = _mid()
        lm = store.create_logged_model(project, exp, model_id=mid, name="model", artifact_uri=f"file:///tmp/{mid}",
                                       model_type="sklearn", tags={"a": "1"}, params={"alpha": "0.5"}, created_by="ann")
        assert (lm.status, lm.project, lm.experiment_id, dict(lm.params)) == (LoggedModelStatus.PENDING, project, exp, {"alpha": "0.5"})
        assert store.get_logged_model(mid) == lm
        done = store.update_logged_model(mid, status=LoggedModelStatus.READY, set_tags={"b": "2"}, delete_tags=["a"],
                                         set_params={"l1": "0.1"})
        assert done.status is LoggedModelStatus.READY and dict(done.tags) == {"b": "2"}
        assert dict(done.params) == {"alpha": "0.5", "l1": "0.1"}
        with pytest.raises(InvalidParameter, match="write-once"):
            store.update_logged_model(mid, set_params={"alpha": "0.9"})
        with pytest.raises(AlreadyExists):
            store.create_logged_model(project, exp, model_id=mid, name="again", artifact_uri="file:///tmp/x")
        store.delete_logged_model(mid)
        with pytest.raises(NotFound, match=mid):
            store.get_logged_model(mid)
        with pytest.raises(NotFound):
            store.delete_logged_model(mid)

    def test_logged_model_needs_experiment_and_run_of_the_project(self, store: MetadataStore, project: str) -> None:
        with pytest.raises(NotFound):
            store.create_logged_model(project, "987654", model_id=_mid(), name="m", artifact_uri="file:///tmp/x")
        exp = store.create_experiment(project, "lm").id
        other = store.create_experiment(f"{project}-other", "lm").id
        foreign = uuid.uuid4().hex
        store.create_run(f"{project}-other", other, run_id=foreign, name="r", start_time=1, artifact_uri="file:///tmp/r")
        with pytest.raises(NotFound, match="No run"):
            store.create_logged_model(project, exp, model_id=_mid(), name="m", artifact_uri="file:///tmp/x", run_id=foreign)

    def test_search_logged_models_filters_and_pages(self, store: MetadataStore, project: str) -> None:
        e1, e2 = store.create_experiment(project, "a").id, store.create_experiment(project, "b").id
        run = uuid.uuid4().hex
        store.create_run(project, e1, run_id=run, name="r", start_time=1, artifact_uri="file:///tmp/r")
        ids = []
        for i in range(5):
            mid = _mid()
            store.create_logged_model(project, e1 if i < 4 else e2, model_id=mid, name="model" if i % 2 else "other",
                                      artifact_uri="file:///tmp/x", run_id=run if i < 2 else None)
            ids.append(mid)
        store.update_logged_model(ids[0], status=LoggedModelStatus.READY)
        found, token = store.search_logged_models(project, [e1], name="model")
        assert {m.id for m in found} == {ids[1], ids[3]} and token is None
        assert {m.id for m in store.search_logged_models(project, run_id=run)[0]} == set(ids[:2])
        assert [m.id for m in store.search_logged_models(project, statuses=[LoggedModelStatus.READY])[0]] == [ids[0]]
        assert store.search_logged_models(f"{project}-nobody")[0] == []
        seen: list[str] = []
        token = None
        while True:
            page, token = store.search_logged_models(project, max_results=2, page_token=token)
            seen += [m.id for m in page]
            if token is None:
                break
        assert sorted(seen) == sorted(ids)
        with pytest.raises(InvalidParameter, match="max_results"):
            store.search_logged_models(project, max_results=100_000)

    def test_quota_charges_refuses_and_releases(self, store: MetadataStore, project: str) -> None:
        if not isinstance(store, QuotaStore):
            pytest.skip("this backend keeps no quotas (not a QuotaStore)")  # every SQL and REST store is one
        assert store.charge_quota(project, "artifact_bytes", 700).used == 700  # tracked without a limit
        store.set_quota(project, "artifact_bytes", 1000)
        assert store.charge_quota(project, "artifact_bytes", 300).used == 1000
        with pytest.raises(QuotaExceeded, match="artifact_bytes"):
            store.charge_quota(project, "artifact_bytes", 1)
        assert store.charge_quota(project, "artifact_bytes", -400).used == 600
        assert store.charge_quota(project, "artifact_bytes", -5000).used == 0
        [quota] = store.list_quotas(project)
        assert (quota.kind, quota.limit, quota.used) == ("artifact_bytes", 1000, 0)
        assert store.set_quota(project, "artifact_bytes", None).limit is None
        with pytest.raises(InvalidParameter):
            store.set_quota(project, "artifact_bytes", -1)

    def test_growing_lists_take_a_window(self, store: MetadataStore, project: str) -> None:
        from shipyard.entities import Metric

        exps = [store.create_experiment(project, f"e{i}").id for i in range(5)]
        assert [e.id for e in store.list_experiments(project, offset=1, limit=2)] == exps[1:3]
        run = uuid.uuid4().hex
        store.create_run(project, exps[0], run_id=run, name="r", start_time=1, artifact_uri="file:///tmp/r")
        store.log_batch(run, metrics=[Metric("loss", float(i), i, 1000 + i) for i in range(10)])
        assert [m.step for m in store.get_metric_history(run, "loss", offset=7)] == [7, 8, 9]
        assert [m.step for m in store.get_metric_history(run, "loss", offset=2, limit=3)] == [2, 3, 4]
        for i in range(4):
            store.record_artifact(run, f"d/f{i}.txt", i, "0" * 64)
        assert [a.path for a in store.list_artifacts(run, "d", offset=1, limit=2)] == ["d/f1.txt", "d/f2.txt"]
        for name in ("a", "b", "c"):
            store.create_registered_model(project, name)
        assert [m.name for m in store.search_registered_models(project, offset=1)] == ["b", "c"]
        with pytest.raises(InvalidParameter, match="offset"):
            store.list_experiments(project, offset=-1)
        with pytest.raises(InvalidParameter, match="limit"):
            store.get_metric_history(run, "loss", limit=0)
