"""Two-sample statistics computed from summaries — cumulative counts at shared points, quantiles on a
fixed grid, category counts — so the drift engine never needs the reference's raw values.

Every function takes counts or quantiles (NumPy arrays) and returns plain floats. SciPy is imported on
first use (``import shipyard.monitoring`` stays light for the serving path).
"""

from __future__ import annotations

import math
from typing import Union

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Counts = Union[IntArray, FloatArray]  # counts, whole or (after grouping) held as floats

PSI_FLOOR = 1e-4  # proportions are floored here before the PSI's log ratio (an empty bin is not infinite drift)
MIN_CELL = 5  # chi-squared wants every expected count at least this large (Cochran)


def ks_from_cdf(ref_cum: IntArray, n_ref: int, cur_cum: IntArray, n_cur: int) -> tuple[float, float]:
    """Two-sample Kolmogorov–Smirnov statistic evaluated at shared points, from the cumulative counts
    of values ``<=`` each point, and its p-value.

    Between two points each CDF moves by at most one bin, so the statistic is exact up to one bin's
    mass (the reference's quantile bins hold 1% each by default). The p-value is the Kolmogorov
    limit at the effective size ``n·m/(n+m)`` with Stephens' small-sample correction (good from
    about 4 effective observations; conservative for data with ties).
    """
    if n_ref == 0 or n_cur == 0:
        return math.nan, 1.0
    if len(ref_cum) == 0:
        return 0.0, 1.0
    d = float(np.max(np.abs(ref_cum / n_ref - cur_cum / n_cur)))
    n_eff = n_ref * n_cur / (n_ref + n_cur)
    root = math.sqrt(n_eff)
    return d, kolmogorov_sf((root + 0.12 + 0.11 / root) * d)


def kolmogorov_sf(x: float) -> float:
    """P(K > x) for the Kolmogorov distribution."""
    from scipy import special

    return float(min(1.0, max(0.0, special.kolmogorov(x))))


