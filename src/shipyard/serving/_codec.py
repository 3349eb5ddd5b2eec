"""Request and response shapes of the three serving protocols, decoded to one DataFrame of input
rows and encoded back: Shipyard's own (records, columns, rows), MLflow's scoring protocol
(``dataframe_split``, ``dataframe_records``, ``instances``, ``inputs``) and the Open Inference
Protocol (V2 tensors)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd

from shipyard.exceptions import InvalidParameter

_NUMBERS = frozenset({int, float})
_NUMBERS_OR_NULL = frozenset({int, float, type(None)})
_V2_TYPES = {"b": "BOOL", "i": "INT64", "u": "UINT64", "f": "FP64", "O": "BYTES", "U": "BYTES", "S": "BYTES"}
_V2_DTYPES = {"BOOL": "?", "UINT8": "<u1", "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8", "INT8": "<i1",
              "INT16": "<i2", "INT32": "<i4", "INT64": "<i8", "FP16": "<f2", "FP32": "<f4", "FP64": "<f8"}


def split_v2_binary(raw: bytes, header_length: int) -> dict[str, Any]:
    """The binary tensor extension: a JSON header of ``header_length`` bytes, then each input's raw
    little-endian bytes (``parameters.binary_data_size``), in order. Returns the request with the
    binary inputs decoded into ``data`` lists."""
    import orjson

    if not 0 < header_length <= len(raw):
        raise InvalidParameter(f"Inference-Header-Content-Length {header_length} does not fit a body of {len(raw)} bytes.")
    try:
        body = orjson.loads(raw[:header_length])
    except orjson.JSONDecodeError:
        raise InvalidParameter("The JSON header of the binary request is not valid JSON.") from None
    offset = header_length
    for tensor in body.get("inputs", []) if isinstance(body, dict) else []:
        size = (tensor.get("parameters") or {}).get("binary_data_size")
        if size is None:
            continue
        dtype = _V2_DTYPES.get(str(tensor.get("datatype")))
        if dtype is None:
            raise InvalidParameter(f"Input {tensor.get('name')!r}: binary data of datatype {tensor.get('datatype')!r} "
                                   "is not supported; send it as JSON data.")
        chunk = raw[offset:offset + int(size)]
        if len(chunk) != int(size):
            raise InvalidParameter(f"Input {tensor.get('name')!r}: {size} bytes of binary data announced, {len(chunk)} sent.")
        tensor["data"] = np.frombuffer(chunk, dtype=dtype).tolist()
        offset += int(size)
    return body  # type: ignore[no-any-return]


def _rows(rows: Any, columns: list[str] | None, where: str) -> pd.DataFrame:
    if not isinstance(rows, list):
        raise InvalidParameter(f"{where} must be a list of rows.")
    if rows and all(isinstance(r, dict) for r in rows):
        return pd.DataFrame.from_records(rows)
    if not columns:
        raise InvalidParameter(f"{where}: rows given as lists need column names (the model's signature has none).")
    if any(not isinstance(r, list) or len(r) != len(columns) for r in rows):
        raise InvalidParameter(f"{where}: every row must be a list of {len(columns)} values ({', '.join(columns)}).")
    return pd.DataFrame(rows, columns=columns)


def _columns(data: Any, where: str) -> pd.DataFrame:
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise InvalidParameter(f"{where} must map each column name to a list of values.")
    lengths = {len(v) for v in data.values()}
    if len(lengths) > 1:
        raise InvalidParameter(f"{where}: the columns have different lengths ({sorted(lengths)}).")
    return pd.DataFrame(data)


def decode_shipyard(body: Any, columns: list[str] | None) -> pd.DataFrame:
    """``{"records": [...]}``, ``{"columns": {...}}``, ``{"rows": [[...]]}`` or a bare list of records."""
    if isinstance(body, list):
        return _rows(body, columns, "The body")
    if not isinstance(body, dict):
        raise InvalidParameter("The body must be a JSON object with records, columns or rows, or a list of records.")
    if "records" in body:
        return _rows(body["records"], columns, "records")
    if "columns" in body and isinstance(body["columns"], dict):
        return _columns(body["columns"], "columns")
    if "rows" in body:
        return _rows(body["rows"], body.get("columns") or columns, "rows")
    raise InvalidParameter("Give the input as records ([{...}]), columns ({name: [...]}) or rows ([[...]]).",
                           hint='Example: {"records": [{"distance": 1089, "dep_delay": 3}]}')


def decode_mlflow(body: Any, columns: list[str] | None) -> pd.DataFrame:
    """MLflow's scoring protocol (``mlflow models serve``)."""
    if not isinstance(body, dict):
        raise InvalidParameter("The body must be a JSON object with dataframe_split, dataframe_records, instances or inputs.")
    if "dataframe_split" in body:
        split = body["dataframe_split"]
        if not isinstance(split, dict) or "data" not in split:
            raise InvalidParameter("dataframe_split must be {\"columns\": [...], \"data\": [[...]]}.")
        return _rows(split["data"], split.get("columns") or columns, "dataframe_split.data")
    if "dataframe_records" in body:
        return _rows(body["dataframe_records"], columns, "dataframe_records")
    for key in ("instances", "inputs"):
        if key in body:
            value = body[key]
            return _columns(value, key) if isinstance(value, dict) else _rows(value, columns, key)
    raise InvalidParameter("Give one of dataframe_split, dataframe_records, instances or inputs (MLflow's scoring format).")


