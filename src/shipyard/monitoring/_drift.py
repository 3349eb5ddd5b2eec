"""The drift engine: compare a current window with a reference (a DataFrame or its :class:`Profile`),
column by column, and decide what drifted.

Per column, by the reference's kind (see :mod:`._profile`):

* **numeric** — two-sample Kolmogorov–Smirnov at the reference's quantile edges (significance) and
  the Wasserstein-1 distance between the quantile functions, trimmed to the central 99% and
  divided by the reference's scale (effect size, in standard deviations).
* **categorical** — Pearson's chi-squared on the category counts (significance) and the
  Jensen–Shannon distance, base 2 (effect size, 0…1), both on one table: the profile's listed values
  (and each value new to a complete profile, or the hash buckets of the others, or one "other"
  cell), with sparse cells — under 5 expected in the smaller sample — grouped by pooled count into
  cells of at least 5 (``_stats.sparse_cells``; the grouping never sees which side a value came
  from, so the test keeps its size with hundreds of sparse ids). The JS distance is **corrected for
  sampling noise**: two samples of one distribution over 1,000 equally frequent ids are a JS distance
  of about 0.5 apart at 1,000 rows against 20,000, 0.19 at 10,000 rows a side and 0.11 at 30,000,
  with no drift at all. Over ``c`` cells of at least a few expected counts, of ``n`` and ``m`` rows,
  that noise averages ``(c − 1)·(1/n + 1/m) / (8·ln 2)`` bits of JS divergence (its second-order
  expansion is Pearson's statistic, which averages ``c − 1``); the engine subtracts it from the
  divergence of the grouped table before the square root, floored at 0 (``_stats.js_excess``). The
  distance then estimates how far apart the distributions are, not how sparse the samples: under no
  drift it is about 0 at large sizes (at most 0.07 at 10,000 rows a side), and a trivial change
  among 1,000 ids (true distance 0.05) reads 0.05, where the raw distance reads 0.12, at 30,000 rows
  a side. The 0.1 threshold stays. At a few hundred rows the corrected distance of pure noise still
  passes it now and then (about one no-drift window in seven at 200–500 rows: its spread is large);
  there the test's significance decides.
* both — the PSI (reported, not used in the verdict) and the change in the missing-value rate: a
  two-proportion z-test (significance) and Cohen's h (effect size).

A column's distribution drifted when its test is significant **and** its effect size is over the
threshold: a huge window makes every trivial difference significant, a tiny one makes noise look
large, and only both together mean drift. The same rule applies to the missing rate. A column
drifted when either did. Significance is family-wise (Bonferroni): each p-value is compared with
``alpha / m`` for the ``m`` tests of the report (two per column), so a window drawn from the
reference's own distribution flags any column at all with probability at most ``alpha``. The data
set drifted when the share of drifted columns reaches ``Thresholds.share``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from shipyard.exceptions import InvalidParameter
from shipyard.monitoring import _stats
from shipyard.monitoring._profile import (
    CategoricalProfile,
    NumericProfile,
    Profile,
    category_counts,
    column_labels,
    float_values,
    profile,
    sorted_quantiles,
    text_hash,
)

if TYPE_CHECKING:
    import pandas as pd

COLUMN_LIMITS = ("alpha", "wasserstein", "jensen_shannon", "null_rate")
MAX_UNSEEN_LISTED = 10


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The decision rule's parameters. Defaults: ``alpha`` 0.01 (significance, family-wise over the
    report's tests unless ``bonferroni`` is False); ``wasserstein`` 0.1 (reference standard
    deviations) and ``jensen_shannon`` 0.1, the usual defaults for these distances; ``null_rate`` 0.1
    (Cohen's h: about 0% → 0.25% missing, 10% → 13%, 50% → 55%); ``share`` 0.5 (fraction of drifted
    columns for the data-set verdict). ``columns`` overrides the first four per column:
    ``{"age": {"wasserstein": 0.25}}``."""

    alpha: float = 0.01
    wasserstein: float = 0.1
    jensen_shannon: float = 0.1
    null_rate: float = 0.1
    share: float = 0.5
    bonferroni: bool = True
    columns: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise InvalidParameter(f"Threshold alpha is a significance level between 0 and 1, got {self.alpha}.")
        for name in ("wasserstein", "jensen_shannon", "null_rate", "share"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value >= 0 and math.isfinite(value)):
                raise InvalidParameter(f"Threshold {name} must be a number >= 0, got {value!r}.")
        for column, limits in self.columns.items():
            unknown = sorted(set(limits) - set(COLUMN_LIMITS))
            if unknown:
                raise InvalidParameter(f"Per-column thresholds for {column!r}: unknown {unknown}; "
                                       f"valid keys are {list(COLUMN_LIMITS)}.")
            self._override(limits)  # validates the values

    @classmethod
    def coerce(cls, value: Thresholds | Mapping[str, Any] | None) -> Thresholds:
        """``None`` → defaults; a mapping → ``Thresholds(**mapping)``, refusing unknown keys."""
        if value is None:
            return cls()
        if isinstance(value, Thresholds):
            return value
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(value) - set(valid))
        if unknown:
            raise InvalidParameter(f"Unknown thresholds {unknown}; valid keys are {valid}.")
        return cls(**value)

    def for_column(self, column: str) -> Thresholds:
        limits = self.columns.get(column)
        return self._override(limits) if limits else self

    def _override(self, limits: Mapping[str, float]) -> Thresholds:
        return replace(self, columns={}, alpha=limits.get("alpha", self.alpha),
                       wasserstein=limits.get("wasserstein", self.wasserstein),
                       jensen_shannon=limits.get("jensen_shannon", self.jensen_shannon),
                       null_rate=limits.get("null_rate", self.null_rate))


