"""LightGBM: boosters as LightGBM's text format; scikit-learn wrappers pickled (they keep the
wrapper's label encoding and ``predict_proba``).

Small batches are scored on one thread: LightGBM's default is every core through OpenMP, whose
threads wake and then spin for a while after each call — for a batch of a few rows that costs ten
times the prediction itself in CPU (measured in bench/serving) and slows whatever else the machine
runs. Batches over ``SMALL_BATCH`` rows keep the model's own thread setting."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from shipyard._internal._lazy import require
from shipyard.models.flavors.base import EstimatorPredictor, Flavor, Predictor, module_root

SMALL_BATCH = 256


class LightGBMPredictor(EstimatorPredictor):
    """A booster or scikit-learn wrapper; one thread for batches of up to ``SMALL_BATCH`` rows."""

    def predict(self, data: Any) -> Any:
        return self.model.predict(data, **_threads(data))

    def predict_proba(self, data: Any) -> Any:
        if not self._proba:
            return super().predict_proba(data)
        return self.model.predict_proba(data, **_threads(data))


def _threads(data: Any) -> dict[str, int]:
    shape = getattr(data, "shape", None)
    rows = shape[0] if shape else len(data)
    return {"num_threads": 1} if rows <= SMALL_BATCH else {}


class LightGBMFlavor(Flavor):
    name = "lightgbm"
    framework = "lightgbm"
    module = "lightgbm"
    extra = "lightgbm"

    def accepts(self, model: Any) -> bool:
        return "lightgbm" in module_root(model)

    def save(self, model: Any, path: Path, input_example: Any | None) -> dict[str, Any]:
        require("lightgbm", self.extra, "Saving a LightGBM model")
        if type(model).__name__ == "Booster":
            model.save_model(str(path / "model.txt"))
            return {"model_file": "model.txt", "api": "booster"}
        with open(path / "model.pkl", "wb") as fh:
            pickle.dump(model, fh, protocol=5)
        return {"model_file": "model.pkl", "api": "sklearn", "class": f"{type(model).__module__}.{type(model).__qualname__}"}

    def load(self, path: Path, config: dict[str, Any]) -> Predictor:
        lgb = require("lightgbm", self.extra, "Loading a LightGBM model")
        if config["api"] == "booster":
            return LightGBMPredictor(lgb.Booster(model_file=str(path / config["model_file"])), proba=False)
        with open(path / config["model_file"], "rb") as fh:
            return LightGBMPredictor(pickle.load(fh))  # noqa: S301 - hashes verified before this
