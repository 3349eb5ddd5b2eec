"""Every flavor round-trips: saved in one process, loaded in a fresh one, same predictions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

CHILD = Path(__file__).with_name("_roundtrip_child.py")
FLAVORS = {
    "sklearn": "sklearn", "xgboost": "xgboost", "xgboost-booster": "xgboost", "lightgbm": "lightgbm",
    "lightgbm-booster": "lightgbm", "pytorch": "pytorch", "pytorch-traced": "pytorch", "onnx": "onnx",
    "python": "python",
}


def _run(args: list[str], env: dict[str, str], cwd: Path) -> None:
    out = subprocess.run([sys.executable, str(CHILD), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-4000:]


@pytest.mark.slow
@pytest.mark.parametrize("recipe", list(FLAVORS))
def test_round_trip_in_a_fresh_process(recipe: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.update({"SHIPYARD_HOME": str(tmp_path / "home"), "PYTHONPATH": os.pathsep.join(sys.path)})
    work = tmp_path / "work"
    work.mkdir()
    _run(["save", recipe, str(work)], env, tmp_path)
    uri, flavor = (work / "uri").read_text().split("\n")
    assert flavor == FLAVORS[recipe]
    _run(["load", uri, str(work)], env, tmp_path)
    expected, got = np.load(work / "expected.npy"), np.load(work / "got.npy")
    assert expected.shape == got.shape and len(got) == 300
    assert np.array_equal(expected, got)
    if (work / "proba.npy").exists():
        proba = np.load(work / "proba.npy")
        assert proba.shape == (300, 2) and np.allclose(proba.sum(axis=1), 1.0)


def test_lightgbm_scores_small_batches_on_one_thread_with_the_same_answers() -> None:
    import lightgbm as lgb
    import numpy as np

    from shipyard.models.flavors._lightgbm import SMALL_BATCH, LightGBMPredictor

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 6))
    y = (x[:, 0] + rng.normal(size=2000) > 0).astype(int)
    model = lgb.LGBMClassifier(n_estimators=30, verbose=-1).fit(x, y)
    calls: list[dict[str, object]] = []

    class Spy:
        def predict_proba(self, data: object, **kwargs: object) -> object:
            calls.append(kwargs)
            return model.predict_proba(data, **kwargs)  # type: ignore[arg-type]

        def predict(self, data: object, **kwargs: object) -> object:
            calls.append(kwargs)
            return model.predict(data, **kwargs)  # type: ignore[arg-type]

    predictor = LightGBMPredictor(Spy())
    small, large = x[:SMALL_BATCH], x[: SMALL_BATCH + 1]
    np.testing.assert_array_equal(predictor.predict_proba(small), model.predict_proba(small))
    np.testing.assert_array_equal(predictor.predict(large), model.predict(large))
    assert calls == [{"num_threads": 1}, {}]  # one thread for small batches, the model's setting otherwise
