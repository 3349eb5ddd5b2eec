"""Deployments as registry records (sy.deploy, promote, rollback, history, state at a time) and the
traffic router (weighted split, stickiness) — property-tested."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import shipyard as sy
from shipyard.cli import app
from shipyard.entities import DeploymentState, ModelVersionStatus, Route
from shipyard.exceptions import InvalidParameter, NotFound
from shipyard.serving import Router, deployment_at, deployments, promote, rollback, status
from shipyard.workspace import current_workspace


def _versions(name: str, count: int) -> None:
    store = current_workspace().metadata
    for _ in range(count):
        store.create_model_version("default", name, source="s", storage_uri="file:///tmp/x", run_id=None, flavor="sklearn",
                                   manifest={}, manifest_sha256="a" * 64, signature={}, status=ModelVersionStatus.READY)


@pytest.fixture
def models() -> None:
    _versions("flight-delay", 7)
    sy.set_alias("flight-delay", "champion", 5)
    sy.set_alias("flight-delay", "challenger", 6)


def test_deploy_promote_rollback_and_history(models: None) -> None:
    d = sy.deploy("flights-prod", routes={"flight-delay@champion": 90, "flight-delay@challenger": 10},
                  shadow=["flight-delay/7"], sticky_key="user_id", reason="canary")
    assert d.revision == 1 and d.routes == (Route("flight-delay@champion", 90), Route("flight-delay@challenger", 10))
    assert dict(d.config) == {"max_batch_size": 64, "max_wait_ms": 0, "cache_size": 0, "cache_ttl_s": 60}
    st_ = status("flights-prod")
    assert dict(st_.versions) == {"flight-delay@champion": 5, "flight-delay@challenger": 6, "flight-delay/7": 7}
    assert "flight-delay@champion (v5) 90%" in st_.describe()
    before_promote = int(time.time() * 1000)
    time.sleep(0.005)
    promoted = promote("flights-prod", "flight-delay@challenger", reason="challenger wins")
    assert promoted.routes == (Route("flight-delay@challenger", 100),) and promoted.shadow == ("flight-delay/7",)
    back = rollback("flights-prod")
    assert back.revision == 3 and back.routes == d.routes and back.sticky_key == "user_id"
    history = deployments().history("flights-prod")
    assert [e.action for e in history] == ["create", "promote", "rollback"]
    assert history[1].reason == "challenger wins" and history[2].reason == "back to revision 1"
    then = deployment_at("flights-prod", before_promote)
    assert then is not None and then.revision == 1 and then.routes == d.routes
    assert deployment_at("flights-prod", 0) is None
    updated = sy.deploy("flights-prod", routes={"flight-delay/6": 100}, max_batch_size=128)
    assert updated.revision == 4 and updated.sticky_key is None and updated.config["max_batch_size"] == 128
    stopped = deployments().set_state("flights-prod", DeploymentState.STOPPED)
    assert stopped.state is DeploymentState.STOPPED and rollback("flights-prod").state is DeploymentState.ACTIVE


@pytest.mark.parametrize(("routes", "shadow", "error"), [
    ({"flight-delay@champion": 60, "flight-delay@challenger": 30}, (), "add up to 90, not 100"),
    ({"flight-delay@champion": 150}, (), "weight 150"),
    ({"flight-delay@champion": 50.5, "flight-delay/2": 49.5}, (), "whole percentage"),
    ({"flight-delay@nope": 100}, (), "does not resolve"),
    ({"other/1": 100}, (), "does not resolve"),
    ({"flight-delay/3": 100}, ["flight-delay/3"], "cannot shadow"),
])
def test_bad_deployments_are_refused_with_the_reason(models: None, routes: dict[str, float], shadow: list[str],
                                                     error: str) -> None:
    with pytest.raises((InvalidParameter, NotFound), match=error):
        sy.deploy("bad", routes=routes, shadow=shadow)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        status("bad")


def test_refusals_keep_the_current_state(models: None) -> None:
    sy.deploy("prod", routes={"flight-delay/1": 100})
    with pytest.raises(InvalidParameter):
        sy.deploy("prod", routes={"flight-delay/1": 50})
    with pytest.raises(InvalidParameter, match="no earlier state"):
        rollback("prod")
    with pytest.raises(InvalidParameter, match="max_wait_ms"):
        sy.deploy("prod", routes={"flight-delay/2": 100}, max_wait_ms=5000)
    assert status("prod").deployment.revision == 1


def test_deploy_cli(models: None) -> None:
    runner = CliRunner()

    def ok(*args: str) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, (args, result.output, repr(result.exception))
        return result.output

    ok("deploy", "create", "flights-prod", "--route", "flight-delay@champion=90", "--route", "flight-delay@challenger=10",
       "--shadow", "flight-delay/7", "--sticky-key", "user_id", "--reason", "launch")
    assert "flight-delay@champion (v5) 90%" in ok("deploy", "status", "flights-prod")
    ok("deploy", "promote", "flights-prod", "flight-delay@challenger")
    ok("deploy", "rollback", "flights-prod")
    out = ok("deploy", "history", "flights-prod")
    assert "create" in out and "promote" in out and "rollback" in out
    assert "flights-prod" in ok("deploy", "list")
    assert "flights-prod r3" in ok("deploy", "status", "flights-prod", "--at", "2100-01-01T00:00:00Z")
    bad = runner.invoke(app, ["deploy", "update", "flights-prod", "--route", "flight-delay@champion=80"])
    assert bad.exit_code != 0 and "add up to 80" in bad.output + str(bad.exception)  # the entry point prints it


# -- the router ---------------------------------------------------------------------------------

weights = st.lists(st.integers(min_value=0, max_value=100), min_size=1, max_size=5).filter(lambda w: sum(w) > 0)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(weights=weights, seed=st.integers(0, 2**32))
def test_observed_split_matches_the_weights(weights: list[int], seed: int) -> None:
    routes = [Route(f"m/{i}", w) for i, w in enumerate(weights)]
    router = Router(routes, seed=seed)
    n = 20_000
    seen = Counter(router.choose() for _ in range(n))
    total = sum(weights)
    for route in routes:
        expected = route.weight / total
        observed = seen[route.model] / n
        if route.weight == 0:
            assert seen[route.model] == 0  # a zero-weight route never answers
        else:  # 5 standard deviations of a binomial share: fails by chance about once in 3 million
            assert abs(observed - expected) <= 5 * (expected * (1 - expected) / n) ** 0.5 + 1e-9


@settings(max_examples=60, deadline=None, derandomize=True)
@given(weights=weights, keys=st.lists(st.text(max_size=20), min_size=1, max_size=50))
def test_a_sticky_key_always_reaches_the_same_route(weights: list[int], keys: list[str]) -> None:
    routes = [Route(f"m/{i}", w) for i, w in enumerate(weights)]
    first, second = Router(routes, seed=1), Router(routes, seed=2)
    for key in keys:
        chosen = first.choose(key)
        assert chosen == first.choose(key) == second.choose(key)
        assert next(r for r in routes if r.model == chosen).weight > 0


def test_sticky_keys_split_by_the_weights() -> None:
    router = Router([Route("a", 90), Route("b", 10)])
    seen = Counter(router.choose(f"user-{i}") for i in range(20_000))
    assert abs(seen["b"] / 20_000 - 0.10) < 0.012
