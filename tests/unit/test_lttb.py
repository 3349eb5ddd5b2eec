"""LTTB down-sampling (the charts' server-side reduction): known answers and properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard._internal._lttb import lttb


def test_short_series_are_kept_whole_and_tiny_targets_keep_the_ends() -> None:
    assert lttb([0, 1, 2], [5, 6, 7], 10).tolist() == [0, 1, 2]
    assert lttb(range(100), range(100), 2).tolist() == [0, 99]
    assert lttb(range(100), range(100), 1).tolist() == [0]
    assert lttb([], [], 5).tolist() == []
    with pytest.raises(ValueError, match="same length"):
        lttb([0, 1], [1], 1)


def test_a_single_spike_in_a_flat_series_survives() -> None:
    y = np.zeros(10_000)
    y[6_543] = 100.0
    y[2_001] = -40.0
    kept = lttb(np.arange(10_000), y, 50)
    assert 6_543 in kept and 2_001 in kept  # every-k-th sampling or bucket means would lose both


def test_nan_values_are_not_chosen_over_finite_ones() -> None:
    y = np.sin(np.linspace(0, 20, 5_000))
    y[::3] = np.nan
    kept = lttb(np.arange(5_000), y, 100)
    assert np.isfinite(y[kept[1:-1]]).all()


@settings(max_examples=60, deadline=None)
@given(size=st.integers(0, 3_000), n=st.integers(0, 400), seed=st.integers(0, 2**32 - 1))
def test_indices_are_an_ordered_subset_with_the_ends(size: int, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.uniform(0.0, 2.0, size))
    y = rng.normal(0.0, 1.0, size).cumsum()
    kept = lttb(x, y, n)
    assert len(kept) == min(size, max(n, 0))
    assert (np.diff(kept) > 0).all()
    assert all(0 <= k < size for k in kept)
    if size and n >= 2:
        assert kept[0] == 0 and kept[-1] == size - 1


def _reference(x: np.ndarray, y: np.ndarray, n: int) -> list[int]:
    """The textbook algorithm, one bucket at a time with NumPy (the implementation's first version):
    the fast paths (prefix sums, plain floats for small buckets) must choose exactly the same points."""
    size = len(x)
    if n >= size:
        return list(range(size))
    if n < 3:
        return [0, size - 1][: max(n, 0)] if size > 1 else [0][: max(n, 0)]
    edges = np.linspace(1, size - 1, n - 1).astype(int)
    kept = [0] * n
    kept[-1] = size - 1
    finite = np.isfinite(y)
    for b in range(n - 2):
        lo, hi = edges[b], edges[b + 1]
        nxt = slice(hi, edges[b + 2] if b + 2 < len(edges) else size)
        ny = y[nxt][finite[nxt]]
        cx = x[nxt].mean()
        cy = ny.mean() if len(ny) else (y[-1] if finite[-1] else 0.0)
        ax, ay = x[kept[b]], y[kept[b]] if finite[kept[b]] else cy
        area = np.where(finite[lo:hi], np.abs((ax - cx) * (y[lo:hi] - ay) - (ax - x[lo:hi]) * (cy - ay)), -1.0)
        kept[b + 1] = int(lo + np.argmax(area))
    return kept


@settings(max_examples=300, deadline=None)
@given(size=st.integers(1, 4000), n=st.integers(0, 900), seed=st.integers(0, 2**32 - 1),
       holes=st.sampled_from([0.0, 0.1, 1.0]), steps=st.booleans())
def test_fast_paths_choose_the_same_points_as_the_reference(size: int, n: int, seed: int, holes: float,
                                                           steps: bool) -> None:
    rng = np.random.default_rng(seed)
    x = np.arange(size, dtype=float) if steps else np.sort(rng.normal(size=size))
    y = rng.normal(size=size) * 10
    y[rng.random(size) < holes] = np.nan
    assert lttb(x, y, n).tolist() == _reference(x, y, n)
