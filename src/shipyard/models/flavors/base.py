"""The flavor interface: how one kind of model is saved to files and loaded back.

Flavors are a user-extension point: a third-party flavor subclasses :class:`Flavor` and registers
it under the entry-point group ``shipyard.flavors`` (see :func:`shipyard.models.flavors.get_flavor`).
``shipyard.testing.FlavorSuite`` checks a flavor's round trip.
"""

from __future__ import annotations

import abc
from importlib import metadata
from pathlib import Path
from typing import Any


class Predictor(abc.ABC):
    """A loaded model: ``predict`` (and ``predict_proba`` for classifiers that have it)."""

    #: Whether a 2-D float array in signature column order is as good as a DataFrame (the serving
    #: fast path then skips building one).
    takes_matrix: bool = False

    @abc.abstractmethod
    def predict(self, data: Any) -> Any:
        """Predictions for a batch (a DataFrame or an array, as the flavor's ``input_kind`` says)."""

    def predict_proba(self, data: Any) -> Any:
        raise AttributeError("This model has no predict_proba (it is not a probabilistic classifier).")

    def predict_both(self, data: Any) -> tuple[Any, Any]:
        """(predictions, probabilities) — one model call where the runtime can give both at once."""
        return self.predict(data), self.predict_proba(data)

    @property
    def has_proba(self) -> bool:
        return False

    @property
    def native(self) -> Any:
        """The framework object underneath (estimator, booster, module, session)."""
        return None


class EstimatorPredictor(Predictor):
    """A model with ``predict`` (and, when ``proba`` is true, ``predict_proba``): scikit-learn
    estimators and the scikit-learn-style wrappers of other frameworks."""

    def __init__(self, model: Any, proba: bool = True) -> None:
        self.model = model
        self._proba = proba and hasattr(model, "predict_proba")

    def predict(self, data: Any) -> Any:
        return self.model.predict(data)

    def predict_proba(self, data: Any) -> Any:
        if not self._proba:
            return super().predict_proba(data)
        return self.model.predict_proba(data)

    @property
    def has_proba(self) -> bool:
        return self._proba

    @property
    def native(self) -> Any:
        return self.model


class Flavor(abc.ABC):
    """Save and load one kind of model."""

    #: Short name stored in the manifest ("sklearn", "xgboost", ...).
    name: str = ""
    #: Distribution name of the framework on PyPI (for the requirement pin and version checks).
    framework: str = ""
    #: Other distributions that provide the same module (e.g. ``xgboost-cpu``).
    framework_alternates: tuple[str, ...] = ()
    #: Importable module of the framework.
    module: str = ""
    #: The ``shipyard-mlops[extra]`` that installs the framework.
    extra: str = ""
    #: "dataframe" or "array": what ``Predictor.predict`` wants.
    input_kind: str = "dataframe"

    @abc.abstractmethod
    def accepts(self, model: Any) -> bool:
        """Whether this flavor can save ``model`` (must not import the framework needlessly)."""

    @abc.abstractmethod
    def save(self, model: Any, path: Path, input_example: Any | None) -> dict[str, Any]:
        """Write the model's files under ``path``; return the flavor config for the manifest."""

    @abc.abstractmethod
    def load(self, path: Path, config: dict[str, Any]) -> Predictor:
        """Load the files written by :meth:`save` (hashes were verified already)."""

    def installed_distribution(self) -> tuple[str, str] | None:
        """``(distribution, version)`` of the installed framework, or ``None``."""
        for dist in (self.framework, *self.framework_alternates):
            try:
                return dist, metadata.version(dist)
            except metadata.PackageNotFoundError:
                continue
        return None

    def framework_version(self) -> str | None:
        found = self.installed_distribution()
        return found[1] if found else None

    def requirements(self) -> list[str]:
        """Pinned requirements of this flavor (the framework at its installed version)."""
        found = self.installed_distribution()
        return [f"{found[0]}=={found[1]}"] if found else [self.framework]


def module_root(model: Any) -> set[str]:
    """Top-level modules of the model's class and its bases (cheap flavor detection)."""
    return {cls.__module__.split(".")[0] for cls in type(model).__mro__}


def to_numpy_2d(data: Any, dtype: str = "float32") -> Any:
    import numpy as np

    if hasattr(data, "to_numpy"):
        data = data.to_numpy()
    array = np.asarray(data, dtype=dtype)
    if not array.flags.writeable:  # e.g. a view of a DataFrame; torch wants writable memory
        array = array.copy()
    return array.reshape(-1, 1) if array.ndim == 1 else array