def decode_v2(body: Any, columns: list[str] | None) -> pd.DataFrame:
    """An Open Inference Protocol request: one input per column, or one 2-D tensor of all columns."""
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list) or not inputs:
        raise InvalidParameter("A V2 inference request needs a non-empty \"inputs\" list of tensors.")
    arrays = {}
    for tensor in inputs:
        if not isinstance(tensor, dict) or not {"name", "shape", "data"} <= tensor.keys():
            raise InvalidParameter("Each V2 input needs name, shape, datatype and data.")
        shape = tensor["shape"]
        try:
            array = np.asarray(tensor["data"]).reshape(shape)
        except (ValueError, TypeError) as exc:
            raise InvalidParameter(f"Input {tensor['name']!r}: data does not fit shape {shape}: {exc}.") from None
        arrays[str(tensor["name"])] = array
    if len(arrays) == 1:
        (name, array), = arrays.items()
        if array.ndim == 2 and columns and array.shape[1] == len(columns) and name not in columns:
            return pd.DataFrame(array, columns=columns)
    return pd.DataFrame({name: a.reshape(len(a), -1)[:, 0] if a.ndim > 1 else a for name, a in arrays.items()})


def _plain(values: Any) -> list[Any]:
    return values.tolist() if hasattr(values, "tolist") else list(values)


def encode_v2(name: str, version: str, request_id: str, preds: Any, probas: Any) -> dict[str, Any]:
    preds = np.asarray(preds)
    outputs = [{"name": "predict", "shape": list(preds.shape), "datatype": _V2_TYPES.get(preds.dtype.kind, "BYTES"),
                "data": _plain(preds.reshape(-1) if preds.dtype.kind not in "OUS" else preds.astype(str).reshape(-1))}]
    if probas is not None:
        p = np.asarray(probas, dtype=np.float64)
        outputs.append({"name": "predict_proba", "shape": list(p.shape), "datatype": "FP64", "data": _plain(p.reshape(-1))})
    return {"model_name": name, "model_version": version, "id": request_id, "outputs": outputs}


def plain(values: Any) -> list[Any]:
    """Predictions or probabilities as JSON-ready lists."""
    return _plain(values)


