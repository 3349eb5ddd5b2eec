"""The tracking SDK end to end on the embedded store (no services)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd
import pytest

import shipyard as sy
from shipyard.entities import RunStatus
from shipyard.exceptions import IntegrityError, InvalidParameter, NotFound


def test_issue_example(tmp_path: Path) -> None:
    sy.set_project("flights")
    (tmp_path / "confusion.png").write_bytes(b"\x89PNG fake")
    train_df = pd.DataFrame({"distance": [100, 200, 300], "carrier": ["UA", "AA", None]})
    with sy.start_run(experiment="delay-baseline", tags={"team": "ops"}) as run:
        run.log_params({"max_depth": 6, "lr": 0.1})
        run.log_metric("auc", 0.91, step=0)
        for epoch in range(100):
            run.log_metrics({"loss": 1 / (epoch + 1), "auc": 0.5 + epoch / 250}, step=epoch)
        run.log_artifact(tmp_path / "confusion.png")
        ds = run.log_dataset(train_df, name="train", role="training")
    got = sy.get_run(run.id)
    assert got.project == "flights" and got.status is RunStatus.FINISHED
    assert dict(got.params) == {"max_depth": "6", "lr": "0.1"}
    assert got.metrics["auc"] == pytest.approx(0.5 + 99 / 250)
    assert got.tags["team"] == "ops"
    assert got.end_time is not None and got.end_time >= got.start_time
    assert got.host and got.environment["python"] and "numpy" in got.environment["packages"]
    assert ds.num_rows == 3 and len(ds.digest) == 64
    assert [c["name"] for c in ds.schema["columns"]] == ["distance", "carrier"]
    assert ds.profile["columns"]["carrier"]["nulls"] == 1
    assert ds.profile["columns"]["distance"]["mean"] == pytest.approx(200)
    history = sy.get_metric_history(run.id, "loss")
    assert len(history) == 100 and list(history["step"]) == list(range(100))
    assert [a.path for a in sy.TrackingClient(_ws()).list_artifacts(run.id)] == ["confusion.png"]


def _ws():  # the process-wide workspace
    from shipyard.workspace import current_workspace

    return current_workspace()


def test_failed_run_records_traceback() -> None:
    with pytest.raises(ZeroDivisionError):
        with sy.start_run(experiment="e") as run:
            run.log_metric("m", 1.0)
            1 / 0  # noqa: B018
    got = sy.get_run(run.id)
    assert got.status is RunStatus.FAILED
    assert "ZeroDivisionError" in (got.failure or "") and "Traceback" in (got.failure or "")
    assert got.metrics["m"] == 1.0  # buffered values are flushed even on failure


def test_keyboard_interrupt_is_killed() -> None:
    with pytest.raises(KeyboardInterrupt):
        with sy.start_run() as run:
            raise KeyboardInterrupt
    assert sy.get_run(run.id).status is RunStatus.KILLED


def test_nested_runs_and_active_run() -> None:
    with sy.start_run(experiment="sweep") as parent:
        assert sy.active_run() is parent
        with pytest.raises(InvalidParameter, match="nested=True"):
            sy.start_run()
        with sy.start_run(nested=True, run_name="child-1") as child:
            assert sy.active_run() is child
            sy.log_metric("x", 1)
        assert sy.active_run() is parent
    assert sy.active_run() is None
    got = sy.get_run(child.id)
    assert got.parent_run_id == parent.id and got.experiment_id == parent.experiment_id
    df = sy.search_runs(experiment="sweep", filter=f"attributes.parent_run_id = '{parent.id}'")
    assert list(df["run_name"]) == ["child-1"]


def test_module_level_logging_needs_a_run() -> None:
    with pytest.raises(InvalidParameter, match="start_run"):
        sy.log_metric("m", 1.0)


def test_default_step_increments_per_key() -> None:
    with sy.start_run() as run:
        for value in (3.0, 2.0, 1.0):
            run.log_metric("loss", value)
        run.log_metric("acc", 0.5)
    assert list(sy.get_metric_history(run.id, "loss")["step"]) == [0, 1, 2]
    assert list(sy.get_metric_history(run.id, "acc")["step"]) == [0]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_metrics_are_stored_as_such(value: float) -> None:
    with sy.start_run() as run:
        run.log_metric("loss", value)
    stored = sy.get_run(run.id).metrics["loss"]
    assert (math.isnan(stored) and math.isnan(value)) or stored == value


@pytest.mark.parametrize("bad", ["0.5", None, [1.0], {"a": 1}, True])
def test_non_numeric_metric_refused(bad: object) -> None:
    with sy.start_run() as run:
        with pytest.raises(InvalidParameter, match="real number"):
            run.log_metric("m", bad)
        run.log_metric("ok", 1)
    assert "m" not in sy.get_run(run.id).metrics


def test_numpy_scalars_accepted() -> None:
    import numpy as np

    with sy.start_run() as run:
        run.log_metrics({"a": np.float32(0.5), "b": np.int64(3), "c": np.array([2.5])}, step=np.int64(4))
    assert dict(sy.get_run(run.id).metrics) == {"a": 0.5, "b": 3.0, "c": 2.5}


def test_param_rules() -> None:
    with sy.start_run() as run:
        run.log_param("lr", 0.1)
        run.log_param("lr", 0.1)  # same value again: fine
        with pytest.raises(InvalidParameter, match="write-once"):
            run.log_param("lr", 0.2)
        with pytest.raises(InvalidParameter, match="6000"):
            run.log_param("long", "x" * 6001)
        run.log_param("edge", "y" * 6000)
        with pytest.raises(InvalidParameter, match="write-once"):
            run.log_params({"fresh": 1, "lr": 0.3})
    got = sy.get_run(run.id)
    assert got.params["lr"] == "0.1" and len(got.params["edge"]) == 6000
    assert "long" not in got.params and "fresh" not in got.params  # the refused call recorded nothing


def test_param_conflict_from_another_writer_is_reported_and_nothing_else_lost() -> None:
    with sy.start_run() as run:
        run.log_param("lr", 0.1)
        run.flush()
        other = sy.TrackingClient(_ws())
        # Another process sets a param this run has not seen yet:
        other.store.log_batch(run.id, params=[__import__("shipyard.entities").entities.Param("depth", "3")])
        run.log_param("depth", 5)
        run.log_metric("kept", 1.0)
        with pytest.raises(InvalidParameter, match="depth"):
            run.flush()
    got = sy.get_run(run.id)
    assert got.params["depth"] == "3" and got.metrics["kept"] == 1.0


@pytest.mark.parametrize(
    ("key", "value", "stored"),
    [("t", "text", "text"), ("n", 3, "3"), ("f", 0.5, "0.5"), ("b", True, "True")],
)
def test_tag_values(key: str, value: object, stored: str) -> None:
    with sy.start_run(tags={key: value}) as run:
        pass
    assert sy.get_run(run.id).tags[key] == stored


@pytest.mark.parametrize("bad", [None, {"a": 1}, ["x"], object()])
def test_non_string_tags_refused(bad: object) -> None:
    with sy.start_run() as run:
        with pytest.raises(InvalidParameter, match="Tag 'x' must be a string"):
            run.set_tag("x", bad)
    with pytest.raises(InvalidParameter):
        sy.start_run(tags={"x": bad})


@pytest.mark.parametrize("key", ["", "a" * 251, "../up", "/abs", "semi;colon", 5, ["list"], None])
def test_bad_keys_refused(key: object) -> None:
    with sy.start_run() as run:
        with pytest.raises(InvalidParameter):
            run.log_metric(key, 1.0)  # type: ignore[arg-type]


def test_logging_after_end_refused() -> None:
    run = sy.start_run()
    run.end()
    run.end()  # idempotent
    with pytest.raises(InvalidParameter, match="ended"):
        run.log_metric("m", 1)


def test_log_batch_writes_synchronously() -> None:
    with sy.start_run() as run:
        run.log_metric("buffered", 1.0)
        run.log_batch(metrics=[("m", float(i), i) for i in range(1000)], params={"p": 1}, tags={"t": "x"})
        stored = sy.TrackingClient(_ws()).store.get_run(run.id)
        assert stored.metrics["m"] == 999.0 and stored.metrics["buffered"] == 1.0
        assert stored.params["p"] == "1" and stored.tags["t"] == "x"


def test_artifacts_files_dirs_text_and_verified_download(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "plots").mkdir(parents=True)
    (src / "plots" / "roc.png").write_bytes(b"roc")
    (src / "notes.txt").write_text("hello")
    with sy.start_run() as run:
        run.log_artifact(src / "notes.txt")
        run.log_artifact(src / "plots", "figures")
        run.log_artifacts(src, "all")
        run.log_text("some text", "reports/summary.md")
        run.log_dict({"a": 1}, "reports/conf.json")
    client = sy.TrackingClient(_ws())
    paths = [a.path for a in client.list_artifacts(run.id)]
    assert paths == ["all/notes.txt", "all/plots/roc.png", "figures/plots/roc.png", "notes.txt",
                     "reports/conf.json", "reports/summary.md"]
    out = Path(client.download_artifacts(run.id, "figures", tmp_path / "dl"))
    assert (out / "plots" / "roc.png").read_bytes() == b"roc"
    single = Path(client.download_artifacts(run.id, "notes.txt", tmp_path / "one"))
    assert single.read_text() == "hello"
    assert client.read_artifact(run.id, "reports/conf.json") == b'{\n  "a": 1\n}'
    with pytest.raises(NotFound, match="artifacts ls"):
        client.download_artifacts(run.id, "nothing-here", tmp_path)


@pytest.mark.parametrize("bad", ["../evil", "/etc/passwd", "a/../../b"])
def test_artifact_path_traversal_refused(tmp_path: Path, bad: str) -> None:
    (tmp_path / "f.txt").write_text("x")
    with sy.start_run() as run:
        with pytest.raises(InvalidParameter):
            run.log_artifact(tmp_path / "f.txt", bad)
        with pytest.raises(InvalidParameter):
            run.log_text("x", bad)


def test_corrupted_and_missing_artifacts_name_the_file_and_hash(tmp_path: Path) -> None:
    with sy.start_run() as run:
        record = run.log_text("original", "model/weights.bin")
        run.log_text("other", "model/other.bin")
    client = sy.TrackingClient(_ws())
    root = Path(client.get_run(run.id).artifact_uri.removeprefix("file://"))
    (root / "model" / "weights.bin").write_text("tampered")
    with pytest.raises(IntegrityError) as info:
        client.download_artifacts(run.id, "model/weights.bin", tmp_path / "dl")
    assert "model/weights.bin" in str(info.value) and record.sha256 in str(info.value)
    assert not (tmp_path / "dl" / "weights.bin").exists()  # nothing half-verified is left behind
    with pytest.raises(IntegrityError, match=record.sha256):
        client.read_artifact(run.id, "model/weights.bin")
    os.remove(root / "model" / "other.bin")
    with pytest.raises(IntegrityError, match="missing"):
        client.download_artifacts(run.id, "model/other.bin", tmp_path / "dl2")


def test_dataset_digest_identifies_content() -> None:
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    with sy.start_run() as run:
        first = run.log_dataset(df, name="train")
        same = run.log_dataset(df.copy(), name="train", role="validation")
        changed = run.log_dataset(df.assign(a=[1, 2, 4]), name="train")
        arr = run.log_dataset(__import__("numpy").eye(3), name="matrix")
    assert first.id == same.id and first.digest != changed.digest
    assert arr.num_rows == 3
    links = sy.TrackingClient(_ws()).store.list_run_datasets(run.id)
    assert {(x.dataset.name, x.role) for x in links} == {("train", "training"), ("train", "validation"), ("matrix", "training")}
    with pytest.raises(InvalidParameter, match="DataFrame"):
        with sy.start_run() as run2:
            run2.log_dataset("not a table", name="x")


def test_large_dataset_fingerprint_on_two_threads_equals_the_serial_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from shipyard.tracking import _datasets

    r = np.random.default_rng(3)
    n = _datasets._OVERLAP_ROWS + 7
    df = pd.DataFrame({"x": r.random(n), "k": r.integers(0, 9, n), "s": r.choice(["a", "b", None], n),
                       "t": pd.date_range("2025-01-01", periods=n, freq="s", tz="UTC")})
    threaded = _datasets.fingerprint(df)
    monkeypatch.setattr(_datasets, "_OVERLAP_ROWS", n + 1)
    assert _datasets.fingerprint(df) == threaded
    assert _datasets.fingerprint(df.assign(x=df["x"] + 1))[0] != threaded[0]


def test_search_runs_dataframe_and_compare() -> None:
    sy.set_project("cmp")
    ids = []
    for i, model in enumerate(["lgbm", "xgb", "lgbm"]):
        with sy.start_run(experiment="search", tags={"team": "ops" if i < 2 else "ds"}) as run:
            run.log_params({"model": model, "depth": i + 3})
            run.log_metric("auc", 0.8 + i / 20)
        ids.append(run.id)
    df = sy.search_runs(experiment="search", filter="params.model = 'lgbm'", order_by="metrics.auc DESC")
    assert list(df["run_id"]) == [ids[2], ids[0]]
    assert {"params.model", "params.depth", "metrics.auc", "tags.team", "status", "duration_s"} <= set(df.columns)
    assert len(sy.search_runs(experiment="search", limit=2)) == 2
    cmp = sy.compare_runs(ids[:2])
    assert cmp.loc["params.model", "differs"] and not cmp.loc["tags.team", "differs"]
    assert cmp.loc["metrics.auc"].iloc[0] == pytest.approx(0.8)
    with pytest.raises(InvalidParameter):
        sy.compare_runs(ids[:1])
    with pytest.raises(NotFound):
        sy.search_runs(experiment="nope")
    empty = sy.search_runs(experiment="search", filter="metrics.auc > 5")
    assert empty.empty and "run_id" in empty.columns


def test_projects_isolate_records() -> None:
    sy.set_project("a")
    with sy.start_run(experiment="shared") as run_a:
        pass
    sy.set_project("b")
    assert sy.search_runs().empty
    with sy.start_run(experiment="shared") as run_b:
        pass
    assert list(sy.search_runs()["run_id"]) == [run_b.id]
    assert sy.get_run(run_a.id).experiment_id != sy.get_run(run_b.id).experiment_id


def test_experiment_management() -> None:
    client = sy.TrackingClient(_ws())
    exp = client.create_experiment("one", tags={"owner": "ana"})
    assert client.get_experiment("one") == client.get_experiment(exp.id)
    client.rename_experiment("one", "two")
    client.delete_experiment("two")
    assert client.list_experiments() == []
    assert [e.name for e in client.list_experiments(include_deleted=True)] == ["two"]
    client.restore_experiment(exp.id)
    assert [e.name for e in client.list_experiments()] == ["two"]


def test_run_records_git_state(tmp_path: Path) -> None:
    import subprocess

    from shipyard.tracking import _environment

    repo = tmp_path / "repo"
    repo.mkdir()
    for cmd in (["git", "init", "-q"], ["git", "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty", "-m", "x"]):
        subprocess.run(cmd, cwd=repo, check=True)
    _environment.git_state.cache_clear()
    os.chdir(repo)
    with sy.start_run() as run:
        pass
    got = sy.get_run(run.id)
    assert got.git_commit and len(got.git_commit) == 40 and got.git_dirty is False


def test_starting_a_run_in_a_deleted_experiment_is_refused() -> None:
    client = sy.TrackingClient(_ws())
    client.create_experiment("old")
    client.delete_experiment("old")
    with pytest.raises(InvalidParameter, match="is deleted. Restore it"):
        sy.start_run(experiment="old")


def test_init_keeps_the_project_set_before() -> None:
    sy.set_project("kept")
    sy.init(flush_interval=0.2)
    assert sy.search_runs().empty
    with sy.start_run() as run:
        pass
    assert sy.get_run(run.id).project == "kept"
