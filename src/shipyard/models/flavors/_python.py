"""Python-class models: a :class:`PythonModel` subclass, serialised by value with cloudpickle (so a
class defined in a script or notebook loads elsewhere), plus any artifact files it declares."""

from __future__ import annotations

import abc
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.models.flavors.base import Flavor, Predictor


@dataclass(frozen=True)
class ModelContext:
    """What ``PythonModel.load`` receives: local paths of the artifacts logged with the model."""

    artifacts: dict[str, str]


class PythonModel(abc.ABC):
    """Base class for any model Shipyard has no flavor for.

    Subclass it, implement ``predict(inputs)`` (inputs: a DataFrame) and optionally
    ``load(context)`` to read the files passed as ``artifacts=`` to ``log_model``::

        class Rules(sy.PythonModel):
            def load(self, context):
                self.threshold = float(open(context.artifacts["threshold"]).read())
            def predict(self, inputs):
                return (inputs["dep_delay"] > self.threshold).astype(int)
    """

    def load(self, context: ModelContext) -> None:  # noqa: B027 - optional hook
        """Called once after loading, before the first ``predict``."""

    @abc.abstractmethod
    def predict(self, inputs: Any) -> Any:
        """Predictions for a DataFrame of inputs."""


class _PythonPredictor(Predictor):
    def __init__(self, model: PythonModel) -> None:
        self.model = model

    def predict(self, data: Any) -> Any:
        return self.model.predict(data)

    def predict_proba(self, data: Any) -> Any:
        method = getattr(self.model, "predict_proba", None)
        if method is None:
            return super().predict_proba(data)
        return method(data)

    @property
    def has_proba(self) -> bool:
        return hasattr(self.model, "predict_proba")

    @property
    def native(self) -> Any:
        return self.model


class PythonFlavor(Flavor):
    name = "python"
    framework = "cloudpickle"
    module = "cloudpickle"
    extra = ""

    def accepts(self, model: Any) -> bool:
        return isinstance(model, PythonModel)

    def save(self, model: Any, path: Path, input_example: Any | None, artifacts: dict[str, str] | None = None) -> dict[str, Any]:
        import cloudpickle

        with open(path / "python_model.pkl", "wb") as fh:
            cloudpickle.dump(model, fh)
        names = {}
        for name, local in (artifacts or {}).items():
            src = Path(local)
            target = path / "artifacts" / name / src.name
            target.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, target)
            else:
                shutil.copy2(src, target)
            names[name] = target.relative_to(path).as_posix()
        return {"model_file": "python_model.pkl", "artifacts": names,
                "class": f"{type(model).__module__}.{type(model).__qualname__}"}

    def load(self, path: Path, config: dict[str, Any]) -> Predictor:
        import cloudpickle

        with open(path / config["model_file"], "rb") as fh:
            model = cloudpickle.load(fh)  # hashes verified before this
        model.load(ModelContext({k: str(path / v) for k, v in config.get("artifacts", {}).items()}))
        return _PythonPredictor(model)
