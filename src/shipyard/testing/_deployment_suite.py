"""``DeploymentStoreSuite``: deployments and their history, as every metadata store must keep them."""

from __future__ import annotations

import time

import pytest

from shipyard.entities import DeploymentState, Route
from shipyard.exceptions import AlreadyExists, NotFound, QuotaExceeded
from shipyard.storage.base import MetadataStore, QuotaStore

_TWO = (Route("churn@champion", 90), Route("churn@challenger", 10))


class DeploymentStoreSuite:
    """Mixed into :class:`MetadataStoreSuite`; uses its ``store`` and ``project`` fixtures."""

    def test_deployment_create_get_list(self, store: MetadataStore, project: str) -> None:
        made = store.create_deployment(project, "prod", routes=_TWO, shadow=["churn/7"], sticky_key="user_id",
                                       config={"max_batch_size": 32}, description="churn API", actor="ana", reason="launch")
        assert (made.revision, made.state, made.routes, made.shadow) == (1, DeploymentState.ACTIVE, _TWO, ("churn/7",))
        assert made.sticky_key == "user_id" and dict(made.config) == {"max_batch_size": 32}
        assert store.get_deployment(project, "prod") == made
        store.create_deployment(project, "batch", routes=[Route("churn/3", 100)])
        assert [d.name for d in store.list_deployments(project)] == ["batch", "prod"]
        assert [d.name for d in store.list_deployments(project, offset=1)] == ["prod"]
        with pytest.raises(AlreadyExists, match="sy.deploy"):
            store.create_deployment(project, "prod", routes=_TWO)
        with pytest.raises(NotFound, match="Did you mean 'prod'"):
            store.get_deployment(project, "prdo")

    def test_every_change_is_history_and_state_at_a_time(self, store: MetadataStore, project: str) -> None:
        store.create_deployment(project, "prod", routes=[Route("churn/1", 100)], actor="ana", reason="v1")
        time.sleep(0.005)
        between = int(time.time() * 1000)
        time.sleep(0.005)
        d = store.update_deployment(project, "prod", action="update", routes=_TWO, shadow=(), sticky_key=None,
                                    config={}, state=DeploymentState.ACTIVE, expected_revision=1, actor="bo", reason="canary")
        assert d.revision == 2 and d.routes == _TWO
        with pytest.raises(AlreadyExists, match="revision 2"):
            store.update_deployment(project, "prod", action="update", routes=_TWO, shadow=(), sticky_key=None,
                                    config={}, state=DeploymentState.ACTIVE, expected_revision=1)
        history = store.deployment_history(project, "prod")
        assert [(e.revision, e.action, e.actor, e.reason) for e in history] == [(1, "create", "ana", "v1"), (2, "update", "bo", "canary")]
        assert history[0].routes == (Route("churn/1", 100),) and history[1].routes == _TWO
        then = store.deployment_history(project, "prod", at=between)
        assert then[-1].revision == 1 and then[-1].routes == (Route("churn/1", 100),)
        assert store.deployment_history(project, "prod", at=0) == []
        with pytest.raises(NotFound):
            store.deployment_history(project, "nope")

    def test_deployments_quota(self, store: MetadataStore, project: str) -> None:
        if not isinstance(store, QuotaStore):
            pytest.skip("this backend keeps no quotas (not a QuotaStore)")  # every SQL and REST store is one
        store.set_quota(project, "deployments", 1)
        store.create_deployment(project, "one", routes=[Route("m/1", 100)])
        with pytest.raises(QuotaExceeded, match="deployments quota"):
            store.create_deployment(project, "two", routes=[Route("m/1", 100)])
        assert [q.used for q in store.list_quotas(project) if q.kind == "deployments"] == [1]
