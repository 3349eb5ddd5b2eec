"""Small SVG charts for standalone reports: no JavaScript, no dependency, readable offline and in
any browser. Every function returns an ``<svg>`` element as text; values are escaped."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

PALETTE = ("#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#db2777")
REFERENCE = "#94a3b8"
CURRENT = "#ea580c"
STATUS_COLOURS = {"ok": "#16a34a", "warning": "#ca8a04", "alert": "#dc2626", "empty": "#cbd5e1"}
FONT = 'font-family="system-ui,-apple-system,Segoe UI,sans-serif" font-size="11"'


def _fmt(value: float) -> str:
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    magnitude = abs(value)
    if magnitude >= 10_000 or magnitude < 0.001:
        return f"{value:.2g}"
    return f"{value:.3g}"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering ``[lo, hi]``."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(count, 1)
    step = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * step:
            step *= factor
            break
    start = math.floor(lo / step) * step
    ticks = []
    value = start
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


class _Frame:
    """Plot area and scales of one chart."""

    def __init__(self, width: int, height: int, x_range: tuple[float, float], y_range: tuple[float, float],
                 left: int = 52, right: int = 16, top: int = 14, bottom: int = 34) -> None:
        self.width, self.height = width, height
        self.left, self.right, self.top, self.bottom = left, right, top, bottom
        self.x0, self.x1 = x_range if x_range[1] > x_range[0] else (x_range[0] - 0.5, x_range[0] + 0.5)
        self.y0, self.y1 = y_range if y_range[1] > y_range[0] else (y_range[0] - 0.5, y_range[0] + 0.5)

    def x(self, value: float) -> float:
        return self.left + (value - self.x0) / (self.x1 - self.x0) * (self.width - self.left - self.right)

    def y(self, value: float) -> float:
        return self.height - self.bottom - (value - self.y0) / (self.y1 - self.y0) * (self.height - self.top - self.bottom)

    def axes(self, y_ticks: Sequence[float], x_ticks: Sequence[tuple[float, str]], y_label: str) -> list[str]:
        out = []
        for tick in y_ticks:
            y = self.y(tick)
            out.append(f'<line x1="{self.left}" x2="{self.width - self.right}" y1="{y:.1f}" y2="{y:.1f}" '
                       'stroke="#e2e8f0"/>')
            out.append(f'<text x="{self.left - 6}" y="{y + 3.5:.1f}" text-anchor="end" fill="#475569">{_fmt(tick)}</text>')
        base = self.height - self.bottom
        out.append(f'<line x1="{self.left}" x2="{self.width - self.right}" y1="{base}" y2="{base}" stroke="#94a3b8"/>')
        for value, label in x_ticks:
            x = self.x(value)
            out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{base}" y2="{base + 4}" stroke="#94a3b8"/>')
            out.append(f'<text x="{x:.1f}" y="{base + 16}" text-anchor="middle" fill="#475569">{escape(label)}</text>')
        if y_label:
            out.append(f'<text x="12" y="{self.top + (self.height - self.top - self.bottom) / 2:.1f}" fill="#334155" '
                       f'text-anchor="middle" transform="rotate(-90 12 {self.top + (self.height - self.top - self.bottom) / 2:.1f})">'
                       f'{escape(y_label)}</text>')
        return out

    def svg(self, body: Sequence[str], title: str) -> str:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {self.width} {self.height}" width="{self.width}" '
                f'height="{self.height}" role="img" aria-label="{escape(title)}" {FONT}><title>{escape(title)}</title>'
                + "".join(body) + "</svg>")


def _legend(frame: _Frame, entries: Sequence[tuple[str, str, bool]]) -> list[str]:
    out: list[str] = []
    x = frame.left + 4.0
    for label, colour, dashed in entries:
        dash = ' stroke-dasharray="4 3"' if dashed else ""
        out.append(f'<line x1="{x}" x2="{x + 16}" y1="10" y2="10" stroke="{colour}" stroke-width="2.5"{dash}/>')
        out.append(f'<text x="{x + 20}" y="13.5" fill="#334155">{escape(label)}</text>')
        x += 28 + 6.2 * len(label)
    return out


def line_chart(x_labels: Sequence[str], series: Mapping[str, Sequence[float | None]], *, title: str, y_label: str = "",
               thresholds: Mapping[str, float] | None = None, status: Sequence[str] | None = None,
               width: int = 760, height: int = 250, y_min: float | None = None, y_max: float | None = None,
               zero: bool = True) -> str:
    """Lines over windows (x = window index, labelled with ``x_labels``); gaps where a value is None.
    ``thresholds`` are dashed horizontal lines; ``status`` colours a strip of dots under the plot; the y
    axis starts at 0 unless ``zero`` is False (then it fits the values)."""
    values = [v for s in series.values() for v in s if v is not None and math.isfinite(v)]
    values += list((thresholds or {}).values())
    lo = min(values) if values else 0.0
    hi = max(values) if values else 1.0
    if y_min is not None:
        lo = y_min
    elif zero:
        lo = min(lo, 0.0)
    else:
        lo -= (hi - lo) * 0.1 or 0.05
    hi = hi if y_max is None else y_max
    ticks = nice_ticks(lo, hi)
    if ticks:
        lo, hi = min(lo, ticks[0]), max(hi, ticks[-1])
    n = max(len(x_labels), 1)
    frame = _Frame(width, height, (0.0, float(max(n - 1, 1))), (lo, hi), top=30, bottom=40 if status else 34)
    step = max(1, math.ceil(n / 7))
    x_ticks = [(float(i), x_labels[i]) for i in range(0, len(x_labels), step)]
    body = frame.axes(ticks, x_ticks, y_label)
    legend: list[tuple[str, str, bool]] = []
    for i, (name, points) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        legend.append((name, colour, False))
        segments: list[list[str]] = [[]]
        for j, value in enumerate(points):
            if value is None or not math.isfinite(value):
                segments.append([])
                continue
            segments[-1].append(f"{frame.x(j):.1f},{frame.y(value):.1f}")
        for seg in segments:
            if len(seg) > 1:
                body.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(seg)}"/>')
        for j, value in enumerate(points):
            if value is not None and math.isfinite(value):
                body.append(f'<circle cx="{frame.x(j):.1f}" cy="{frame.y(value):.1f}" r="2.6" fill="{colour}">'
                            f'<title>{escape(name)} {escape(x_labels[j] if j < len(x_labels) else "")}: {_fmt(value)}'
                            '</title></circle>')
    for i, (label, value) in enumerate((thresholds or {}).items()):
        y = frame.y(value)
        colour = "#dc2626" if i == 0 else "#9333ea"
        legend.append((label, colour, True))
        body.append(f'<line x1="{frame.left}" x2="{width - frame.right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{colour}" '
                    'stroke-dasharray="4 3" stroke-width="1.5"/>')
    if status:
        y = height - 6
        for j, s in enumerate(status):
            body.append(f'<rect x="{frame.x(j) - 3:.1f}" y="{y - 4}" width="6" height="6" rx="1" '
                        f'fill="{STATUS_COLOURS.get(s, "#cbd5e1")}"><title>{escape(s)}</title></rect>')
    body += _legend(frame, legend)
    return frame.svg(body, title)


def histogram(edges: Sequence[float | None], reference: Sequence[float], current: Sequence[float], *, title: str,
              width: int = 370, height: int = 200) -> str:
    """Reference (grey area) and current (orange line) densities over shared bins ``edges``
    (``len(edges) == len(reference) + 1``); a bin of zero width gets a sliver so it stays visible."""
    clean = [float(e) for e in edges if e is not None and math.isfinite(e)]
    if len(clean) != len(edges) or len(edges) < 2 or len(reference) != len(edges) - 1:
        return bars([], [], [], title=title, width=width, height=height)
    span = (clean[-1] - clean[0]) or 1.0
    widths = [max(b - a, span / 200) for a, b in zip(clean, clean[1:], strict=False)]
    ref_density = [share / w for share, w in zip(reference, widths, strict=True)]
    cur_density = [share / w for share, w in zip(current, widths, strict=True)]
    top = max([*ref_density, *cur_density, 1e-12])
    frame = _Frame(width, height, (clean[0], clean[0] + sum(widths)), (0.0, top * 1.08), left=44, top=30)
    ticks = nice_ticks(clean[0], clean[-1], 4)
    body = frame.axes([], [(t, _fmt(t)) for t in ticks if clean[0] <= t <= clean[0] + sum(widths)], "")
    x = clean[0]
    ref_path, cur_path = [f"M{frame.x(x):.1f},{frame.y(0):.1f}"], [f"M{frame.x(x):.1f},{frame.y(0):.1f}"]
    for w, r, c in zip(widths, ref_density, cur_density, strict=True):
        ref_path += [f"L{frame.x(x):.1f},{frame.y(r):.1f}", f"L{frame.x(x + w):.1f},{frame.y(r):.1f}"]
        cur_path += [f"L{frame.x(x):.1f},{frame.y(c):.1f}", f"L{frame.x(x + w):.1f},{frame.y(c):.1f}"]
        x += w
    ref_path.append(f"L{frame.x(x):.1f},{frame.y(0):.1f}Z")
    cur_path.append(f"L{frame.x(x):.1f},{frame.y(0):.1f}")
    body.append(f'<path d="{"".join(ref_path)}" fill="{REFERENCE}" fill-opacity="0.45" stroke="{REFERENCE}"/>')
    body.append(f'<path d="{"".join(cur_path)}" fill="none" stroke="{CURRENT}" stroke-width="2"/>')
    body += _legend(frame, [("reference", REFERENCE, False), ("current", CURRENT, False)])
    return frame.svg(body, title)


def bars(categories: Sequence[str], reference: Sequence[float], current: Sequence[float], *, title: str,
         width: int = 370, height: int = 200) -> str:
    """Reference and current shares per category, side by side."""
    n = len(categories)
    top = max([*reference, *current, 1e-12])
    ticks = nice_ticks(0.0, top, 4)
    frame = _Frame(width, height, (0.0, float(max(n, 1))), (0.0, max(ticks[-1] if ticks else top, top)), left=44, top=30,
                   bottom=46)
    body = frame.axes(ticks, [], "share")
    slot = (frame.x(1) - frame.x(0)) if n else 0
    bar = slot * 0.38
    base = frame.y(0)
    for i, name in enumerate(categories):
        x = frame.x(i) + slot * 0.1
        for offset, value, colour in ((0.0, reference[i], REFERENCE), (bar, current[i], CURRENT)):
            y = frame.y(value)
            body.append(f'<rect x="{x + offset:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{base - y:.1f}" fill="{colour}">'
                        f'<title>{escape(name)}: {_fmt(value)}</title></rect>')
        label = name if len(name) <= 10 else name[:9] + "…"
        cx = frame.x(i) + slot / 2
        body.append(f'<text x="{cx:.1f}" y="{base + 12}" text-anchor="end" fill="#475569" '
                    f'transform="rotate(-35 {cx:.1f} {base + 12})">{escape(label)}</text>')
    if not n:
        body.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="#64748b">no data</text>')
    body += _legend(frame, [("reference", REFERENCE, False), ("current", CURRENT, False)])
    return frame.svg(body, title)
