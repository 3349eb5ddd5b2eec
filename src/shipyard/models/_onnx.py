"""ONNX conversion with a recorded parity check.

``convert(model, sample)`` turns a loaded scikit-learn, LightGBM or XGBoost model into an ONNX graph
(skl2onnx / onnxmltools), runs both on the input example and on a sample, and reports the maximum
absolute difference of their outputs (probabilities for classifiers, predictions otherwise).
"""

from __future__ import annotations

import copy
from importlib import metadata
from typing import Any

from shipyard._internal._lazy import require
from shipyard.exceptions import InvalidParameter
from shipyard.models._package import LoadedModel
from shipyard.models.flavors._onnx import OnnxPredictor, session_for

CONVERTIBLE = ("sklearn", "lightgbm", "xgboost")
OPSET = 17  # skl2onnx
OPSET_ML = 15  # onnxmltools' highest supported opset


def default_sample(example: Any, rows: int = 256, seed: int = 0) -> Any:
    """A sample around the input example: its rows repeated with ±5% noise on numeric columns."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    if isinstance(example, pd.DataFrame):
        sample = example.sample(n=rows, replace=True, random_state=seed).reset_index(drop=True)
        for col in sample.columns:
            if pd.api.types.is_float_dtype(sample[col]):
                sample[col] = sample[col] * (1 + rng.normal(0, 0.05, len(sample)))
        return sample
    array = np.asarray(example)
    picked = array[rng.integers(0, len(array), rows)]
    if np.issubdtype(picked.dtype, np.floating):
        picked = picked * (1 + rng.normal(0, 0.05, picked.shape))
    return picked.astype(array.dtype)


def _float_input(n: int) -> Any:
    from onnxmltools.convert.common.data_types import FloatTensorType

    return [("input", FloatTensorType([None, n]))]


def _convert_native(flavor: str, native: Any, example: Any) -> Any:
    if flavor == "sklearn":
        skl2onnx = require("skl2onnx", "onnx", "ONNX conversion of scikit-learn models")
        try:
            from skl2onnx import update_registered_converter  # noqa: F401 - registers LightGBM/XGBoost hooks lazily
        except ImportError:  # pragma: no cover
            pass
        final = native.steps[-1][1] if hasattr(native, "steps") else native
        options = {id(final): {"zipmap": False}} if hasattr(final, "predict_proba") else None
        per_column = hasattr(native, "steps") and type(native.steps[0][1]).__name__ == "ColumnTransformer"
        if per_column:
            # One graph input per column; numbers as float32 (skl2onnx graphs compute in float).
            sample = example[:1].copy()
            for col in sample.columns:
                if sample[col].dtype.kind in "biuf":
                    sample[col] = sample[col].astype("float32")
        elif not hasattr(example, "to_numpy"):
            sample = example[:1]
        else:
            sample = example.to_numpy(dtype="float32")[:1]
        return skl2onnx.to_onnx(native, X=sample, options=options, target_opset=OPSET)
    onnxmltools = require("onnxmltools", "onnx", "ONNX conversion of LightGBM / XGBoost models")
    n = example.shape[1]
    if flavor == "lightgbm":
        return onnxmltools.convert_lightgbm(native, initial_types=_float_input(n), zipmap=False, target_opset=OPSET_ML)
    model = copy.deepcopy(native)
    booster = model.get_booster() if hasattr(model, "get_booster") else model
    booster.feature_names = None  # onnxmltools expects f0..fN
    return onnxmltools.convert_xgboost(model, initial_types=_float_input(n), target_opset=OPSET_ML)


def _outputs(model: LoadedModel, onnx: OnnxPredictor, data: Any) -> tuple[Any, Any]:
    import numpy as np

    if model.has_proba and onnx.has_proba:
        return np.asarray(model.predict_proba(data), dtype="float64"), np.asarray(onnx.predict_proba(model.prepare(data)), dtype="float64")
    native = np.asarray(model.predict(data), dtype="float64").ravel()
    converted = np.asarray(onnx.predict(model.prepare(data)), dtype="float64").ravel()
    return native, converted


def convert(model: LoadedModel, sample: Any | None = None) -> tuple[bytes, dict[str, Any]]:
    """ONNX bytes and a parity report for a loaded native model.

    Raises:
        InvalidParameter: the flavor cannot be converted, or the model has no input example.
    """
    import numpy as np

    if model.flavor not in CONVERTIBLE:
        raise InvalidParameter(f"ONNX conversion supports {', '.join(CONVERTIBLE)} models, not {model.flavor!r}.")
    example = model.input_example()
    if example is None:
        raise InvalidParameter("ONNX conversion needs the model's input example: log it with input_example=...")
    if sample is None:
        sample = default_sample(example)
    prepared = model.prepare(example)
    graph = _convert_native(model.flavor, model.native, prepared)
    data = graph.SerializeToString()
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "model.onnx"
        file.write_bytes(data)
        onnx = OnnxPredictor(session_for(file), {})
        diffs = {}
        for label, batch in (("input_example", example), ("sample", sample)):
            native, converted = _outputs(model, onnx, batch)
            if native.shape != converted.shape:
                raise InvalidParameter(f"The ONNX graph returns shape {converted.shape}, the model {native.shape}.")
            diffs[label] = float(np.max(np.abs(native - converted))) if native.size else 0.0
    converter = "skl2onnx" if model.flavor == "sklearn" else "onnxmltools"
    report = {
        "max_abs_diff_example": diffs["input_example"],
        "max_abs_diff_sample": diffs["sample"],
        "sample_rows": int(len(sample)),
        "compared": "probabilities" if model.has_proba and onnx.has_proba else "predictions",
        "converter": converter,
        "converter_version": metadata.version(converter),
        "onnxruntime_version": metadata.version("onnxruntime"),
        "opset": OPSET if model.flavor == "sklearn" else OPSET_ML,
        "label_output": onnx.label,
        "proba_output": onnx.proba,
    }
    return data, report
