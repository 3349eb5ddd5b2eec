"""Validation of what users log, once, at the public boundary (stores trust their inputs)."""

from __future__ import annotations

import math
import numbers
import re
from typing import Any

from shipyard.exceptions import InvalidParameter

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_NAME_LENGTH = 256
_KEY_RE = re.compile(r"^[A-Za-z0-9_\-. /:]+$")


def key(value: Any, what: str) -> str:
    """A metric / param / tag key: a non-empty string of letters, digits, ``_ - . / :`` and spaces."""
    if not isinstance(value, str):
        raise InvalidParameter(f"{what} key must be a string, got {type(value).__name__} {value!r}.")
    if not value or len(value) > MAX_KEY_LENGTH:
        raise InvalidParameter(
            f"{what} key {value[:60]!r} must be 1 to {MAX_KEY_LENGTH} characters long (it has {len(value)})."
        )
    if not _KEY_RE.match(value) or value.startswith("/") or ".." in value.split("/"):
        raise InvalidParameter(
            f"Invalid {what.lower()} key {value!r}: use letters, digits, '_', '-', '.', '/', ':' and spaces "
            "(no leading '/', no '..')."
        )
    return value


def param_value(k: str, value: Any) -> str:
    """Params are stored as strings (``str(value)``), at most 6000 characters."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_PARAM_VALUE_LENGTH:
        raise InvalidParameter(
            f"Param {k!r} has a value of {len(text)} characters; the limit is {MAX_PARAM_VALUE_LENGTH}. "
            "Log long values as an artifact instead (run.log_text / run.log_dict)."
        )
    return text


def tag_value(k: str, value: Any) -> str:
    """Tags are strings. ``int``, ``float`` and ``bool`` values are converted with ``str()``; other
    types are refused so that a dict or None never becomes a surprising string."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, (bool, numbers.Real)):
        text = str(value)
    else:
        raise InvalidParameter(
            f"Tag {k!r} must be a string (or a number / bool, converted with str()), got "
            f"{type(value).__name__} {value!r}. Convert it yourself, e.g. json.dumps(value)."
        )
    if len(text) > MAX_TAG_VALUE_LENGTH:
        raise InvalidParameter(f"Tag {k!r} has {len(text)} characters; the limit is {MAX_TAG_VALUE_LENGTH}.")
    return text


def metric_value(k: str, value: Any) -> float:
    """A real number. NaN and ±inf are accepted and stored as such (a diverged loss is worth seeing)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        try:
            import numpy as np  # numpy scalars of size 1

            if isinstance(value, np.ndarray) and value.size == 1:
                value = value.item()
        except ImportError:  # pragma: no cover - numpy is a dependency
            pass
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidParameter(
            f"Metric {k!r} must be a real number, got {type(value).__name__} {value!r}. "
            "Log text as a tag or an artifact instead."
        )
    result = float(value)
    if math.isnan(result) or math.isinf(result):
        return result
    return result


def step(k: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidParameter(f"Step of metric {k!r} must be an integer, got {value!r}.")
    v = int(value)
    if not -(2**63) <= v < 2**63:
        raise InvalidParameter(f"Step of metric {k!r} is out of the 64-bit range: {v}.")
    return v


def name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME_LENGTH:
        raise InvalidParameter(f"{what} name must be a non-empty string of at most {MAX_NAME_LENGTH} characters, got {value!r}.")
    return value