class Plan:
    """The fast path for the common case, a model whose signature is all numeric columns: every
    protocol's body goes straight to one float64 matrix in signature order — no DataFrame per request —
    and the batch becomes a DataFrame (or stays a matrix) once, at scoring time.

    :meth:`matrix` returns None for anything it cannot take as it is (a missing or misspelled column,
    a string, an integer column holding 2.5, unexpected columns under ``extra="error"`` …); such a
    request goes the general way — a DataFrame checked by ``enforce`` — which names every problem."""

    def __init__(self, columns: list[str], dtypes: list[str], strict: bool) -> None:
        self.columns = columns
        self.dtypes = dtypes
        self.strict = strict  # extra="error": a record with more fields than the signature is not ours
        self.index = {c: i for i, c in enumerate(columns)}
        self.integer = [i for i, d in enumerate(dtypes) if np.dtype(d).kind in "iu"]
        self.cast = {c: d for c, d in zip(columns, dtypes, strict=True) if d != "float64"}
        getter = operator.itemgetter(*columns)
        self._pick: Callable[[dict[str, Any]], Any] = getter if len(columns) > 1 else (lambda r: (getter(r),))

    @classmethod
    def of(cls, signature: dict[str, Any] | None, extra: str) -> Plan | None:
        spec = (signature or {}).get("inputs") or {}
        if spec.get("type") != "columns" or extra == "keep" or not spec.get("columns"):
            return None
        dtypes = []
        for col in spec["columns"]:
            try:
                kind = np.dtype(col["dtype"]).kind
            except TypeError:
                return None
            if kind not in "fiu":
                return None
            dtypes.append(str(col["dtype"]))
        return cls([str(c["name"]) for c in spec["columns"]], dtypes, extra == "error")

    # -- bodies → matrix ---------------------------------------------------------------------------------
    def matrix(self, body: Any, protocol: str) -> np.ndarray | None:
        try:
            if protocol == "v2":
                return self._v2(body)
            if isinstance(body, list):
                return self._rows(body, None)
            if not isinstance(body, dict):
                return None
            for key in ("records", "dataframe_records", "instances", "inputs", "rows"):
                if key in body:
                    value = body[key]
                    if isinstance(value, dict):
                        return self._columns(value)
                    return self._rows(value, body.get("columns") if key == "rows" else None)
            if isinstance(body.get("columns"), dict):
                return self._columns(body["columns"])
            split = body.get("dataframe_split")
            if isinstance(split, dict):
                return self._rows(split.get("data"), split.get("columns"))
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            return None
        return None

    def _rows(self, rows: Any, columns: Any) -> np.ndarray | None:
        if not isinstance(rows, list) or not rows:
            return None
        width = len(self.columns)
        if isinstance(rows[0], dict):
            if self.strict and any(len(r) != width for r in rows):
                return None
            return self._check(list(chain.from_iterable(map(self._pick, rows))), (len(rows), width))
        if not isinstance(rows[0], list):
            return None
        names = self.columns if columns is None else list(columns)
        if set(map(len, rows)) != {len(names)} or self.strict and len(names) != width:
            return None
        return self._check(list(chain.from_iterable(rows)), (len(rows), len(names)), reorder=names)

    def _columns(self, data: dict[str, Any]) -> np.ndarray | None:
        if self.strict and len(data) != len(self.columns):
            return None
        return self._by_column([data[c] for c in self.columns], nulls=True)

    def _by_column(self, columns: list[Any], nulls: bool) -> np.ndarray | None:
        if not all(isinstance(c, list) for c in columns) or len(set(map(len, columns))) != 1:
            return None
        return self._check(list(chain.from_iterable(columns)), (len(columns), len(columns[0])), nulls, transpose=True)

    def _v2(self, body: Any) -> np.ndarray | None:
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not inputs:
            return None
        if len(inputs) == 1 and inputs[0].get("name") not in self.index:
            shape, data = inputs[0]["shape"], inputs[0]["data"]
            if len(shape) != 2 or shape[1] != len(self.columns) or not isinstance(data, list):
                return None
            return self._check(data, (int(shape[0]), int(shape[1])), nulls=False)
        by_name = {t["name"]: t["data"] for t in inputs}
        if set(by_name) != set(self.columns):
            return None
        return self._by_column([by_name[c] for c in self.columns], nulls=False)

    def _check(self, flat: list[Any], shape: tuple[int, int], nulls: bool = True, transpose: bool = False,
               reorder: list[str] | None = None) -> np.ndarray | None:
        """``flat`` (JSON values in row-major ``shape``; with ``transpose`` column-major) as a float
        matrix in signature column order, when every value is a number (or, with ``nulls``, a JSON
        null: a missing number) and integer columns hold whole numbers."""
        types = set(map(type, flat))
        if not types <= (_NUMBERS_OR_NULL if nulls else _NUMBERS) or not flat or len(flat) != shape[0] * shape[1]:
            return None  # a string, a bool, a nested list …: the general path says what is wrong
        if type(None) in types:
            matrix = np.array(flat, dtype=np.float64).reshape(shape)
        else:
            matrix = np.fromiter(flat, dtype=np.float64, count=len(flat)).reshape(shape)
        if transpose:
            matrix = matrix.T
        if reorder is not None and reorder != self.columns:
            matrix = matrix[:, [reorder.index(c) for c in self.columns]]
        if matrix.shape[1] != len(self.columns):
            return None
        if self.integer:
            part = matrix[:, self.integer]
            if not (np.isfinite(part).all() and (part == np.round(part)).all()):
                return None
        return matrix

    # -- matrix → the model's input ----------------------------------------------------------------------
    def frame(self, matrix: np.ndarray) -> pd.DataFrame:
        """The batch as the DataFrame the model was trained on (the signature's dtypes)."""
        frame = pd.DataFrame(matrix, columns=self.columns, copy=False)
        return frame.astype(self.cast) if self.cast else frame
