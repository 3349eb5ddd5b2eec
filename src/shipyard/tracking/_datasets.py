"""Dataset fingerprints: content hash, schema, row count and per-column statistics (vectorised)."""

from __future__ import annotations

import hashlib
from typing import Any

from shipyard.exceptions import InvalidParameter

_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
_TOP_K = 10


def to_frame(data: Any) -> Any:
    """A pandas DataFrame from a DataFrame, a pyarrow Table, a dict of columns or a 2-D array."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame()
    try:
        import pyarrow as pa

        if isinstance(data, pa.Table):
            return data.to_pandas()
    except ImportError:  # pragma: no cover
        pass
    import numpy as np

    if isinstance(data, np.ndarray):
        if data.ndim == 1:
            data = data.reshape(-1, 1)
        if data.ndim != 2:
            raise InvalidParameter(f"log_dataset takes a 2-D array; got shape {data.shape}.")
        return pd.DataFrame(data, columns=[f"f{i}" for i in range(data.shape[1])])
    if isinstance(data, dict):
        return pd.DataFrame(data)
    raise InvalidParameter(
        f"log_dataset takes a pandas DataFrame, a pyarrow Table, a dict of columns or a NumPy array; "
        f"got {type(data).__name__}."
    )


def fingerprint(df: Any) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """``(digest, schema, profile)`` of a DataFrame. The digest covers column names, dtypes and
    every value (order-sensitive), so equal digests mean equal tables."""
    import pandas as pd

    digest = hashlib.sha256()
    columns = []
    for name in df.columns:
        col = df[name]
        dtype = str(col.dtype)
        digest.update(f"{name}\x1f{dtype}\x1e".encode())
        columns.append({"name": str(name), "dtype": dtype, "nullable": bool(col.isna().any())})
    if len(df) >= _OVERLAP_ROWS:  # the hash and the column profiles on two threads (NumPy releases the GIL)
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(2) as pool:
            hashed = pool.submit(pd.util.hash_pandas_object, df, index=False)
            profiles = [pool.submit(_column_profile, df[c]) for c in df.columns]
            profile = {"num_rows": int(len(df)),
                       "columns": {str(c): f.result() for c, f in zip(df.columns, profiles, strict=True)}}
            digest.update(hashed.result().to_numpy().tobytes())
    else:
        if len(df):
            digest.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
        profile = _profile(df)
    return digest.hexdigest(), {"columns": columns}, profile


#: From this many rows, a fingerprint hashes and profiles at the same time.
_OVERLAP_ROWS = 100_000


def _profile(df: Any) -> dict[str, Any]:
    return {"num_rows": int(len(df)), "columns": {str(c): _column_profile(df[c]) for c in df.columns}}


def _column_profile(col: Any) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    n = len(col)
    nulls = int(col.isna().sum())
    out: dict[str, Any] = {"count": n - nulls, "nulls": nulls, "null_rate": (nulls / n) if n else 0.0}
    if pd.api.types.is_bool_dtype(col):
        out["kind"] = "bool"
        out["true_rate"] = float(col.dropna().astype(bool).mean()) if n - nulls else None
    elif pd.api.types.is_numeric_dtype(col):
        out["kind"] = "numeric"
        values = col.dropna().to_numpy(dtype="float64")
        finite = values[np.isfinite(values)]
        if finite.size:
            qs = np.quantile(finite, _QUANTILES)
            out.update(
                mean=float(finite.mean()),
                std=float(finite.std(ddof=1)) if finite.size > 1 else 0.0,
                min=float(finite.min()),
                max=float(finite.max()),
                quantiles={str(q): float(v) for q, v in zip(_QUANTILES, qs, strict=True)},
                zeros=int((finite == 0).sum()),
                infinite=int(values.size - finite.size),
            )
    elif pd.api.types.is_datetime64_any_dtype(col):
        out["kind"] = "datetime"
        if n - nulls:
            out.update(min=str(col.min()), max=str(col.max()))
    else:
        out["kind"] = "categorical"
        counts = col.value_counts(dropna=True)
        out["distinct"] = int(counts.size)
        out["top"] = {str(k): int(v) for k, v in counts.head(_TOP_K).items()}
    return out
