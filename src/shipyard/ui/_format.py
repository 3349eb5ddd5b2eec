"""Jinja filters: times, durations, numbers and sizes as people read them."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any


def when(ms: int | float | None) -> str:
    """Epoch milliseconds as ``2026-12-01 12:30:05`` (UTC)."""
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def duration(ms: int | float | None) -> str:
    if ms is None:
        return ""
    s = ms / 1000
    if s < 1:
        return f"{ms:.0f} ms"
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60)} s"
    if s < 2 * 86400:
        return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"
    return f"{int(s // 86400)} d {int(s % 86400 // 3600)} h"


def num(value: Any) -> str:
    """A metric value: up to 6 significant digits; NaN and infinities spelled out."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return str(value)
    if isinstance(value, int) or float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}" if abs(value) >= 10_000 else str(int(value))
    return f"{value:.6g}"


def size(n: int | None) -> str:
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def short(text: Any, n: int = 12) -> str:
    s = str(text)
    return s if len(s) <= n else s[:n] + "…"


FILTERS = {"when": when, "duration": duration, "num": num, "size": size, "short": short}
