"""Largest-Triangle-Three-Buckets down-sampling (Steinarsson, 2013): a series of any length reduced to
``n`` points that keep its visual shape — spikes and dips survive, where taking every k-th point or
averaging buckets would flatten them. Charts use it so that no more points than pixels leave the
server.

The first and last points are always kept; the points in between are split into ``n - 2`` buckets of
(nearly) equal count, and from each bucket the point forming the largest triangle with the point kept
from the previous bucket and the average of the next bucket is kept. The result is a subset of the
input, in order. Vectorised per bucket with NumPy.
"""

from __future__ import annotations

from typing import Any


def lttb(x: Any, y: Any, n: int) -> Any:
    """The indices (ascending, into ``x``/``y``) of at most ``n`` points that represent the series.

    ``x`` must be sorted ascending (steps or timestamps); NaN values of ``y`` are never chosen over
    finite ones within a bucket. ``n < 3`` keeps the ends only; a series of ``n`` points or fewer is kept
    whole.
    """
    import numpy as np

    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValueError(f"x and y must be 1-D arrays of the same length, got {xs.shape} and {ys.shape}.")
    size = len(xs)
    if n >= size:
        return np.arange(size)
    if n < 3:
        return np.array([0, size - 1][: max(n, 0)] if size > 1 else [0][: max(n, 0)], dtype=int)
    edges = np.linspace(1, size - 1, n - 1).astype(int)  # n - 2 buckets over the inner points
    kept = np.empty(n, dtype=int)
    kept[0], kept[-1] = 0, size - 1
    finite = np.isfinite(ys)
    for b in range(n - 2):
        lo, hi = edges[b], edges[b + 1]
        nxt_lo, nxt_hi = hi, edges[b + 2] if b + 2 < len(edges) else size
        ax, ay = xs[kept[b]], ys[kept[b]]
        nx = xs[nxt_lo:nxt_hi]
        ny = ys[nxt_lo:nxt_hi][finite[nxt_lo:nxt_hi]]
        cx = nx.mean() if len(nx) else xs[-1]
        cy = ny.mean() if len(ny) else (ys[-1] if finite[-1] else 0.0)
        if not np.isfinite(ay):
            ay = cy
        area = np.abs((ax - cx) * (ys[lo:hi] - ay) - (ax - xs[lo:hi]) * (cy - ay))
        area = np.where(finite[lo:hi], area, -1.0)
        kept[b + 1] = lo + int(np.argmax(area))
    return kept
