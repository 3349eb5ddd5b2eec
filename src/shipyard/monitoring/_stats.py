"""Two-sample statistics computed from summaries — cumulative counts at shared points, quantiles on a
fixed grid, category counts — so the drift engine never needs the reference's raw values.

Every function takes counts or quantiles (NumPy arrays) and returns plain floats. SciPy is imported on
first use (``import shipyard.monitoring`` stays light for the serving path).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

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


def chi2_homogeneity(ref_counts: IntArray, cur_counts: IntArray) -> tuple[float, float]:
    """Pearson's chi-squared test that two samples of categories share one distribution (a 2×k
    contingency table). Cells whose smaller expected count is under ``MIN_CELL`` (Cochran's rule;
    with a large reference and a small window that is the window's expected count) are merged into
    one, and that one into the smallest other cell if it is still too small: sparse categories (small
    windows, long tails) would otherwise make the approximation call noise significant. The merging
    looks only at pooled counts, so it does not bias the test."""
    from scipy import special

    ref = np.asarray(ref_counts, dtype=np.float64)
    cur = np.asarray(cur_counts, dtype=np.float64)
    n_ref, n_cur = ref.sum(), cur.sum()
    if n_ref == 0 or n_cur == 0:
        return 0.0, 1.0
    pooled = ref + cur
    smaller = pooled * min(n_ref, n_cur) / (n_ref + n_cur)
    keep = smaller >= MIN_CELL
    rare = ~keep & (pooled > 0)
    ref_rare, cur_rare = ref[rare].sum(), cur[rare].sum()
    ref, cur, smaller = ref[keep], cur[keep], smaller[keep]
    if rare.any():
        if (ref_rare + cur_rare) * min(n_ref, n_cur) / (n_ref + n_cur) >= MIN_CELL or len(ref) == 0:
            ref, cur = np.append(ref, ref_rare), np.append(cur, cur_rare)
        else:
            i = int(np.argmin(smaller))
            ref[i] += ref_rare
            cur[i] += cur_rare
    if len(ref) < 2:
        return 0.0, 1.0
    total = ref + cur
    n = n_ref + n_cur
    exp_ref, exp_cur = total * n_ref / n, total * n_cur / n
    stat = float(np.sum((ref - exp_ref) ** 2 / exp_ref) + np.sum((cur - exp_cur) ** 2 / exp_cur))
    return stat, float(special.chdtrc(len(ref) - 1, stat))


def js_distance(ref_counts: IntArray, cur_counts: IntArray) -> float:
    """Jensen–Shannon distance (base 2: 0 for identical distributions, 1 for disjoint ones)."""
    p = _proportions(ref_counts)
    q = _proportions(cur_counts)
    if p is None or q is None:
        return math.nan
    m = (p + q) / 2
    return math.sqrt(max(0.0, (_kl2(p, m) + _kl2(q, m)) / 2))


def psi(ref_counts: IntArray, cur_counts: IntArray) -> float:
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


def _proportions(counts: IntArray) -> FloatArray | None:
    arr = np.asarray(counts, dtype=np.float64)
    total = arr.sum()
    return None if total <= 0 else arr / total


def _kl2(p: FloatArray, m: FloatArray) -> float:
    mask = p > 0
    return float(np.sum(p[mask] * np.log2(p[mask] / m[mask])))
