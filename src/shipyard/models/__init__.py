"""Model packaging (L3): flavors, signatures, manifests with sha256 for every file, verified loading,
and ONNX conversion with a recorded parity check. Works on local directories; the registry (L4)
resolves ``models:/`` and ``runs:/`` URIs to them."""

from shipyard.models._onnx import convert as convert_to_onnx
from shipyard.models._package import FrameworkVersionWarning, LoadedModel, load_model, save_model
from shipyard.models._signature import enforce, infer_signature
from shipyard.models.flavors import Flavor, Predictor, detect_flavor, get_flavor
from shipyard.models.flavors._python import ModelContext, PythonModel

__all__ = [
    "Flavor",
    "FrameworkVersionWarning",
    "LoadedModel",
    "ModelContext",
    "Predictor",
    "convert_to_onnx",
    "PythonModel",
    "detect_flavor",
    "enforce",
    "get_flavor",
    "infer_signature",
    "load_model",
    "save_model",
]
