"""Model signatures: inferred from an input example, enforced at predict time.

A signature is plain JSON so that it can live in the manifest and the registry::

    {"inputs":  {"type": "columns", "columns": [{"name": "distance", "dtype": "int64", "nullable": false}, ...]},
     "outputs": {"type": "tensor", "dtype": "int64", "shape": [-1]}}

Enforcement collects *every* problem (missing columns, dtypes that cannot be cast safely,
unexpected columns under the ``extra="error"`` policy) and raises one ``ContractViolation``.
"""

from __future__ import annotations

import functools
from typing import Any

from shipyard.exceptions import ContractViolation, InvalidParameter

EXTRA_POLICIES = ("drop", "error", "keep")


def to_frame(data: Any, column_names: list[str] | None = None) -> Any:
    """A DataFrame from a DataFrame, a dict of columns (or of scalars), a list of records, a list of
    rows or a 2-D array (named after the signature's columns when given)."""
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame().T if column_names and data.index.isin(column_names).all() else data.to_frame()
    if isinstance(data, dict):
        if all(np.isscalar(v) or v is None for v in data.values()):
            return pd.DataFrame([data])
        return pd.DataFrame(data)
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return pd.DataFrame.from_records(data)
    array = np.asarray(data)
    if array.ndim == 1:
        array = array.reshape(1, -1) if column_names and len(column_names) == array.shape[0] else array.reshape(-1, 1)
    if array.ndim != 2:
        raise InvalidParameter(f"Cannot turn an array of shape {array.shape} into rows; give a 2-D array or records.")
    names = column_names if column_names and len(column_names) == array.shape[1] else [f"f{i}" for i in range(array.shape[1])]
    return pd.DataFrame(array, columns=names)


def _kind(dtype: Any) -> str:
    import pandas as pd

    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "string"


def _spec_of(data: Any) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return {
            "type": "columns",
            "columns": [
                {"name": str(c), "dtype": str(data[c].dtype), "kind": _kind(data[c].dtype), "nullable": bool(data[c].isna().any())}
                for c in data.columns
            ],
        }
    if isinstance(data, pd.Series):
        return {"type": "tensor", "dtype": str(data.dtype), "kind": _kind(data.dtype), "shape": [-1]}
    array = np.asarray(data)
    return {"type": "tensor", "dtype": str(array.dtype), "kind": _kind(array.dtype), "shape": [-1, *array.shape[1:]]}


def infer_signature(input_example: Any, output: Any | None = None) -> dict[str, Any]:
    """The signature of a model from an example input (and, if given, its output)."""
    import numpy as np

    inputs = input_example
    if isinstance(inputs, (dict, list)):
        inputs = to_frame(inputs)
    signature: dict[str, Any] = {"inputs": _spec_of(inputs)}
    if output is not None:
        signature["outputs"] = _spec_of(output if hasattr(output, "dtype") or hasattr(output, "columns") else np.asarray(output))
    return signature


def input_columns(signature: dict[str, Any] | None) -> list[str] | None:
    if signature and signature.get("inputs", {}).get("type") == "columns":
        return [c["name"] for c in signature["inputs"]["columns"]]
    return None


def enforce(data: Any, signature: dict[str, Any] | None, extra: str = "drop") -> Any:
    """Normalise ``data`` to what the model expects, or raise one ContractViolation listing every
    problem column by column. ``extra``: what to do with unexpected columns (drop, error, keep)."""
    if extra not in EXTRA_POLICIES:
        raise InvalidParameter(f"extra must be one of {', '.join(EXTRA_POLICIES)}; got {extra!r}.")
    if not signature or "inputs" not in signature:
        return to_frame(data) if not hasattr(data, "shape") else data
    spec = signature["inputs"]
    if spec.get("type") == "tensor":
        return _enforce_tensor(data, spec)
    frame = to_frame(data, input_columns(signature))
    fast = _already_conforming(frame, spec["columns"], extra)
    if fast is not None:
        return fast
    problems: list[str] = []
    converted = {}
    expected = [c["name"] for c in spec["columns"]]
    for col in spec["columns"]:
        name = col["name"]
        if name not in frame.columns:
            problems.append(f"- {name}: missing (expected {col['dtype']})")
            continue
        value, problem = _cast(frame[name], col)
        if problem:
            problems.append(f"- {name}: {problem}")
        else:
            converted[name] = value
    unexpected = [str(c) for c in frame.columns if c not in expected]
    if unexpected and extra == "error":
        problems += [f"- {c}: unexpected column (the model does not take it)" for c in unexpected]
    if problems:
        raise ContractViolation(
            f"The input does not match the model signature ({len(problems)} problem(s)):\n" + "\n".join(problems)
            + f"\nExpected columns: {', '.join(expected)}."
        )
    import pandas as pd

    result = pd.DataFrame(converted, index=frame.index)[expected]
    if unexpected and extra == "keep":
        result = pd.concat([result, frame[unexpected]], axis=1)
    return result