@dataclass(frozen=True, slots=True)
class ColumnDrift:
    """The verdict on one column. ``effect_size`` is the normalised Wasserstein distance (numeric) or
    the Jensen–Shannon distance (categorical), compared with ``threshold``; ``statistic`` and
    ``p_value`` belong to ``test`` (``"ks"``, ``"chi2"``, or ``"none"`` when a side has no values);
    ``alpha`` is the level a p-value had to be under (after the Bonferroni correction).
    ``unseen`` lists (as text, at most 10) values absent from the reference — known only when the
    reference's profile lists all its categories — and ``unseen_share`` their share of the window."""

    column: str
    kind: str
    test: str
    statistic: float
    p_value: float
    effect: str
    effect_size: float
    threshold: float
    alpha: float
    psi: float
    n_reference: int
    n_current: int
    null_rate_reference: float
    null_rate_current: float
    null_effect: float
    null_p_value: float
    unseen: tuple[str, ...]
    unseen_share: float
    distribution_drifted: bool
    null_drifted: bool
    drifted: bool
    note: str = ""


@dataclass(frozen=True, slots=True)
class DriftReport:
    """Drift of a current window against a reference, per column and for the data set."""

    columns: Mapping[str, ColumnDrift]
    reference_rows: int
    current_rows: int
    share: float
    share_threshold: float
    dataset_drifted: bool
    unmatched: tuple[str, ...] = ()

    @property
    def drifted_columns(self) -> list[str]:
        return [name for name, col in self.columns.items() if col.drifted]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``json.dumps`` with ``allow_nan=False`` works: NaN and ±inf become None)."""
        return {"dataset_drifted": self.dataset_drifted, "share": self.share, "share_threshold": self.share_threshold,
                "reference_rows": self.reference_rows, "current_rows": self.current_rows,
                "drifted_columns": self.drifted_columns, "unmatched": list(self.unmatched),
                "columns": {name: _json_ready(asdict(col)) for name, col in self.columns.items()}}

    def to_frame(self) -> pd.DataFrame:
        """One row per column, indexed by column name."""
        import pandas as pd

        names = [f.name for f in fields(ColumnDrift)]
        rows = [asdict(col) for col in self.columns.values()]
        return pd.DataFrame(rows, columns=names).set_index("column")


Reference = Union[Profile, "pd.DataFrame"]


def drift(reference: Reference, current: pd.DataFrame, *, columns: Sequence[str] | None = None,
          thresholds: Thresholds | Mapping[str, Any] | None = None) -> DriftReport:
    """Compare ``current`` with ``reference`` (a DataFrame, profiled on the fly, or a :class:`Profile`).

    ``columns``: the reference columns to compare (default: all profiled ones). ``thresholds``: a
    :class:`Thresholds` or a mapping of its fields, e.g. ``{"alpha": 0.001, "columns": {"age":
    {"wasserstein": 0.25}}}``. A reference column absent from ``current`` is compared as entirely
    missing (which is drift); columns only in ``current`` are listed in ``unmatched``.
    """
    import pandas as pd

    limits = Thresholds.coerce(thresholds)
    if not isinstance(current, pd.DataFrame):
        raise InvalidParameter(f"drift() compares a pandas DataFrame with the reference, got {type(current).__name__}.")
    if isinstance(reference, pd.DataFrame):
        reference = profile(reference, columns=columns)
    elif not isinstance(reference, Profile):
        raise InvalidParameter("The reference is a DataFrame or a Profile (shipyard.monitoring.profile(df)), "
                               f"got {type(reference).__name__}.")
    names = list(reference.columns) if columns is None else [str(c) for c in columns]
    unknown = [c for c in [*names, *limits.columns] if c not in reference.columns]
    if unknown:
        raise InvalidParameter(f"Columns {unknown} are not in the reference profile; it has {list(reference.columns)}"
                               + (f" (not profiled: {list(reference.skipped)})" if reference.skipped else "") + ".")
    tests = 2 * len(names) if limits.bonferroni else 1

    labels = column_labels(current)

    def one(name: str) -> ColumnDrift:
        present = name in labels
        series = current[labels[name]] if present else pd.Series([None] * len(current), dtype=object)
        own = limits.for_column(name)
        result = compare_column(reference.columns[name], series, replace(own, alpha=own.alpha / tests))
        return result if present else replace(result, note=_join(result.note, "missing from current"))

    with ThreadPoolExecutor(max_workers=4) as pool:  # NumPy's sorts release the GIL
        results = dict(zip(names, pool.map(one, names), strict=True))
    drifted = sum(r.drifted for r in results.values())
    share = drifted / len(results) if results else 0.0
    unmatched = tuple(c for c in labels if c not in reference.columns)
    return DriftReport(columns=results, reference_rows=reference.rows, current_rows=len(current), share=share,
                       share_threshold=limits.share, dataset_drifted=bool(results) and share >= limits.share,
                       unmatched=unmatched)


def compare_column(col: NumericProfile | CategoricalProfile, series: pd.Series, limits: Thresholds) -> ColumnDrift:
    """One column's verdict against its reference profile."""
    if isinstance(col, NumericProfile):
        return _numeric(col, series, limits)
    return _categorical(col, series, limits)


