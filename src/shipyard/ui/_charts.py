"""Charts drawn on the server as SVG (no script needed): parallel coordinates of runs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

from shipyard.entities import Run

#: Series colours (colour-blind safe, Okabe–Ito first), shared with the script's line charts.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
           "#7F3C8D", "#11A579", "#3969AC", "#F2B701", "#E73F74", "#80BA5A", "#E68310", "#008695"]


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _value(run: Run, axis: str) -> Any:
    kind, _, key = axis.partition(".")
    return (run.metrics if kind == "metrics" else run.params).get(key)


def _as_float(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _scale(values: list[Any]) -> tuple[list[float | None], list[tuple[float, str]]]:
    """Positions in [0, 1] (None: no value) and tick labels: numeric axes min–max, others by sorted value."""
    numbers = [_as_float(v) for v in values]
    if all(n is not None for v, n in zip(values, numbers, strict=True) if v is not None):
        finite = [n for n in numbers if n is not None]
        if not finite:
            return [None] * len(values), []
        lo, hi = min(finite), max(finite)
        span = hi - lo or 1.0
        pos = [None if n is None else (n - lo) / span if hi > lo else 0.5 for n in numbers]
        ticks = [(0.0, f"{lo:.4g}"), (1.0, f"{hi:.4g}")] if hi > lo else [(0.5, f"{lo:.4g}")]
        return pos, ticks
    cats = sorted({str(v) for v in values if v is not None})
    step = 1.0 / max(len(cats) - 1, 1)
    where = {c: (i * step if len(cats) > 1 else 0.5) for i, c in enumerate(cats)}
    return [None if v is None else where[str(v)] for v in values], [(where[c], c) for c in cats]


def parallel_coordinates(runs: Sequence[Run], axes: Sequence[str], width: int = 960, height: int = 300) -> str:
    """An SVG with one vertical axis per param/metric and one line per run (its colour as in the
    charts); a run without a value on an axis breaks its line there."""
    if len(axes) < 2:
        return ""
    top, bottom, left, right = 28, 24, 60, 60
    gap = (width - left - right) / (len(axes) - 1)
    xs = [left + i * gap for i in range(len(axes))]
    scaled = [_scale([_value(r, a) for r in runs]) for a in axes]
    inner = height - top - bottom

    def y(p: float) -> float:
        return top + (1 - p) * inner

    out = [f'<svg class="parallel" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="Parallel coordinates of {len(runs)} runs over {len(axes)} axes" '
           f'xmlns="http://www.w3.org/2000/svg">']
    for x, axis, (_, ticks) in zip(xs, axes, scaled, strict=True):
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + inner}" class="axis"/>')
        out.append(f'<text x="{x:.1f}" y="{top - 10}" text-anchor="middle" class="axis-label">'
                   f'{escape(axis.partition(".")[2][:24])}</text>')
        for p, label in ticks[:12]:
            out.append(f'<text x="{x + 4:.1f}" y="{y(p) + 4:.1f}" class="tick">{escape(label[:16])}</text>')
    for i, run in enumerate(runs):
        segments: list[list[str]] = [[]]
        for x, (pos, _) in zip(xs, scaled, strict=True):
            at = pos[i]
            if at is None:
                segments.append([])
                continue
            segments[-1].append(f"{x:.1f},{y(at):.1f}")
        for seg in segments:
            if len(seg) > 1:
                out.append(f'<polyline points="{" ".join(seg)}" stroke="{colour(i)}" class="run-line">'
                           f"<title>{escape(run.name)}</title></polyline>")
    out.append("</svg>")
    return "".join(out)


#: Left-to-right order of lineage node kinds.
_RANKS = {"feature_view": 0, "experiment": 1, "dataset": 1, "run": 2, "model_version": 3, "deployment": 4}


def lineage_svg(graph: Any, deployments: Sequence[str] = (), width: int = 960) -> str:
    """The lineage graph (feature views / datasets → run → version → deployments) as columns of boxes
    joined by labelled edges; ``deployments``: names of deployments serving the version (drawn after it)."""
    nodes = [(n.id, n.kind, n.label) for n in graph.nodes]
    edges = [(e.source, e.target, e.relation) for e in graph.edges]
    for name in deployments:
        nodes.append((f"deployment:{name}", "deployment", name))
        edges.append((graph.root, f"deployment:{name}", "served by"))
    columns: dict[int, list[tuple[str, str, str]]] = {}
    for node in nodes:
        columns.setdefault(_RANKS.get(node[1], 1), []).append(node)
    order = sorted(columns)
    box_w, box_h, gap_y, top = 170, 40, 16, 10
    gap_x = (width - box_w - 20) / max(len(order) - 1, 1)
    where: dict[str, tuple[float, float]] = {}
    for ci, rank in enumerate(order):
        for ri, (node_id, _, _) in enumerate(columns[rank]):
            where[node_id] = (10 + ci * gap_x, top + ri * (box_h + gap_y))
    height = top + max(len(c) for c in columns.values()) * (box_h + gap_y) + 10
    out = [f'<svg class="lineage" viewBox="0 0 {width} {height}" role="img" aria-label="Lineage graph" '
           f'xmlns="http://www.w3.org/2000/svg">']
    for src, dst, relation in edges:
        if src not in where or dst not in where:
            continue
        (x1, y1), (x2, y2) = where[src], where[dst]
        out.append(f'<line x1="{x1 + box_w:.0f}" y1="{y1 + box_h / 2:.0f}" x2="{x2:.0f}" y2="{y2 + box_h / 2:.0f}" '
                   f'class="edge"><title>{escape(relation)}</title></line>')
    for node_id, kind, label in nodes:
        x, y0 = where[node_id]
        root = " root" if node_id == graph.root else ""
        out.append(f'<g class="node {escape(kind)}{root}"><rect x="{x:.0f}" y="{y0:.0f}" width="{box_w}" '
                   f'height="{box_h}" rx="6"/><text x="{x + 8:.0f}" y="{y0 + 16:.0f}" class="kind">'
                   f'{escape(kind.replace("_", " "))}</text><text x="{x + 8:.0f}" y="{y0 + 32:.0f}">'
                   f'{escape(label[:24])}</text><title>{escape(node_id)}</title></g>')
    out.append("</svg>")
    return "".join(out)


def bars(starts: Sequence[int], counts: Sequence[int], width_ms: int, label: str, width: int = 960,
         height: int = 140, failed: Sequence[int] | None = None) -> str:
    """Counts per time bucket as an SVG bar chart (the time axis in UTC), with each bar's value as its
    tooltip; ``failed``: a second count per bucket stacked on top (in red)."""
    import datetime as dt

    n = len(counts)
    if not n:
        return ""
    top, bottom, left, right = 12, 22, 44, 8
    inner_w, inner_h = width - left - right, height - top - bottom
    failed = list(failed) if failed is not None else [0] * n
    peak = max(max(c + f for c, f in zip(counts, failed, strict=True)), 1)
    bar = inner_w / n
    out = [f'<svg class="bars" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}" '
           f'xmlns="http://www.w3.org/2000/svg">',
           f'<text x="4" y="{top + 4}" class="tick">{peak}</text><text x="4" y="{top + inner_h}" class="tick">0</text>',
           f'<line x1="{left}" y1="{top + inner_h}" x2="{width - right}" y2="{top + inner_h}" class="axis"/>']
    for i, (start, count, bad) in enumerate(zip(starts, counts, failed, strict=True)):
        h, hf = inner_h * count / peak, inner_h * bad / peak
        when = dt.datetime.fromtimestamp(start / 1000, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
        x, w = left + i * bar + 0.5, max(bar - 1, 0.5)
        out.append(f'<rect x="{x:.1f}" y="{top + inner_h - h:.1f}" width="{w:.1f}" height="{h:.1f}" class="bar">'
                   f'<title>{when} UTC: {count}{f", {bad} failed" if bad else ""}</title></rect>')
        if bad:
            out.append(f'<rect x="{x:.1f}" y="{top + inner_h - h - hf:.1f}" width="{w:.1f}" height="{hf:.1f}" '
                       f'class="bar failed"><title>{when} UTC: {bad} failed</title></rect>')
    for i, anchor in ((0, "start"), (n // 2, "middle"), (n - 1, "end")):
        when = dt.datetime.fromtimestamp(starts[i] / 1000, tz=dt.timezone.utc).strftime("%m-%d %H:%M")
        x = left + i * bar + (bar if anchor == "end" else 0)
        out.append(f'<text x="{x:.1f}" y="{height - 6}" text-anchor="{anchor}" class="tick">{when} UTC</text>')
    out.append(f'<text x="{left + 6}" y="{top + 4}" class="tick">{escape(label)}</text></svg>')
    return "".join(out)