@functools.lru_cache(maxsize=512)
def _dtype(name: str) -> Any:
    import pandas as pd

    try:
        return pd.api.types.pandas_dtype(name)
    except (TypeError, ValueError):
        return None


def _already_conforming(frame: Any, columns: list[dict[str, Any]], extra: str) -> Any | None:
    """The frame itself when every expected column is there with exactly the expected dtype (the
    common case of a well-formed request): no per-column work, no copy."""
    expected = [c["name"] for c in columns]
    names = frame.columns.tolist()
    if names != expected and not (extra != "error" and set(expected).issubset(names)):
        return None
    have = dict(zip(names, frame.dtypes.tolist(), strict=True))
    for col in columns:
        want = _dtype(col["dtype"])
        if want is None or have[col["name"]] != want:
            return None
    if names == expected or extra == "keep":
        return frame
    return frame[expected]


def _cast(series: Any, col: dict[str, Any]) -> tuple[Any, str | None]:
    import numpy as np
    import pandas as pd

    want = col.get("kind") or _kind(np.dtype(col["dtype"]) if col["dtype"] not in ("str", "string", "object", "category") else object)
    have = _kind(series.dtype)
    dtype = col["dtype"]
    if have == want:
        if want in ("integer", "float") and str(series.dtype) != dtype:
            try:
                return series.astype(dtype), None
            except (TypeError, ValueError, OverflowError):
                return None, f"cannot cast {series.dtype} to {dtype}"
        return series, None
    if want == "float" and have in ("integer", "bool"):
        return series.astype(dtype), None
    if want in ("float", "integer") and series.dtype == object and series.isna().all():
        # JSON null is the only way to say "missing": a column of nulls alone arrives as object
        if want == "float" or col.get("nullable"):
            return series.astype("float64" if want == "integer" else dtype), None
        return None, f"has {len(series)} missing value(s) but expects {dtype}"
    if want == "integer" and have == "float":
        values = series.to_numpy()
        finite = np.isfinite(values)
        if (~finite).any():
            if col.get("nullable") and not np.isinf(values).any():
                return series, None  # NaN in a nullable integer column stays float
            return None, f"has {int((~finite).sum())} missing or infinite value(s) but expects {dtype}"
        if not np.all(values == np.round(values)):
            return None, f"has non-integral values but expects {dtype} (cannot cast float → int safely)"
        return series.astype(dtype), None
    if want == "integer" and have == "bool":
        return series.astype(dtype), None
    if want == "datetime" and have == "string":
        try:
            return pd.to_datetime(series), None
        except (TypeError, ValueError):
            return None, "cannot parse these strings as datetimes"
    if want == "string" and have == "string":
        return series, None
    return None, f"has dtype {series.dtype} but expects {dtype} (cannot cast {have} → {want} safely)"


def _enforce_tensor(data: Any, spec: dict[str, Any]) -> Any:
    import numpy as np

    if hasattr(data, "to_numpy"):
        data = data.to_numpy()
    array = np.asarray(data)
    shape = spec.get("shape", [-1])
    if array.ndim == len(shape) - 1 and len(shape) > 1:
        array = array.reshape(1, *array.shape)
    problems = []
    if array.ndim != len(shape):
        problems.append(f"- tensor: has {array.ndim} dimension(s), expects {len(shape)} (shape {shape})")
    else:
        for i, (got, want) in enumerate(zip(array.shape, shape, strict=True)):
            if want != -1 and got != want:
                problems.append(f"- tensor: dimension {i} is {got}, expects {want}")
    want_kind = spec.get("kind", _kind(np.dtype(spec["dtype"])))
    have_kind = _kind(array.dtype)
    if not problems and have_kind != want_kind and not (want_kind == "float" and have_kind in ("integer", "bool")):
        problems.append(f"- tensor: dtype {array.dtype} cannot be cast safely to {spec['dtype']}")
    if problems:
        raise ContractViolation("The input does not match the model signature:\n" + "\n".join(problems))
    return array.astype(spec["dtype"], copy=False) if want_kind in ("float", "integer") else array