def sparse_cells(ref_counts: Counts, cur_counts: Counts,
                 tiebreak: NDArray[np.uint32] | None = None) -> tuple[FloatArray, FloatArray]:
    """The 2×k table of counts the categorical tests run on, sparse cells grouped.

    A cell is sparse when its smaller expected count — its pooled count times ``min(n, m) / (n + m)``,
    the expected count in the smaller sample — is under ``MIN_CELL`` (Cochran's rule): chi-squared on
    such cells calls noise significant, and the Jensen–Shannon distance of a few counts per cell is
    mostly noise. Sparse cells are sorted by pooled count (ties by ``tiebreak``, else by position)
    and cut into consecutive groups of at least ``MIN_CELL`` smaller-expected count each (the last,
    if short, joins the one before). Hundreds of sparse categories (ids, a long tail) thus become
    tens of cells that still show where the window's mass moved: a group of values the reference
    never had, a group of values the window lost. When all sparse cells together fall short of
    ``MIN_CELL`` they are one cell, the last, and only that one may be short: the distance keeps it
    (a small window made only of new values is still a window of new values), chi-squared merges it
    into the smallest other cell first (:func:`merge_short`).

    The grouping looks only at pooled counts and at an order that does not depend on which sample a
    value came from, so under no drift the split of every group is the same hypergeometric draw as
    that of a fixed cell, and the test keeps its size. (Ordering "the reference's values first, new
    ones after" would not: with a reference of ids seen once and a window of other ids, the groups
    would be all-reference or all-window and chi-squared would call two samples of one distribution
    different.) Cells empty on both sides are dropped. Vectorised: one ``lexsort`` and two ``bincount``.
    """
    ref = np.asarray(ref_counts, dtype=np.float64)
    cur = np.asarray(cur_counts, dtype=np.float64)
    n_ref, n_cur = ref.sum(), cur.sum()
    pooled = ref + cur
    if n_ref == 0 or n_cur == 0:
        live = pooled > 0
        return ref[live], cur[live]
    smaller = pooled * min(n_ref, n_cur) / (n_ref + n_cur)
    keep = smaller >= MIN_CELL
    rare = np.flatnonzero(~keep & (pooled > 0))
    ref_keep, cur_keep = ref[keep], cur[keep]
    if len(rare) == 0:
        return ref_keep, cur_keep
    ties = np.arange(len(rare)) if tiebreak is None else np.asarray(tiebreak)[rare]
    cells = rare[np.lexsort((ties, pooled[rare]))]
    size = smaller[cells]
    # Group g holds the cells whose running total before them is in [g·w, (g+1)·w): with w = MIN_CELL
    # plus the largest sparse cell, every group but the last reaches MIN_CELL.
    start = np.cumsum(size) - size
    group = (start // (MIN_CELL + size.max())).astype(np.int64)
    groups = int(group[-1]) + 1
    if groups > 1 and size[group == groups - 1].sum() < MIN_CELL:
        group[group == groups - 1] = groups - 2
        groups -= 1
    ref_groups = np.bincount(group, weights=ref[cells], minlength=groups)
    cur_groups = np.bincount(group, weights=cur[cells], minlength=groups)
    return np.append(ref_keep, ref_groups), np.append(cur_keep, cur_groups)


def merge_short(ref_cells: FloatArray, cur_cells: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The table of :func:`sparse_cells` with a short last cell (under ``MIN_CELL`` expected in the
    smaller sample) merged into the smallest other cell, as chi-squared needs."""
    n_ref, n_cur = ref_cells.sum(), cur_cells.sum()
    if len(ref_cells) < 2 or n_ref == 0 or n_cur == 0:
        return ref_cells, cur_cells
    pooled = ref_cells + cur_cells
    if pooled[-1] * min(n_ref, n_cur) / (n_ref + n_cur) >= MIN_CELL:
        return ref_cells, cur_cells
    ref, cur = ref_cells[:-1].copy(), cur_cells[:-1].copy()
    i = int(np.argmin(pooled[:-1]))
    ref[i] += ref_cells[-1]
    cur[i] += cur_cells[-1]
    return ref, cur


def chi2_homogeneity(ref_counts: Counts, cur_counts: Counts,
                     tiebreak: NDArray[np.uint32] | None = None) -> tuple[float, float]:
    """Pearson's chi-squared test that two samples of categories share one distribution (a 2×k
    contingency table), on the cells of :func:`sparse_cells` (:func:`merge_short` applied)."""
    return pearson(*merge_short(*sparse_cells(ref_counts, cur_counts, tiebreak)))


def pearson(ref_counts: FloatArray, cur_counts: FloatArray) -> tuple[float, float]:
    """Pearson's chi-squared statistic of a 2×k table as given (no merging) and its p-value."""
    from scipy import special

    ref = np.asarray(ref_counts, dtype=np.float64)
    cur = np.asarray(cur_counts, dtype=np.float64)
    n_ref, n_cur = ref.sum(), cur.sum()
    total = ref + cur
    live = total > 0
    if n_ref == 0 or n_cur == 0 or int(live.sum()) < 2:
        return 0.0, 1.0
    ref, cur, total = ref[live], cur[live], total[live]
    n = n_ref + n_cur
    exp_ref, exp_cur = total * n_ref / n, total * n_cur / n
    stat = float(np.sum((ref - exp_ref) ** 2 / exp_ref) + np.sum((cur - exp_cur) ** 2 / exp_cur))
    return stat, float(special.chdtrc(len(ref) - 1, stat))


def js_distance(ref_counts: Counts, cur_counts: Counts) -> float:
    """Jensen–Shannon distance (base 2: 0 for identical distributions, 1 for disjoint ones)."""
    p = _proportions(ref_counts)
    q = _proportions(cur_counts)
    if p is None or q is None:
        return math.nan
    m = (p + q) / 2
    return math.sqrt(max(0.0, (_kl2(p, m) + _kl2(q, m)) / 2))


def js_excess(ref_counts: Counts, cur_counts: Counts) -> float:
    """The Jensen–Shannon distance of two samples with the part sampling noise alone gives removed.

    Between two samples of one distribution over ``c`` cells, of sizes ``n`` and ``m``, the JS
    divergence is not 0 but about ``(c − 1)·(1/n + 1/m) / (8·ln 2)`` bits: its second-order expansion
    is Pearson's chi-squared divided by ``8·ln 2·n·m/(n + m)``, and chi-squared averages ``c − 1``.
    That expectation is subtracted from the divergence (floored at 0) before the square root, so the
    distance estimates the distributions' own distance rather than how sparse the samples are. The
    expansion needs a few expected counts per cell (on raw cells of 1 or 0 counts the noise is not
    quadratic), which is why the drift engine passes the cells of :func:`sparse_cells`. 0 for
    identical samples; nan for an empty side.
    """
    ref = np.asarray(ref_counts, dtype=np.float64)
    cur = np.asarray(cur_counts, dtype=np.float64)
    p, q = _proportions(ref), _proportions(cur)
    if p is None or q is None:
        return math.nan
    m = (p + q) / 2
    divergence = (_kl2(p, m) + _kl2(q, m)) / 2
    cells = int(np.count_nonzero(ref + cur))
    noise = (cells - 1) * (1 / ref.sum() + 1 / cur.sum()) / (8 * math.log(2))
    return math.sqrt(max(0.0, divergence - noise))


def psi(ref_counts: Counts, cur_counts: Counts) -> float:
    """Population stability index ``Σ (q − p)·ln(q / p)`` over shared bins, proportions floored at
    ``PSI_FLOOR``. Rules of thumb: < 0.1 stable, 0.1–0.25 moderate shift, > 0.25 major shift."""
    p = _proportions(ref_counts)
    q = _proportions(cur_counts)
    if p is None or q is None:
        return math.nan
    p, q = np.maximum(p, PSI_FLOOR), np.maximum(q, PSI_FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


def trimmed_wasserstein(ref_quantiles: FloatArray, cur_quantiles: FloatArray) -> float:
    """Wasserstein-1 distance ``∫|Q_ref(p) − Q_cur(p)| dp`` from quantiles on a shared uniform grid
    ``0, 1/k, …, 1``, using the interior points only (the integral over about [½/k, 1 − ½/k]):
    the extreme quantiles — a single outlier, a heavy tail — do not dominate the distance."""
    if len(ref_quantiles) < 3 or len(cur_quantiles) != len(ref_quantiles):
        return math.nan
    diff = np.abs(ref_quantiles[1:-1] - cur_quantiles[1:-1])
    return float(diff.sum() / (len(ref_quantiles) - 1))


def proportion_change(nulls_ref: int, n_ref: int, nulls_cur: int, n_cur: int) -> tuple[float, float]:
    """Cohen's h between two proportions (``|2·asin√p₁ − 2·asin√p₂|``: 0.2 is a small effect, 0.5 a
    medium one) and the two-sided p-value of the pooled two-proportion z-test."""
    if n_ref == 0 or n_cur == 0:
        return 0.0, 1.0
    p1, p2 = nulls_ref / n_ref, nulls_cur / n_cur
    h = abs(2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p2)))
    pooled = (nulls_ref + nulls_cur) / (n_ref + n_cur)
    var = pooled * (1 - pooled) * (1 / n_ref + 1 / n_cur)
    if var <= 0:
        return h, 1.0
    z = abs(p1 - p2) / math.sqrt(var)
    return h, math.erfc(z / math.sqrt(2))


def _proportions(counts: Counts) -> FloatArray | None:
    arr = np.asarray(counts, dtype=np.float64)
    total = arr.sum()
    return None if total <= 0 else arr / total


def _kl2(p: FloatArray, m: FloatArray) -> float:
    mask = p > 0
    return float(np.sum(p[mask] * np.log2(p[mask] / m[mask])))
