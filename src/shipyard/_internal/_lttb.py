"""Largest-Triangle-Three-Buckets down-sampling (Steinarsson, 2013): a series of any length reduced to
``n`` points that keep its visual shape — spikes and dips survive, where taking every k-th point or
averaging buckets would flatten them. Charts use it so that no more points than pixels leave the
server.

The first and last points are always kept; the points in between are split into ``n - 2`` buckets of
(nearly) equal count, and from each bucket the point forming the largest triangle with the point kept
from the previous bucket and the average of the next bucket is kept. The result is a subset of the
input, in order. The next buckets' averages come from prefix sums; small buckets are scanned as plain
floats, large ones with NumPy.
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
    bounds = np.append(edges, size)  # bucket b is [bounds[b], bounds[b + 1]); its next one follows it
    finite = np.isfinite(ys)
    fallback = float(ys[-1]) if finite[-1] else 0.0  # the next bucket's y when it has no finite value
    kept = [0] * n
    kept[-1] = size - 1
    if (size - 2) / (n - 2) <= 16:  # small buckets (the common case): plain floats beat NumPy's per-call cost
        # the average point of every bucket's next bucket, from prefix sums (y over its finite values only)
        lo_next, hi_next = bounds[1:-1], bounds[2:]
        cx_sum = np.concatenate(([0.0], np.cumsum(xs)))
        cy_sum = np.concatenate(([0.0], np.cumsum(np.where(finite, ys, 0.0))))
        cy_cnt = np.concatenate(([0], np.cumsum(finite)))
        counts = cy_cnt[hi_next] - cy_cnt[lo_next]
        cxl = ((cx_sum[hi_next] - cx_sum[lo_next]) / (hi_next - lo_next)).tolist()
        cyl = np.where(counts > 0, (cy_sum[hi_next] - cy_sum[lo_next]) / np.maximum(counts, 1), fallback).tolist()
        xl, yl, fl, bl = xs.tolist(), ys.tolist(), finite.tolist(), bounds.tolist()
        for b in range(n - 2):
            a = kept[b]
            ax, ay, cx, cy = xl[a], yl[a] if fl[a] else cyl[b], cxl[b], cyl[b]
            best, best_area = bl[b], -2.0
            for i in range(bl[b], bl[b + 1]):
                area = abs((ax - cx) * (yl[i] - ay) - (ax - xl[i]) * (cy - ay)) if fl[i] else -1.0
                if area > best_area:
                    best, best_area = i, area
            kept[b + 1] = best
        return np.array(kept, dtype=int)
    for b in range(n - 2):  # large buckets: one vectorised pass each
        lo, hi, a = int(bounds[b]), int(bounds[b + 1]), kept[b]
        nxt = slice(hi, int(bounds[b + 2]))
        ny = ys[nxt][finite[nxt]]
        cx = xs[nxt].mean()
        cy = ny.mean() if len(ny) else fallback
        ax, ay = xs[a], ys[a] if finite[a] else cy
        area = np.abs((ax - cx) * (ys[lo:hi] - ay) - (ax - xs[lo:hi]) * (cy - ay))
        area = np.where(finite[lo:hi], area, -1.0)
        kept[b + 1] = lo + int(np.argmax(area))
    return np.array(kept, dtype=int)
