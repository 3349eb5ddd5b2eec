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
