"""Built-in flavors, looked up lazily by name or by model type; third parties add their own under
the entry-point group ``shipyard.flavors``."""

from __future__ import annotations

import importlib
from typing import Any

from shipyard.exceptions import InvalidParameter
from shipyard.models.flavors.base import Flavor, Predictor

#: Detection order matters: specific frameworks before scikit-learn (their wrappers are estimators too).
BUILTIN_FLAVORS: dict[str, str] = {
    "python": "shipyard.models.flavors._python:PythonFlavor",
    "onnx": "shipyard.models.flavors._onnx:OnnxFlavor",
    "pytorch": "shipyard.models.flavors._torch:TorchFlavor",
    "xgboost": "shipyard.models.flavors._xgboost:XGBoostFlavor",
    "lightgbm": "shipyard.models.flavors._lightgbm:LightGBMFlavor",
    "sklearn": "shipyard.models.flavors._sklearn:SklearnFlavor",
}

_cache: dict[str, Flavor] = {}


def _instantiate(target: str) -> Flavor:
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)()  # type: ignore[no-any-return]


def _third_party() -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group="shipyard.flavors")}


def get_flavor(name: str) -> Flavor:
    """The flavor called ``name``.

    Raises:
        InvalidParameter: unknown flavor; the message lists the known ones.
    """
    if name not in _cache:
        if name in BUILTIN_FLAVORS:
            _cache[name] = _instantiate(BUILTIN_FLAVORS[name])
        else:
            extra = _third_party()
            if name not in extra:
                known = ", ".join([*BUILTIN_FLAVORS, *extra])
                raise InvalidParameter(
                    f"Unknown model flavor {name!r}. Known flavors: {known}. A third-party flavor registers the "
                    "entry-point group 'shipyard.flavors'."
                )
            _cache[name] = extra[name].load()()
    return _cache[name]


def detect_flavor(model: Any) -> Flavor:
    """The flavor that can save ``model``.

    Raises:
        InvalidParameter: no flavor accepts it (the message says how to wrap it).
    """
    for name in [*BUILTIN_FLAVORS, *_third_party()]:
        flavor = get_flavor(name)
        if flavor.accepts(model):
            return flavor
    raise InvalidParameter(
        f"No flavor knows how to save a {type(model).__module__}.{type(model).__qualname__}. Supported: "
        "scikit-learn, XGBoost, LightGBM, PyTorch nn.Module, ONNX ModelProto; wrap anything else in a "
        "sy.PythonModel subclass."
    )


__all__ = ["BUILTIN_FLAVORS", "Flavor", "Predictor", "detect_flavor", "get_flavor"]
