"""XGBoost: boosters and the scikit-learn wrappers, saved in XGBoost's own UBJSON format."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from shipyard._internal._lazy import require
from shipyard.models.flavors.base import EstimatorPredictor, Flavor, Predictor, module_root


class _BoosterPredictor(EstimatorPredictor):
    """A raw ``xgboost.Booster`` predicts from a ``DMatrix``."""

    def predict(self, data: Any) -> Any:
        xgb = require("xgboost", "xgboost", "Loading an XGBoost model")
        return self.model.predict(xgb.DMatrix(data))


class XGBoostFlavor(Flavor):
    name = "xgboost"
    framework = "xgboost"
    framework_alternates = ("xgboost-cpu",)
    module = "xgboost"
    extra = "xgboost"

    def accepts(self, model: Any) -> bool:
        return "xgboost" in module_root(model)

    def save(self, model: Any, path: Path, input_example: Any | None) -> dict[str, Any]:
        require("xgboost", self.extra, "Saving an XGBoost model")
        model.save_model(str(path / "model.ubj"))
        is_booster = type(model).__name__ == "Booster"
        return {
            "model_file": "model.ubj",
            "api": "booster" if is_booster else "sklearn",
            "class": f"{type(model).__module__}.{type(model).__qualname__}",
        }

    def load(self, path: Path, config: dict[str, Any]) -> Predictor:
        xgb = require("xgboost", self.extra, "Loading an XGBoost model")
        if config["api"] == "booster":
            booster = xgb.Booster()
            booster.load_model(str(path / config["model_file"]))
            return _BoosterPredictor(booster, proba=False)
        module, _, cls = config["class"].rpartition(".")
        model = getattr(importlib.import_module(module), cls)()
        model.load_model(str(path / config["model_file"]))
        return EstimatorPredictor(model)
