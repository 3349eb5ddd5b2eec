"""Traffic splitting: which live route answers a request. Weighted at random, or, with a sticky key,
by a hash of the key, so one key always reaches the same route while the weights stay the same."""

from __future__ import annotations

import bisect
import hashlib
import random
from collections.abc import Sequence

from shipyard.entities import Route


class Router:
    """Chooses among the routes with positive weight, in proportion to their weights."""

    __slots__ = ("_bounds", "_models", "_rng", "_total")

    def __init__(self, routes: Sequence[Route], seed: int | None = None) -> None:
        live = [r for r in routes if r.weight > 0]
        if not live:
            raise ValueError("A router needs at least one route with a positive weight.")
        self._models = [r.model for r in live]
        self._bounds: list[int] = []
        total = 0
        for route in live:
            total += route.weight
            self._bounds.append(total)
        self._total = total
        self._rng = random.Random(seed)

    def choose(self, key: str | None = None) -> str:
        """The route for one request: by ``key``'s hash when given (sticky), else at random."""
        if key is None:
            point = self._rng.random() * self._total
        else:
            digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
            point = int.from_bytes(digest, "big") / 2**64 * self._total
        return self._models[bisect.bisect_right(self._bounds, point)]
