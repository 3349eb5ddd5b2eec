"""Time helpers: Shipyard stores timestamps as integer milliseconds since the epoch (UTC)."""

from __future__ import annotations

import datetime as _dt
import time


def now_ms() -> int:
    """Current wall-clock time in integer milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def ms_to_datetime(ms: int | None) -> _dt.datetime | None:
    """Milliseconds since the epoch to an aware UTC datetime (``None`` passes through)."""
    if ms is None:
        return None
    return _dt.datetime.fromtimestamp(ms / 1000.0, tz=_dt.timezone.utc)


def to_ms(value: _dt.datetime | float | int) -> int:
    """A datetime (naive means UTC) or epoch seconds/milliseconds to epoch milliseconds."""
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return int(value.timestamp() * 1000)
    return int(value)


def parse_when(when: _dt.datetime | float | int | str) -> int:
    """Epoch milliseconds from epoch ms, a datetime (naive means UTC) or an ISO-8601 string."""
    if isinstance(when, str):
        try:
            when = _dt.datetime.fromisoformat(when)
        except ValueError:
            from shipyard.exceptions import InvalidParameter

            raise InvalidParameter(f"{when!r} is not a time: give ISO-8601 (2026-11-30T12:00:00Z) or epoch ms.") from None
    return to_ms(when)


_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def parse_duration(value: str | int | float | _dt.timedelta, what: str = "duration") -> int:
    """Milliseconds from ``"1d"``, ``"6h"``, ``"30m"``, ``"15s"``, ``"500ms"``, ``"1w"``, a timedelta or a
    number of milliseconds."""
    from shipyard.exceptions import InvalidParameter

    if isinstance(value, _dt.timedelta):
        return int(value.total_seconds() * 1000)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        text = value.strip().lower()
        unit = next((u for u in ("ms", "s", "m", "h", "d", "w") if text.endswith(u)), None)
        number = text[: -len(unit)] if unit else ""
        try:
            if unit and float(number) > 0:
                return int(float(number) * _UNITS_MS[unit])
        except ValueError:
            pass
    raise InvalidParameter(f"The {what} {value!r} is not a duration: write it as '1d', '6h', '30m', '15s', '500ms' "
                           "or '1w' (or give milliseconds).")
