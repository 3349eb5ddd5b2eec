"""ONNX models, run with onnxruntime. Multi-input graphs (one input per column, as skl2onnx builds
for pipelines) are fed column by column; single-input graphs get the whole float matrix."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from shipyard._internal._lazy import require
from shipyard.models.flavors.base import Flavor, Predictor, module_root, to_numpy_2d

_ORT_TYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(int64)": "int64",
              "tensor(int32)": "int32", "tensor(string)": "object", "tensor(bool)": "bool"}


def _sanitize(name: str) -> str:
    """How skl2onnx names a graph input after a column."""
    return re.sub(r"[^A-Za-z0-9_]", "_", str(name))


def _matrix_plan(session: Any, columns: list[str]) -> list[tuple[str, int, str]]:
    """For each graph input: its name, the matrix column that feeds it and its dtype."""
    index = {_sanitize(c): i for i, c in enumerate(columns)} | {c: i for i, c in enumerate(columns)}
    return [(spec.name, index[spec.name], _ORT_TYPES.get(spec.type, "float32")) for spec in session.get_inputs()]


def feeds(session: Any, data: Any, columns: list[str] | None = None,
          plan: list[tuple[str, int, str]] | None = None) -> dict[str, Any]:
    """The input dict for ``session.run`` from a DataFrame, or an array (whose ``columns`` are given
    for a multi-input graph)."""
    import numpy as np

    inputs = session.get_inputs()
    if len(inputs) == 1:
        dtype = _ORT_TYPES.get(inputs[0].type, "float32")
        return {inputs[0].name: to_numpy_2d(data, dtype)}
    if columns is not None and isinstance(data, np.ndarray):
        return {name: np.asarray(data[:, i], dtype=dtype).reshape(-1, 1)
                for name, i, dtype in plan or _matrix_plan(session, columns)}
    named = {_sanitize(c): c for c in getattr(data, "columns", [])}
    named.update({c: c for c in getattr(data, "columns", [])})
    out = {}
    for spec in inputs:
        if spec.name not in named:
            raise ValueError(f"The ONNX graph needs an input column {spec.name!r}.")
        dtype = _ORT_TYPES.get(spec.type, "float32")
        column = data[named[spec.name]].to_numpy()
        if dtype == "object":
            column = column.astype(str).astype(object)
        out[spec.name] = np.asarray(column, dtype=dtype).reshape(-1, 1)
    return out


def _matrix(proba: Any) -> Any:
    """Probabilities as a matrix; a ZipMap output (one {class: probability} dict per row) too."""
    if isinstance(proba, list):
        import numpy as np

        keys = sorted(proba[0]) if proba else []
        return np.array([[row[k] for k in keys] for row in proba], dtype="float32")
    return proba


class OnnxPredictor(Predictor):
    def __init__(self, session: Any, config: dict[str, Any], columns: list[str] | None = None) -> None:
        self.session = session
        self.columns = columns  # the signature's columns: how a matrix maps onto a multi-input graph
        self._plan = None
        if columns is not None and len(session.get_inputs()) > 1:
            try:
                self._plan = _matrix_plan(session, columns)
            except KeyError:  # the graph wants inputs the signature does not name: DataFrames only
                self.columns = None
        self.takes_matrix = self.columns is not None or len(session.get_inputs()) == 1
        self.outputs = [o.name for o in session.get_outputs()]
        self.label = config.get("label_output") or self.outputs[0]
        self.proba = config.get("proba_output") or (self.outputs[1] if len(self.outputs) > 1 else None)

    def predict(self, data: Any) -> Any:
        result = self.session.run([self.label], feeds(self.session, data, self.columns, self._plan))[0]
        return result.ravel() if result.ndim == 2 and result.shape[1] == 1 else result

    def predict_proba(self, data: Any) -> Any:
        if self.proba is None:
            return super().predict_proba(data)
        return _matrix(self.session.run([self.proba], feeds(self.session, data, self.columns, self._plan))[0])

    def predict_both(self, data: Any) -> tuple[Any, Any]:
        if self.proba is None:
            return super().predict_both(data)
        label, proba = self.session.run([self.label, self.proba], feeds(self.session, data, self.columns, self._plan))
        return (label.ravel() if label.ndim == 2 and label.shape[1] == 1 else label), _matrix(proba)

    @property
    def has_proba(self) -> bool:
        return self.proba is not None

    @property
    def native(self) -> Any:
        return self.session


def session_for(file: Path) -> Any:
    ort = require("onnxruntime", "onnx", "Running an ONNX model")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(file), sess_options=options, providers=["CPUExecutionProvider"])


class OnnxFlavor(Flavor):
    name = "onnx"
    framework = "onnxruntime"
    module = "onnxruntime"
    extra = "onnx"

    def accepts(self, model: Any) -> bool:
        return "onnx" in module_root(model) and type(model).__name__ == "ModelProto"

    def save(self, model: Any, path: Path, input_example: Any | None) -> dict[str, Any]:
        (path / "model.onnx").write_bytes(model.SerializeToString())
        return {"model_file": "model.onnx"}

    def load(self, path: Path, config: dict[str, Any]) -> Predictor:
        return OnnxPredictor(session_for(path / config["model_file"]), config)
