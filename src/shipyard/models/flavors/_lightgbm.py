"""LightGBM: boosters as LightGBM's text format; scikit-learn wrappers pickled (they keep the
wrapper's label encoding and ``predict_proba``)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from shipyard._internal._lazy import require
from shipyard.models.flavors.base import EstimatorPredictor, Flavor, Predictor, module_root


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
            return EstimatorPredictor(lgb.Booster(model_file=str(path / config["model_file"])), proba=False)
        with open(path / config["model_file"], "rb") as fh:
            return EstimatorPredictor(pickle.load(fh))  # noqa: S301 - hashes verified before this