def _numeric(col: NumericProfile, series: pd.Series, limits: Thresholds) -> ColumnDrift:
    import pandas as pd

    values = float_values(series)
    valid = np.sort(values[~np.isnan(values)])
    note = ""
    if not (pd.api.types.is_numeric_dtype(series.dtype) or series.isna().all()):
        note = "current values are not numeric; those that are not numbers count as missing"
    n_ref, n_cur = col.valid, len(valid)
    base = _base(col, "numeric", "wasserstein", limits.wasserstein, n_cur, len(values), limits)
    if n_ref == 0 or n_cur == 0:
        return _finish(base, note=_join(note, _empty_note(n_ref, n_cur)))
    edges = np.asarray(col.edges)
    ref_cum = np.cumsum(np.asarray(col.counts, dtype=np.int64))
    cur_cum = np.searchsorted(valid, edges, side="right").astype(np.int64)
    d, p = _stats.ks_from_cdf(ref_cum, n_ref, cur_cum, n_cur)
    ref_q = np.asarray(col.quantiles)
    distance = _stats.trimmed_wasserstein(ref_q, sorted_quantiles(valid, len(ref_q) - 1))
    # PSI on about ten reference-equal-frequency bins: every tenth edge by reference share.
    picks = np.unique(np.minimum(np.searchsorted(ref_cum / n_ref, np.arange(1, 10) / 10), len(edges) - 1))
    ref_bins = np.diff(np.concatenate(([0], ref_cum[picks], [n_ref])))
    cur_bins = np.diff(np.concatenate(([0], cur_cum[picks], [n_cur])))
    effect = distance / col.scale
    return _finish(replace(base, test="ks", statistic=d, p_value=p, effect_size=effect,
                           psi=_stats.psi(ref_bins, cur_bins)), note=note)


