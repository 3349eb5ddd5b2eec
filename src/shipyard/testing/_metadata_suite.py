"""``MetadataStoreSuite``: the behaviour every metadata store must show."""

from __future__ import annotations

import math
import time
import uuid
from typing import Any

import pytest

from shipyard.entities import LifecycleStage, Metric, Param, RunStatus, RunTag
from shipyard.exceptions import AlreadyExists, FilterSyntaxError, InvalidParameter, NotFound
from shipyard.storage.base import MetadataStore
from shipyard.testing._deployment_suite import DeploymentStoreSuite
from shipyard.testing._feature_suite import FeatureRegistryStoreSuite
from shipyard.testing._logged_suite import LoggedModelStoreSuite
from shipyard.testing._monitor_suite import MonitorStoreSuite
from shipyard.testing._registry_suite import RegistryStoreSuite


def _now() -> int:
    return time.time_ns() // 1_000_000


class MetadataStoreSuite(LoggedModelStoreSuite, RegistryStoreSuite, DeploymentStoreSuite, MonitorStoreSuite,
                         FeatureRegistryStoreSuite):
    """Subclass and override the ``store`` fixture. Each test uses its own project, so a shared
    database (PostgreSQL) needs no cleaning between tests."""

    @pytest.fixture
    def store(self) -> MetadataStore:
        raise NotImplementedError("Override the `store` fixture to return the backend under test.")

    @pytest.fixture
    def project(self) -> str:
        return f"p-{uuid.uuid4().hex[:10]}"

    # -- helpers -----------------------------------------------------------------------------
    def make_run(self, store: MetadataStore, project: str, exp: str | None = None, **kw: Any) -> str:
        if exp is None:
            exp = store.create_experiment(project, f"e-{uuid.uuid4().hex[:6]}").id
        run_id = uuid.uuid4().hex
        store.create_run(
            project, exp, run_id=run_id, name=kw.pop("name", "r"), start_time=kw.pop("start_time", _now()),
            artifact_uri=f"file:///tmp/{run_id}", **kw,
        )
        return run_id

    # -- projects & experiments ------------------------------------------------------------------
    def test_project_get_or_create_is_idempotent(self, store: MetadataStore, project: str) -> None:
        a = store.get_or_create_project(project)
        b = store.get_or_create_project(project)
        assert a == b and a.name == project
        assert project in [p.name for p in store.list_projects()]

    def test_experiment_create_get_list(self, store: MetadataStore, project: str) -> None:
        exp = store.create_experiment(project, "delay", {"team": "ops"})
        assert exp.name == "delay" and exp.project == project and exp.lifecycle is LifecycleStage.ACTIVE
        assert dict(exp.tags) == {"team": "ops"}
        assert store.get_experiment(project, id=exp.id) == exp
        assert store.get_experiment(project, name="delay") == exp
        store.create_experiment(project, "other")
        assert [e.name for e in store.list_experiments(project)] == ["delay", "other"]

    def test_experiment_duplicate_name_refused_with_hint(self, store: MetadataStore, project: str) -> None:
        store.create_experiment(project, "dup")
        with pytest.raises(AlreadyExists, match="dup"):
            store.create_experiment(project, "dup")

    def test_experiment_same_name_in_two_projects(self, store: MetadataStore, project: str) -> None:
        a = store.create_experiment(project, "same")
        b = store.create_experiment(project + "-b", "same")
        assert a.id != b.id

    def test_experiment_not_found(self, store: MetadataStore, project: str) -> None:
        store.get_or_create_project(project)
        with pytest.raises(NotFound, match="shipyard experiments list"):
            store.get_experiment(project, name="missing")
        with pytest.raises(NotFound):
            store.get_experiment(project, id="999999")
        with pytest.raises(NotFound):
            store.get_experiment(project + "-nope", name="x")

    def test_experiment_rename_delete_restore(self, store: MetadataStore, project: str) -> None:
        exp = store.create_experiment(project, "old")
        run_id = self.make_run(store, project, exp.id)
        store.create_experiment(project, "taken")
        with pytest.raises(AlreadyExists):
            store.update_experiment(project, exp.id, name="taken")
        assert store.update_experiment(project, exp.id, name="new").name == "new"
        deleted = store.update_experiment(project, exp.id, lifecycle=LifecycleStage.DELETED)
        assert deleted.lifecycle is LifecycleStage.DELETED
        assert [e.name for e in store.list_experiments(project)] == ["taken"]
        assert len(store.list_experiments(project, lifecycle=None)) == 2
        assert store.get_run(run_id).lifecycle is LifecycleStage.DELETED
        store.update_experiment(project, exp.id, lifecycle=LifecycleStage.ACTIVE)
        assert store.get_run(run_id).lifecycle is LifecycleStage.ACTIVE

    # -- runs ------------------------------------------------------------------------------------
    def test_run_create_and_get(self, store: MetadataStore, project: str) -> None:
        exp = store.create_experiment(project, "e")
        run = store.create_run(
            project, exp.id, run_id=uuid.uuid4().hex, name="first", start_time=_now(), artifact_uri="file:///a",
            user="ana", host="h1", git_commit="abc", git_dirty=True, source="train.py",
            environment={"python": "3.11"}, tags={"team": "ops"},
        )
        got = store.get_run(run.id)
        assert got == run
        assert got.status is RunStatus.RUNNING and got.end_time is None
        assert (got.user, got.host, got.git_commit, got.git_dirty) == ("ana", "h1", "abc", True)
        assert dict(got.environment) == {"python": "3.11"} and dict(got.tags) == {"team": "ops"}
        assert got.experiment_id == exp.id and got.project == project

    def test_run_errors(self, store: MetadataStore, project: str) -> None:
        exp = store.create_experiment(project, "e")
        with pytest.raises(NotFound):
            store.get_run(uuid.uuid4().hex)
        with pytest.raises(NotFound):
            store.create_run(project, "424242", run_id=uuid.uuid4().hex, name="r", start_time=1, artifact_uri="x")
        with pytest.raises(NotFound):
            self.make_run(store, project, exp.id, parent_run_id=uuid.uuid4().hex)
        rid = self.make_run(store, project, exp.id)
        with pytest.raises(AlreadyExists):
            store.create_run(project, exp.id, run_id=rid, name="r", start_time=1, artifact_uri="x")
        with pytest.raises(NotFound):
            store.update_run(uuid.uuid4().hex, status=RunStatus.FINISHED)
        with pytest.raises(NotFound):
            store.log_batch(uuid.uuid4().hex, metrics=[Metric("m", 1.0, 0, 1)])

    def test_run_update_and_nested(self, store: MetadataStore, project: str) -> None:
        parent = self.make_run(store, project)
        exp = store.get_run(parent).experiment_id
        child = self.make_run(store, project, exp, parent_run_id=parent)
        assert store.get_run(child).parent_run_id == parent
        store.update_run(child, status=RunStatus.FAILED, end_time=_now(), failure="Traceback: boom")
        got = store.get_run(child)
        assert got.status is RunStatus.FAILED and got.failure == "Traceback: boom" and got.end_time is not None

    def test_stale_heartbeat_reads_as_killed(self, store: MetadataStore, project: str) -> None:
        old = _now() - 10_000
        rid = self.make_run(store, project, start_time=old, heartbeat_timeout_ms=1000)
        assert store.get_run(rid).status is RunStatus.KILLED
        store.update_run(rid, heartbeat_at=_now())
        assert store.get_run(rid).status is RunStatus.RUNNING
        fresh = self.make_run(store, project, start_time=old)  # no timeout recorded: never stale
        assert store.get_run(fresh).status is RunStatus.RUNNING

    # -- logging ---------------------------------------------------------------------------------
    def test_log_batch_and_history(self, store: MetadataStore, project: str) -> None:
        rid = self.make_run(store, project)
        store.log_batch(
            rid,
            metrics=[Metric("loss", 1.0 / (s + 1), s, 1000 + s) for s in range(50)],
            params=[Param("lr", "0.1"), Param("depth", "6")],
            tags=[RunTag("team", "ops")],
        )
        store.log_batch(rid, metrics=[Metric("loss", 5.0, 3, 5000)])  # an older step logged later
        run = store.get_run(rid)
        assert dict(run.params) == {"lr": "0.1", "depth": "6"}
        assert run.metrics["loss"] == pytest.approx(1.0 / 50)  # latest = highest step
        history = store.get_metric_history(rid, "loss")
        assert len(history) == 51
        assert [m.step for m in history] == sorted(m.step for m in history)
        assert store.get_metric_history(rid, "nothing") == []

    def test_same_step_later_timestamp_wins_latest(self, store: MetadataStore, project: str) -> None:
        rid = self.make_run(store, project)
        store.log_batch(rid, metrics=[Metric("m", 1.0, 7, 100)])
        store.log_batch(rid, metrics=[Metric("m", 2.0, 7, 200)])
        store.log_batch(rid, metrics=[Metric("m", 3.0, 7, 150)])
        assert store.get_run(rid).metrics["m"] == 2.0

    def test_nan_and_inf_round_trip(self, store: MetadataStore, project: str) -> None:
        rid = self.make_run(store, project)
        store.log_batch(
            rid, metrics=[Metric("a", math.nan, 0, 1), Metric("b", math.inf, 0, 1), Metric("c", -math.inf, 0, 1)]
        )
        run = store.get_run(rid)
        assert math.isnan(run.metrics["a"]) and run.metrics["b"] == math.inf and run.metrics["c"] == -math.inf
        assert math.isnan(store.get_metric_history(rid, "a")[0].value)

    def test_params_are_write_once(self, store: MetadataStore, project: str) -> None:
        rid = self.make_run(store, project)
        store.log_batch(rid, params=[Param("lr", "0.1")])
        store.log_batch(rid, params=[Param("lr", "0.1")])  # same value: fine
        with pytest.raises(InvalidParameter, match="write-once"):
            store.log_batch(rid, metrics=[Metric("m", 1.0, 0, 1)], params=[Param("lr", "0.2")])
        run = store.get_run(rid)
        assert run.params["lr"] == "0.1"
        assert "m" not in run.metrics  # the whole batch was rolled back
        with pytest.raises(InvalidParameter):
            store.log_batch(rid, params=[Param("x", "1"), Param("x", "2")])

    def test_tags_last_write_wins(self, store: MetadataStore, project: str) -> None:
        rid = self.make_run(store, project)
        store.log_batch(rid, tags=[RunTag("stage", "a")])
        store.log_batch(rid, tags=[RunTag("stage", "b"), RunTag("stage", "c")])
        assert store.get_run(rid).tags["stage"] == "c"

    def test_large_batch(self, store: MetadataStore, project: str) -> None:
        rid = self.make_run(store, project)
        store.log_batch(rid, metrics=[Metric(f"m{i % 10}", float(i), i // 10, i) for i in range(20_000)])
        assert len(store.get_metric_history(rid, "m3")) == 2000

    def test_returned_entities_are_frozen(self, store: MetadataStore, project: str) -> None:
        rid = self.make_run(store, project)
        run = store.get_run(rid)
        store.log_batch(rid, params=[Param("a", "1")])
        assert "a" not in run.params
        with pytest.raises((AttributeError, TypeError)):
            run.name = "x"  # type: ignore[misc]
        with pytest.raises(TypeError):
            run.params["b"] = "2"  # type: ignore[index]

    # -- search ----------------------------------------------------------------------------------
    def _population(self, store: MetadataStore, project: str) -> dict[str, str]:
        exp = store.create_experiment(project, "search").id
        ids = {}
        spec = [
            ("a", "lgbm", "0.1", 0.91, "ops", RunStatus.FINISHED),
            ("b", "lgbm", "0.01", 0.85, "ds", RunStatus.FINISHED),
            ("c", "xgb", "0.1", 0.95, "ops", RunStatus.FAILED),
            ("d", "xgb", "1e-3", 0.70, "ops", RunStatus.FINISHED),
            ("e", "rf", "n/a", None, None, RunStatus.RUNNING),
        ]
        for i, (name, model, lr, auc, team, status) in enumerate(spec):
            rid = self.make_run(store, project, exp, name=name, start_time=1_000_000 + i * 1000)
            store.log_batch(
                rid,
                metrics=[Metric("auc", auc, 0, 1)] if auc is not None else [],
                params=[Param("model", model), Param("lr", lr)],
                tags=[RunTag("team", team)] if team else [],
            )
            if status is not RunStatus.RUNNING:
                store.update_run(rid, status=status, end_time=1_000_000 + i * 1000 + 10 * (i + 1))
            ids[name] = rid
        return ids

    def _names(self, store: MetadataStore, project: str, filter: str | None = None, order: list[str] | None = None) -> list[str]:
        return [r.name for r in store.search_runs(project, filter=filter, order_by=order).runs]

    @pytest.mark.parametrize(
        ("filter", "expected"),
        [
            ("metrics.auc > 0.8 and params.model = 'lgbm' and tags.team = 'ops'", {"a"}),
            ("metrics.auc > 0.8", {"a", "b", "c"}),
            ("metrics.auc >= 0.85 and metrics.auc <= 0.91", {"a", "b"}),
            ("params.model IN ('xgb', 'rf')", {"c", "d", "e"}),
            ("params.model NOT IN ('xgb', 'rf')", {"a", "b"}),
            ("params.model = 'lgbm' or metrics.auc < 0.75", {"a", "b", "d"}),
            ("(params.model = 'lgbm' or params.model = 'xgb') and tags.team = 'ops'", {"a", "c", "d"}),
            ("not params.model = 'lgbm'", {"c", "d", "e"}),
            ("params.model LIKE 'lg%'", {"a", "b"}),
            ("params.model LIKE 'LG%'", set()),
            ("params.model ILIKE 'LG%'", {"a", "b"}),
            ("params.model NOT LIKE '%b%'", {"e"}),
            ("tags.team IS NULL", {"e"}),
            ("tags.team IS NOT NULL", {"a", "b", "c", "d"}),
            ("metrics.auc IS NULL", {"e"}),
            ("params.lr < 0.05", {"b", "d"}),
            ("params.lr = '0.1'", {"a", "c"}),
            ("params.lr = 0.1", {"a", "c"}),
            ("params.model != 'lgbm'", {"c", "d", "e"}),
            ("attributes.status = 'FAILED'", {"c"}),
            ("status = 'finished'", {"a", "b", "d"}),
            ("attributes.status IN ('RUNNING', 'FAILED')", {"c", "e"}),
            ("attributes.run_name = 'b'", {"b"}),
            ("run_name LIKE '_'", {"a", "b", "c", "d", "e"}),
            ("attributes.start_time >= 1002000", {"c", "d", "e"}),
            ("attributes.end_time IS NULL", {"e"}),
            ("attributes.duration > 25", {"c", "d"}),
            ("metrics.`auc` > 0.9", {"a", "c"}),
            ('tags."team" = "ds"', {"b"}),
            ("params.lr > 0.05", {"a", "c"}),  # '0.1', '0.1'; 'n/a' is not a number on any backend
        ],
    )
    def test_search_filters(self, store: MetadataStore, project: str, filter: str, expected: set[str]) -> None:
        self._population(store, project)
        assert set(self._names(store, project, filter)) == expected

    def test_numeric_comparison_of_text_is_the_same_on_every_backend(self, store: MetadataStore, project: str) -> None:
        exp = store.create_experiment(project, "num").id
        for name, value in (("date", "2023-01-05"), ("version", "1.2.3"), ("plain", "2500"), ("sci", "2.5e3"), ("word", "big")):
            rid = self.make_run(store, project, exp, name=name)
            store.log_batch(rid, params=[Param("x", value)])
        assert set(self._names(store, project, "params.x > 2000")) == {"plain", "sci"}
        assert set(self._names(store, project, "params.x = '2023-01-05'")) == {"date"}
        assert set(self._names(store, project, "tags.flag = TRUE")) == set()

    def test_search_order_by(self, store: MetadataStore, project: str) -> None:
        self._population(store, project)
        assert self._names(store, project, order=["metrics.auc DESC"]) == ["c", "a", "b", "d", "e"]
        assert self._names(store, project, order=["metrics.auc ASC"]) == ["d", "b", "a", "c", "e"]
        assert self._names(store, project) == ["e", "d", "c", "b", "a"]  # newest first
        assert self._names(store, project, order=["params.model", "metrics.auc DESC"]) == ["a", "b", "e", "c", "d"]
        assert self._names(store, project, order=["attributes.start_time"]) == ["a", "b", "c", "d", "e"]

    def test_search_pagination(self, store: MetadataStore, project: str) -> None:
        self._population(store, project)
        seen, token = [], None
        while True:
            page = store.search_runs(project, max_results=2, page_token=token, order_by=["attributes.run_name"])
            seen += [r.name for r in page.runs]
            token = page.next_page_token
            if token is None:
                break
        assert seen == ["a", "b", "c", "d", "e"]
        with pytest.raises(InvalidParameter, match="page token"):
            store.search_runs(project, page_token="garbage!")
        with pytest.raises(InvalidParameter):
            store.search_runs(project, max_results=0)

    def test_search_scoping(self, store: MetadataStore, project: str) -> None:
        ids = self._population(store, project)
        other = self.make_run(store, project + "-other")
        assert other not in {r.id for r in store.search_runs(project).runs}
        exp = store.get_run(ids["a"]).experiment_id
        extra = self.make_run(store, project)  # another experiment, same project
        assert {r.id for r in store.search_runs(project, experiment_ids=[exp]).runs} == set(ids.values())
        assert extra in {r.id for r in store.search_runs(project).runs}
        store.update_run(ids["a"], lifecycle=LifecycleStage.DELETED)
        assert "a" not in self._names(store, project)
        deleted = store.search_runs(project, lifecycle=LifecycleStage.DELETED).runs
        assert [r.name for r in deleted] == ["a"]
        assert store.search_runs(project + "-none").runs == ()

    @pytest.mark.parametrize(
        ("bad", "where"),
        [
            ("metrics.auc >> 0.5", "^"),
            ("metrics.auc > ", "end of filter"),
            ("params.model = 'lgbm", "Unterminated"),
            ("(metrics.auc > 0.5", "')'"),
            ("colour = 'red'", "unknown field"),
            ("metrics.auc > 0.5 params.x = '1'", "expected AND, OR"),
            ("params.model IN 'a'", "'(' after IN"),
            ("params.x IS 3", "NULL"),
        ],
    )
    def test_search_malformed_filter(self, store: MetadataStore, project: str, bad: str, where: str) -> None:
        with pytest.raises(FilterSyntaxError) as info:
            store.search_runs(project, filter=bad)
        assert bad in str(info.value) and where in str(info.value)

    def test_search_type_errors(self, store: MetadataStore, project: str) -> None:
        self._population(store, project)
        with pytest.raises(InvalidParameter, match="numeric"):
            store.search_runs(project, filter="metrics.auc > 'high'")
        with pytest.raises(InvalidParameter, match="LIKE"):
            store.search_runs(project, filter="metrics.auc LIKE '0.9%'")

    # -- lineage ---------------------------------------------------------------------------------
    def test_datasets(self, store: MetadataStore, project: str) -> None:
        rid = self.make_run(store, project)
        ds = store.log_dataset(project, name="train", digest="d" * 64, num_rows=10, schema={"columns": []}, profile={"num_rows": 10})
        again = store.log_dataset(project, name="train", digest="d" * 64, num_rows=10, schema={"columns": []}, profile={})
        assert again.id == ds.id
        store.link_dataset(rid, ds.id, "training")
        store.link_dataset(rid, ds.id, "training")
        store.link_dataset(rid, ds.id, "scored", direction="output")
        links = store.list_run_datasets(rid)
        assert [(x.role, x.direction) for x in links] == [("training", "input"), ("scored", "output")]
        assert links[0].dataset.digest == "d" * 64
        with pytest.raises(NotFound):
            store.link_dataset(rid, 10**9, "training")
        with pytest.raises(InvalidParameter):
            store.link_dataset(rid, ds.id, "x", direction="sideways")

    def test_artifact_records(self, store: MetadataStore, project: str) -> None:
        rid = self.make_run(store, project)
        store.record_artifact(rid, "plots/roc.png", 10, "a" * 64)
        store.record_artifact(rid, "plots/pr.png", 11, "b" * 64)
        store.record_artifact(rid, "plots_old/x.png", 1, "c" * 64)
        store.record_artifact(rid, "model.pkl", 12, "d" * 64)
        store.record_artifact(rid, "model.pkl", 13, "e" * 64)  # replaced
        assert [a.path for a in store.list_artifacts(rid)] == ["model.pkl", "plots/pr.png", "plots/roc.png", "plots_old/x.png"]
        assert [a.path for a in store.list_artifacts(rid, "plots")] == ["plots/pr.png", "plots/roc.png"]
        assert store.list_artifacts(rid, "model.pkl")[0].sha256 == "e" * 64
        with pytest.raises(NotFound):
            store.record_artifact(uuid.uuid4().hex, "x", 1, "f" * 64)

    def test_delete_runs_permanently(self, store: MetadataStore, project: str) -> None:
        parent = self.make_run(store, project)
        child = self.make_run(store, project, store.get_run(parent).experiment_id, parent_run_id=parent)
        store.log_batch(parent, metrics=[Metric("m", 1.0, 0, 1)], params=[Param("p", "1")], tags=[RunTag("t", "1")])
        store.record_artifact(parent, "a.txt", 1, "a" * 64)
        assert store.delete_runs_permanently([parent]) == 1
        with pytest.raises(NotFound):
            store.get_run(parent)
        assert store.get_run(child).parent_run_id is None

    def test_info(self, store: MetadataStore, project: str) -> None:
        self.make_run(store, project)
        info = store.info()
        assert info["schema_revision"] == info["schema_expected"]
        assert info["counts"]["runs"] >= 1

    # -- refused input ---------------------------------------------------------------------------
    def test_out_of_range_integers_are_refused_and_leave_no_trace(self, store: MetadataStore, project: str) -> None:
        """Input the database cannot hold is InvalidParameter (not a driver error), and the refused
        write rolls back whole: the project it created on the way must not be remembered."""
        with pytest.raises(InvalidParameter, match="64-bit"):
            store.log_dataset(project, name="d", digest="d" * 64, num_rows=2**64, schema={}, profile={})
        assert project not in [p.name for p in store.list_projects()]
        rid = self.make_run(store, project)
        assert store.get_or_create_project(project).name == project
        with pytest.raises(InvalidParameter, match="64-bit"):
            store.log_batch(rid, metrics=[Metric("m", 1.0, 2**63, 1)])
        with pytest.raises(InvalidParameter, match="64-bit"):
            store.record_artifact(rid, "a.txt", 2**64, "a" * 64)
        assert dict(store.get_run(rid).metrics) == {} and store.list_artifacts(rid) == []

    def test_missing_or_blank_names_are_refused(self, store: MetadataStore, project: str) -> None:
        bad_names: tuple[Any, ...] = (None, "", "  ")
        for bad in bad_names:
            with pytest.raises(InvalidParameter, match="name"):
                store.create_experiment(project, bad)
            with pytest.raises(InvalidParameter, match="name"):
                store.create_registered_model(project, bad)
            with pytest.raises(InvalidParameter, match="name"):
                store.get_registered_model(project, bad)
