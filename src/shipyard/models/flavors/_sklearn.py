"""scikit-learn estimators and Pipelines (ColumnTransformer included): pickle, protocol 5."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from shipyard.models.flavors.base import EstimatorPredictor, Flavor, Predictor, module_root


class _SklearnPredictor(EstimatorPredictor):
    def __init__(self, model: Any) -> None:
        super().__init__(model)
        # Fitted on a plain array: give it arrays (a DataFrame would only add a feature-name warning).
        self.wants_array = not hasattr(model, "feature_names_in_")

    def _input(self, data: Any) -> Any:
        return data.to_numpy() if self.wants_array and hasattr(data, "to_numpy") else data

    def predict(self, data: Any) -> Any:
        return super().predict(self._input(data))

    def predict_proba(self, data: Any) -> Any:
        return super().predict_proba(self._input(data))


class SklearnFlavor(Flavor):
    name = "sklearn"
    framework = "scikit-learn"
    module = "sklearn"
    extra = "demo"

    def accepts(self, model: Any) -> bool:
        return "sklearn" in module_root(model) and hasattr(model, "predict")

    def save(self, model: Any, path: Path, input_example: Any | None) -> dict[str, Any]:
        with open(path / "model.pkl", "wb") as fh:
            pickle.dump(model, fh, protocol=5)
        return {
            "model_file": "model.pkl",
            "class": f"{type(model).__module__}.{type(model).__qualname__}",
            "predict_proba": hasattr(model, "predict_proba"),
        }

    def load(self, path: Path, config: dict[str, Any]) -> Predictor:
        with open(path / config["model_file"], "rb") as fh:
            return _SklearnPredictor(pickle.load(fh))  # noqa: S301 - hashes verified before this
