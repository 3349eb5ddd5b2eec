"""What every online backend does to a batch before it writes: check the rows, keep the newest per key."""

from __future__ import annotations

from collections.abc import Sequence

from shipyard.exceptions import InvalidParameter
from shipyard.online.base import OnlineRow

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def check_view(view: str) -> str:
    """``view`` itself, if it is a non-empty string.

    Raises:
        InvalidParameter: anything else.
    """
    if not isinstance(view, str) or not view:
        raise InvalidParameter(
            f"Invalid online view name {view!r}: expected a non-empty string such as 'default/driver_stats'."
        )
    return view


def _bad_row(index: int, row: object, problem: str) -> InvalidParameter:
    return InvalidParameter(
        f"Row {index} of the online write batch {problem} (got {row!r:.200}). Expected "
        "OnlineRow(key: str, event_ts: int, created_ts: int, values: bytes) with both timestamps in the "
        "int64 range; nothing of this batch was written. Fix the row and write the batch again."
    )


def newest_per_key(rows: Sequence[OnlineRow]) -> list[OnlineRow]:
    """The rows to write: one per key, the greatest ``(event_ts, created_ts)``, ties to the later row.

    Every row is checked before anything is written, so a bad row fails the whole batch. The result
    keeps the order in which each key first appears in ``rows``.

    Raises:
        InvalidParameter: a row that is not an :class:`OnlineRow`, or whose fields have the wrong type
            or a timestamp outside the int64 range.
    """
    newest: dict[str, OnlineRow] = {}
    for index, row in enumerate(rows):
        if not isinstance(row, OnlineRow):
            raise _bad_row(index, row, "is not an OnlineRow")
        key, event_ts, created_ts = row.key, row.event_ts, row.created_ts
        if not isinstance(key, str):
            raise _bad_row(index, row, "has a key that is not a str")
        if type(event_ts) is not int or type(created_ts) is not int:  # bool is not a timestamp
            raise _bad_row(index, row, "has a timestamp that is not an int")
        if not (INT64_MIN <= event_ts <= INT64_MAX and INT64_MIN <= created_ts <= INT64_MAX):
            raise _bad_row(index, row, "has a timestamp outside the int64 range")
        if not isinstance(row.values, bytes):
            raise _bad_row(index, row, "has values that are not bytes")
        previous = newest.get(key)
        if previous is None or (event_ts, created_ts) >= (previous.event_ts, previous.created_ts):
            newest[key] = row
    return list(newest.values())
