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
