"""The optional response cache of a deployment: answers keyed by a hash of the validated input,
bounded in entries, each living ``ttl`` seconds. A deployment's cache starts empty whenever what it
serves changes (a new revision, an alias moved), so it never answers for a model no longer serving."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from typing import Any


def input_key(rows: Any) -> bytes:
    """A digest of validated input rows: a float matrix by its bytes and shape, a DataFrame by its
    columns and pandas' per-row hashes."""
    digest = hashlib.blake2b(digest_size=16)
    if hasattr(rows, "tobytes"):
        digest.update(repr(rows.shape).encode())
        digest.update(rows.tobytes())
    else:
        import pandas as pd

        digest.update(repr(list(rows.columns)).encode())
        digest.update(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes())
    return digest.digest()


class ResponseCache:
    def __init__(self, size: int, ttl: float) -> None:
        self.size, self.ttl = size, ttl
        self._entries: OrderedDict[bytes, tuple[float, Any]] = OrderedDict()

    def get(self, key: bytes) -> Any | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: bytes, value: Any) -> None:
        self._entries[key] = (time.monotonic() + self.ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
