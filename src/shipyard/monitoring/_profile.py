"""Reference profiles: what the drift engine keeps of a reference data set instead of its rows.

A :class:`Profile` holds one summary per column, small (a few KiB per column; up to about 35 KiB for
a categorical column listing 2,000 values), JSON-serialisable and enough to run the drift tests of
:mod:`shipyard.monitoring._drift` without the raw data:

* **numeric** — row and null counts, min/max, mean/std, the quantiles on a uniform grid
  ``0, 1/bins, …, 1`` (101 by default) and a histogram on those quantiles as bin edges
  (``(-inf, e0], (e0, e1], …``: exact counts, so the reference CDF is exact at every edge).
* **categorical** — row and null counts, the number of distinct values and the values with their
  counts, most frequent first:

  - **every value** when there are at most ``top_k`` (50), or at most ``max_categories`` (2,000)
    and the values seen only once make up at most 1% of the rows (``Keep.lists_all``; that share is
    the Good–Turing estimate of how much of a window is new to the reference by chance alone). Such
    a profile is *complete*: a window's value absent from it is new, and is reported as unseen.
    1,000 store ids over 20,000 rows are listed in full (about 17 KB of JSON);
  - otherwise at most ``top_k``, only those that clearly beat the values left out (``_top``: the
    winner's curse), the count of all the others (``other``) and how those spread over
    ``tail_buckets`` (64) hash buckets (``buckets``): the CRC-32 of the value's text (UTF-8) modulo
    the bucket count, stable across processes and versions. The drift engine hashes a window's
    unlisted values alike, so a change among values too many to list (ids concentrating on a few, a
    different mix) still shows; ids replaced by other ids drawn alike do not, and need not.

  Profiles written before buckets existed have none (``buckets`` is read as empty, the settings
  ``max_categories`` and ``tail_buckets`` as absent) and are compared as before: listed values and
  one "other" count.

Which columns are categorical: booleans, strings, objects and pandas categoricals; and integer
columns (or float columns holding only whole numbers, which is what an integer column with missing
values becomes in pandas) with at most ``max_int_categories`` (20) distinct values — codes, counts of
children, ratings — where a category test is more honest than a CDF test on a handful of steps.
``categorical=`` / ``numeric=`` force the choice per column. Datetimes, timedeltas and complex
numbers are not profiled (listed in ``Profile.skipped``). Non-finite numbers (±inf) count as missing.

Building is vectorised per column: one sort of the non-missing values gives the quantiles, the
histogram (``searchsorted`` of the edges) and the distinct count; categories come from one hashed
``value_counts``. The columns are spread over a small thread pool (NumPy's sort releases the GIL).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

import numpy as np
from numpy.typing import NDArray

from shipyard.exceptions import InvalidParameter
from shipyard.monitoring._stats import FloatArray, IntArray

if TYPE_CHECKING:
    import pandas as pd

FORMAT = "shipyard.profile/1"
MAX_CATEGORIES = 2_000  # a categorical column with at most this many distinct values lists them all
TAIL_BUCKETS = 64  # hash buckets for the values of a column with more that are not listed
MAX_SEEN_ONCE = 0.01  # ... and whose values seen once make up at most this share of the rows
Category = Union[str, int, bool]
VALUE_TYPES = ("str", "int", "bool")


@dataclass(frozen=True, slots=True)
class NumericProfile:
    """Summary of a numeric column. ``counts[i]`` is the number of values in ``(edges[i-1],
    edges[i]]`` (the first bin is ``(-inf, edges[0]]``, i.e. the values equal to the minimum);
    ``edges`` are the distinct values of ``quantiles``."""

    name: str
    dtype: str
    rows: int
    nulls: int
    min: float
    max: float
    mean: float
    std: float
    quantiles: tuple[float, ...]
    edges: tuple[float, ...]
    counts: tuple[int, ...]

    kind = "numeric"

    @property
    def valid(self) -> int:
        return self.rows - self.nulls

    @property
    def scale(self) -> float:
        """The unit of the normalised Wasserstein distance: the smaller of the standard deviation
        and IQR/1.349 (both equal σ for normal data; the IQR keeps a heavy tail from inflating the
        unit and hiding a shift), whichever are positive; 1.0 for a constant column."""
        candidates = [s for s in (self.std, self.iqr / 1.349) if math.isfinite(s) and s > 0]
        return min(candidates) if candidates else 1.0

    @property
    def iqr(self) -> float:
        if not self.quantiles:
            return math.nan
        grid = np.linspace(0.0, 1.0, len(self.quantiles))
        q = np.asarray(self.quantiles)
        return float(np.interp(0.75, grid, q) - np.interp(0.25, grid, q))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "dtype": self.dtype, "rows": self.rows, "nulls": self.nulls,
                "min": _num(self.min), "max": _num(self.max), "mean": _num(self.mean), "std": _num(self.std),
                "quantiles": list(self.quantiles), "edges": list(self.edges), "counts": list(self.counts)}

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> NumericProfile:
        return cls(name=name, dtype=str(data["dtype"]), rows=int(data["rows"]), nulls=int(data["nulls"]),
                   min=_float(data["min"]), max=_float(data["max"]), mean=_float(data["mean"]),
                   std=_float(data["std"]), quantiles=tuple(float(v) for v in data["quantiles"]),
                   edges=tuple(float(v) for v in data["edges"]), counts=tuple(int(v) for v in data["counts"]))


@dataclass(frozen=True, slots=True)
class CategoricalProfile:
    """Summary of a categorical column: the listed values (``categories``, most frequent first, with
    ``counts``: every value, or the ``top_k`` most frequent when there are too many, see the module
    docstring), the number of other non-missing values (``other``), how those spread over hash
    buckets (``buckets``; empty when every value is listed, or in profiles written before buckets
    existed) and the number of distinct values. ``value_type`` says how values of a current window
    are matched: as text, as integers (an integer 3 and a float 3.0 are one category) or as booleans."""

    name: str
    dtype: str
    rows: int
    nulls: int
    value_type: str
    categories: tuple[Category, ...]
    counts: tuple[int, ...]
    other: int
    distinct: int
    buckets: tuple[int, ...] = ()

    kind = "categorical"

    @property
    def valid(self) -> int:
        return self.rows - self.nulls

    @property
    def complete(self) -> bool:
        """Whether every reference value is listed, so a value not among ``categories`` is new."""
        return self.other == 0

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "dtype": self.dtype, "rows": self.rows, "nulls": self.nulls,
                "value_type": self.value_type, "categories": list(self.categories), "counts": list(self.counts),
                "other": self.other, "distinct": self.distinct, "buckets": list(self.buckets)}

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> CategoricalProfile:
        value_type = str(data["value_type"])
        if value_type not in VALUE_TYPES:
            raise InvalidParameter(f"Column {name!r}: value_type must be one of {VALUE_TYPES}, got {value_type!r}.")
        return cls(name=name, dtype=str(data["dtype"]), rows=int(data["rows"]), nulls=int(data["nulls"]),
                   value_type=value_type, categories=tuple(data["categories"]),
                   counts=tuple(int(v) for v in data["counts"]), other=int(data["other"]),
                   distinct=int(data["distinct"]), buckets=tuple(int(v) for v in data.get("buckets") or ()))


ColumnProfile = Union[NumericProfile, CategoricalProfile]


@dataclass(frozen=True, slots=True)
class Keep:
    """Which values a categorical profile lists (see the module docstring)."""

    top_k: int = 50
    max_categories: int = MAX_CATEGORIES
    tail_buckets: int = TAIL_BUCKETS

    def lists_all(self, distinct: int, valid: int, once: int) -> bool:
        """Every value is listed when there are at most ``top_k``; or at most ``max_categories`` and
        the values seen only once (``once``) are at most 1% of the rows — the Good–Turing estimate
        of the share of a window's values that the reference lacks only by chance, which a complete
        profile would report as unseen."""
        return distinct <= self.top_k or (distinct <= self.max_categories and once <= valid * MAX_SEEN_ONCE)


@dataclass(frozen=True, slots=True)
class Profile:
    """A reference data set summarised for drift detection (see the module docstring). Build one with
    :func:`profile`; store it with ``json.dumps(p.to_dict())`` and load it with
    ``Profile.from_dict(json.loads(text))``."""

    rows: int
    columns: Mapping[str, ColumnProfile]
    skipped: tuple[str, ...] = ()
    settings: Mapping[str, int] = field(default_factory=dict)

    def __getitem__(self, column: str) -> ColumnProfile:
        return self.columns[column]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: missing statistics (the mean of an all-null column) are ``None``."""
        return {"format": FORMAT, "rows": self.rows, "settings": dict(self.settings), "skipped": list(self.skipped),
                "columns": {name: col.to_dict() for name, col in self.columns.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        if data.get("format") != FORMAT:
            raise InvalidParameter(f"Not a Shipyard profile: format is {data.get('format')!r}, expected {FORMAT!r}. "
                                   "Build one with shipyard.monitoring.profile(df).to_dict().")
        columns: dict[str, ColumnProfile] = {}
        for name, col in data.get("columns", {}).items():
            try:
                columns[name] = _column_from_dict(name, col)
            except (KeyError, TypeError, ValueError) as exc:
                raise InvalidParameter(f"Column {name!r} of the profile is malformed ({type(exc).__name__}: {exc}). "
                                       "Rebuild it with shipyard.monitoring.profile(df).to_dict().") from exc
        return cls(rows=int(data["rows"]), columns=columns, skipped=tuple(data.get("skipped", ())),
                   settings={k: int(v) for k, v in data.get("settings", {}).items()})


def _column_from_dict(name: str, col: Mapping[str, Any]) -> ColumnProfile:
    if col.get("kind") == "numeric":
        num = NumericProfile.from_dict(name, col)
        if len(num.edges) != len(num.counts) or sum(num.counts) != num.valid or (num.valid and len(num.quantiles) < 5):
            raise ValueError("edges, counts and quantiles do not agree with the row and null counts")
        return num
    if col.get("kind") == "categorical":
        cat = CategoricalProfile.from_dict(name, col)
        if len(cat.categories) != len(cat.counts) or sum(cat.counts) + cat.other != cat.valid:
            raise ValueError("categories and counts do not agree with the row and null counts")
        if cat.buckets and sum(cat.buckets) != cat.other:
            raise ValueError("the hash buckets do not add up to the count of other values")
        return cat
    raise ValueError(f"kind must be 'numeric' or 'categorical', got {col.get('kind')!r}")


def profile(df: pd.DataFrame, *, columns: Sequence[str] | None = None, bins: int = 100, top_k: int = 50,
            max_categories: int = MAX_CATEGORIES, tail_buckets: int = TAIL_BUCKETS, max_int_categories: int = 20,
            categorical: Iterable[str] = (), numeric: Iterable[str] = ()) -> Profile:
    """Summarise ``df`` as a reference for :func:`~shipyard.monitoring.drift`.

    ``bins``: quantile bins of numeric columns (edges at ``0, 1/bins, …, 1``); ``max_categories``: a
    categorical column with at most this many distinct values lists them all (unless the values seen
    once make up over 1% of its rows); ``top_k``: values listed when there are more (at most), the
    rest counted in ``tail_buckets`` hash buckets (0: one count); ``max_int_categories``: integer
    columns with at most this many distinct values are categorical; ``categorical`` / ``numeric``:
    column names to force either way.
    """
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise InvalidParameter(f"profile() takes a pandas DataFrame, got {type(df).__name__}.")
    if bins < 4 or top_k < 1 or max_int_categories < 0 or max_categories < 0 or tail_buckets < 0:
        raise InvalidParameter(f"Need bins >= 4, top_k >= 1 and max_categories, tail_buckets, max_int_categories "
                               f">= 0; got bins={bins}, top_k={top_k}, max_categories={max_categories}, "
                               f"tail_buckets={tail_buckets}, max_int_categories={max_int_categories}.")
    labels = column_labels(df)
    names = list(labels) if columns is None else [str(c) for c in columns]
    missing = [c for c in names if c not in labels]
    if missing:
        raise InvalidParameter(f"Columns {missing} are not in the data frame; it has {list(labels)}.")
    forced_cat, forced_num = set(categorical), set(numeric)
    settings = {"bins": bins, "top_k": top_k, "max_categories": max_categories, "tail_buckets": tail_buckets,
                "max_int_categories": max_int_categories}
    keep = Keep(top_k, max_categories, tail_buckets)

    def one(name: str) -> ColumnProfile | None:
        how = "categorical" if name in forced_cat else "numeric" if name in forced_num else None
        return profile_column(df[labels[name]], name, how=how, bins=bins, keep=keep,
                              max_int_categories=max_int_categories)

    with ThreadPoolExecutor(max_workers=4) as pool:
        built = list(pool.map(one, names))
    cols = {name: col for name, col in zip(names, built, strict=True) if col is not None}
    return Profile(rows=len(df), columns=cols, skipped=tuple(n for n, c in zip(names, built, strict=True) if c is None),
                   settings=settings)


def column_labels(df: pd.DataFrame) -> dict[str, Any]:
    """Column name (as text, which is what profiles and reports use) → the frame's own label."""
    labels = {str(c): c for c in df.columns}
    if len(labels) != len(df.columns):
        twice = sorted({str(c) for c in df.columns if [str(x) for x in df.columns].count(str(c)) > 1})
        raise InvalidParameter(f"Column names must be unique (as text); {twice} occur more than once. "
                               "Rename them (df.columns = [...]) before profiling or comparing.")
    return labels


def profile_column(series: pd.Series, name: str, *, how: str | None = None, bins: int = 100, keep: Keep | None = None,
                   max_int_categories: int = 20) -> ColumnProfile | None:
    """The profile of one column, or None for a type that is not profiled (datetimes, complex)."""
    import pandas as pd

    keep = keep or Keep()
    dtype = series.dtype
    api = pd.api.types
    auto = how is None
    if how is None:
        if api.is_bool_dtype(dtype):
            return _categorical(series, name, "bool", keep)
        if api.is_complex_dtype(dtype) or api.is_datetime64_any_dtype(dtype) or api.is_timedelta64_dtype(dtype):
            return None
        how = "numeric" if api.is_numeric_dtype(dtype) else "categorical"
    if how == "categorical":
        value_type = "bool" if api.is_bool_dtype(dtype) else "int" if api.is_numeric_dtype(dtype) else "str"
        return _categorical(series, name, value_type, keep)
    values = float_values(series)
    valid = np.sort(values[~np.isnan(values)])
    rows, nulls = len(values), len(values) - len(valid)
    keys, counts = distinct_sorted(valid)
    codes = auto and 0 < len(keys) <= max_int_categories and bool(np.all(keys == np.floor(keys))) \
        and bool(np.all(np.abs(keys) < 2.0**53))
    if codes:
        return _listed(name, str(dtype), rows, "int", [int(k) for k in keys], counts, keep)
    with np.errstate(all="ignore"):
        mean = float(valid.mean()) if len(valid) else math.nan
        std = float(valid.std(ddof=1)) if len(valid) > 1 else (0.0 if len(valid) else math.nan)
    quantiles = sorted_quantiles(valid, bins)
    edges = np.unique(quantiles)
    hist = np.diff(np.searchsorted(valid, edges, side="right"), prepend=0)
    return NumericProfile(name=name, dtype=str(dtype), rows=rows, nulls=nulls,
                          min=float(valid[0]) if len(valid) else math.nan,
                          max=float(valid[-1]) if len(valid) else math.nan, mean=mean, std=std,
                          quantiles=tuple(quantiles.tolist()), edges=tuple(edges.tolist()),
                          counts=tuple(int(c) for c in hist))


def _categorical(series: pd.Series, name: str, value_type: str, keep: Keep) -> CategoricalProfile:
    keys, counts = category_counts(series, value_type)
    return _listed(name, str(series.dtype), len(series), value_type, keys, counts, keep)


def _listed(name: str, dtype: str, rows: int, value_type: str, keys: Sequence[Category], counts: IntArray,
            keep: Keep) -> CategoricalProfile:
    """A categorical profile from a column's distinct values and counts: all of them listed when
    ``keep`` allows, else the top ones and the rest in hash buckets."""
    valid = int(counts.sum())
    order = np.argsort(-counts, kind="stable")
    if not keep.lists_all(len(keys), valid, int(np.count_nonzero(counts == 1))):
        order = _top(counts, order, keep.top_k)
    picked = np.zeros(len(keys), dtype=bool)
    picked[order] = True
    rest = np.flatnonzero(~picked)
    buckets: tuple[int, ...] = ()
    if len(rest) and keep.tail_buckets:
        where = text_hash([keys[int(i)] for i in rest]) % keep.tail_buckets
        buckets = tuple(int(c) for c in np.bincount(where, weights=counts[rest], minlength=keep.tail_buckets))
    return CategoricalProfile(name=name, dtype=dtype, rows=rows, nulls=rows - valid, value_type=value_type,
                              categories=tuple(keys[int(i)] for i in order),
                              counts=tuple(int(counts[i]) for i in order), other=int(counts[rest].sum()),
                              distinct=len(keys), buckets=buckets)


def _top(counts: IntArray, order: IntArray, top_k: int) -> IntArray:
    """Of the keys in ``order`` (most frequent first), those listed when not all can be: at most
    ``top_k``, and only those whose count clearly beats the largest count left out (by 3 standard
    deviations and one). Otherwise a key's place in the list would be won by sampling noise, its
    reference count would be biased upwards (the winner's curse), and every window would look as if
    that category had become rarer. Columns of ids over the cap therefore list few or no values of
    their own; their values are compared through the hash buckets.
    """
    picked = order[:top_k]
    if len(order) > top_k:
        best_left = float(counts[order[top_k]])
        picked = picked[counts[picked] >= best_left + 3 * math.sqrt(best_left) + 1]
    return picked


def text_hash(keys: Sequence[Category]) -> NDArray[np.uint32]:
    """CRC-32 of each value's text (UTF-8): the hash that places values in a profile's buckets.
    Stable across processes, platforms and Python or library versions, so a stored profile's
    buckets and a later window's agree."""
    return np.fromiter((zlib.crc32(str(k).encode("utf-8", "surrogatepass")) for k in keys),
                       dtype=np.uint32, count=len(keys))


def float_values(series: pd.Series) -> FloatArray:
    """The column as float64 with NaN for every missing, non-finite or non-numeric value (a new array)."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        raw = series.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        raw = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isfinite(raw), raw, np.nan)


def _finite(values: FloatArray) -> FloatArray:
    return values[~np.isnan(values)]


def sorted_quantiles(valid: FloatArray, bins: int) -> FloatArray:
    """Quantiles at ``0, 1/bins, …, 1`` of sorted, NaN-free values (linear interpolation); empty for
    no values."""
    n = len(valid)
    if n == 0:
        return np.empty(0)
    pos = np.linspace(0.0, 1.0, bins + 1) * (n - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    frac = pos - lo
    with np.errstate(all="ignore"):
        out = valid[lo] + (valid[hi] - valid[lo]) * frac
    return np.where(frac == 0, valid[lo], out)


def distinct_sorted(valid: FloatArray) -> tuple[FloatArray, IntArray]:
    """Distinct values of a sorted array and how often each occurs."""
    if len(valid) == 0:
        return np.empty(0), np.empty(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], valid[1:] != valid[:-1])))
    counts = np.diff(np.append(starts, len(valid))).astype(np.int64)
    return valid[starts], counts


def category_counts(series: pd.Series, value_type: str) -> tuple[list[Category], IntArray]:
    """Distinct non-missing values of a column, normalised for ``value_type``, and their counts
    (unordered). Strings are matched as text, integers as numbers (3 and 3.0 are one value),
    booleans as booleans; anything else as its text."""
    import pandas as pd

    if value_type == "int" and pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        # The same path as the profile's integer codes: ±inf is missing, 3.0 is the category 3.
        keys, counts = distinct_sorted(np.sort(_finite(float_values(series))))
        whole = (keys == np.floor(keys)) & (np.abs(keys) < 2.0**53)
        if bool(whole.all()):
            return [int(k) for k in keys], counts
        return [int(k) if w else str(k) for k, w in zip(keys.tolist(), whole.tolist(), strict=True)], counts
    counted = series.value_counts(dropna=True, sort=False)
    counted = counted[counted.to_numpy() > 0]  # a pandas categorical lists unused categories with 0
    index, counts = counted.index, counted.to_numpy(dtype=np.int64)
    if value_type == "str" and pd.api.types.infer_dtype(index, skipna=False) == "string":
        return list(index), counts
    if value_type == "int" and pd.api.types.is_integer_dtype(index.dtype):
        return [int(k) for k in index], counts
    merged: dict[Category, int] = {}
    for key, count in zip(index, counts.tolist(), strict=True):
        norm = normalise(key, value_type)
        merged[norm] = merged.get(norm, 0) + count
    return list(merged), np.fromiter(merged.values(), dtype=np.int64, count=len(merged))


def normalise(key: object, value_type: str) -> Category:
    """One value as the category it counts as for a column of ``value_type``."""
    if value_type == "bool":
        return bool(key) if isinstance(key, (bool, np.bool_)) else str(key)
    if value_type == "int" and not isinstance(key, (bool, np.bool_)):
        if isinstance(key, (int, np.integer)):
            return int(key)
        if isinstance(key, (float, np.floating)) and math.isfinite(key) and float(key).is_integer():
            return int(key)
    return str(key)


def _num(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)