def _categorical(col: CategoricalProfile, series: pd.Series, limits: Thresholds) -> ColumnDrift:
    import pandas as pd

    keys, counts = category_counts(series, col.value_type)
    n_cur = int(counts.sum())
    base = _base(col, "categorical", "jensen_shannon", limits.jensen_shannon, n_cur, len(series), limits)
    if col.valid == 0 or n_cur == 0:
        return _finish(base, note=_empty_note(col.valid, n_cur))
    k = len(col.categories)
    where = pd.Index(list(col.categories), dtype=object).get_indexer(pd.Index(keys, dtype=object)) \
        if k else np.full(len(keys), -1)
    found = where >= 0
    matched = np.bincount(where[found], weights=counts[found], minlength=k).astype(np.int64)
    new = np.flatnonzero(~found)
    rest = int(counts[new].sum())
    unseen: tuple[str, ...] = ()
    tiebreak = None
    if col.complete:  # every reference value is listed, so the rest is new
        order = np.argsort(-counts[new], kind="stable")[:MAX_UNSEEN_LISTED]
        unseen = tuple(str(keys[i]) for i in new[order])
        # Each new value is its own cell: one cell of "absent from the reference" would be a grouping
        # chosen by the data, and the test would call sampling noise drift. Sparse cells are grouped
        # in an order that does not know which side a value came from (its hash; see sparse_cells).
        new_keys = [keys[int(i)] for i in new]
        ref_all = np.append(np.asarray(col.counts, dtype=np.int64), np.zeros(len(new), dtype=np.int64))
        cur_all = np.append(matched, counts[new])
        tiebreak = text_hash([*col.categories, *new_keys])
    elif col.buckets:  # values beyond the listed ones are compared per hash bucket
        b = len(col.buckets)
        cur_buckets = np.bincount(text_hash([keys[int(i)] for i in new]) % b, weights=counts[new], minlength=b)
        ref_all = np.append(np.asarray(col.counts, dtype=np.int64), np.asarray(col.buckets, dtype=np.int64))
        cur_all = np.append(matched, cur_buckets.astype(np.int64))
    else:  # a profile without buckets (written before they existed): the rest is one "other" cell
        ref_all = np.array([*col.counts, col.other], dtype=np.int64)
        cur_all = np.append(matched, rest)
    ref_cells, cur_cells = _stats.sparse_cells(ref_all, cur_all, tiebreak)
    stat, p = _stats.pearson(*_stats.merge_short(ref_cells, cur_cells))
    return _finish(replace(base, test="chi2", statistic=stat, p_value=p,
                           effect_size=_stats.js_excess(ref_cells, cur_cells), psi=_stats.psi(ref_cells, cur_cells),
                           unseen=unseen, unseen_share=rest / n_cur if col.complete else 0.0))


def _base(col: NumericProfile | CategoricalProfile, kind: str, effect: str, threshold: float, n_cur: int,
          rows: int, limits: Thresholds) -> ColumnDrift:
    """A verdict with the missing-value comparison filled in and no distribution test yet."""
    h, p = _stats.proportion_change(col.nulls, col.rows, rows - n_cur, rows)
    null_drifted = p < limits.alpha and h > limits.null_rate
    return ColumnDrift(column=col.name, kind=kind, test="none", statistic=math.nan, p_value=1.0, effect=effect,
                       effect_size=math.nan, threshold=threshold, alpha=limits.alpha, psi=math.nan,
                       n_reference=col.valid, n_current=n_cur,
                       null_rate_reference=col.nulls / col.rows if col.rows else math.nan,
                       null_rate_current=(rows - n_cur) / rows if rows else math.nan, null_effect=h,
                       null_p_value=p, unseen=(), unseen_share=0.0, distribution_drifted=False,
                       null_drifted=null_drifted, drifted=null_drifted)


def _finish(result: ColumnDrift, *, note: str = "") -> ColumnDrift:
    """Apply the decision rule: significant and over the effect threshold."""
    moved = result.test != "none" and result.p_value < result.alpha and result.effect_size > result.threshold
    return replace(result, distribution_drifted=moved, drifted=moved or result.null_drifted, note=note)


def _empty_note(n_ref: int, n_cur: int) -> str:
    if n_ref == 0 and n_cur == 0:
        return "no values on either side"
    return "no reference values" if n_ref == 0 else "no current values"


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def _json_ready(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        elif isinstance(value, tuple):
            value = list(value)
        out[key] = value
    return out
