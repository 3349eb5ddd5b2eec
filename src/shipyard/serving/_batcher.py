"""Adaptive micro-batching: concurrent requests for one model are scored together.

Requests queue per model. One dispatcher takes every request waiting (up to ``max_batch_size`` rows)
and scores them with one model call; while it scores, the next requests gather, so the batch size
follows the load by itself: one row at a time when requests come one by one (no added latency), tens
of rows when they come together. ``max_wait_ms`` > 0 additionally holds a batch open that long for
more rows — worth it only for models whose per-call cost dwarfs the per-row cost (GPUs).

A model that scores a batch in under ``inline_ms`` (the common case: linear models, small trees) is
called on the event loop itself — a thread hop costs more than such a call; slower models run in a
worker thread so the loop keeps accepting requests. A full queue refuses at once (``Overloaded``,
answered 503 with Retry-After) instead of letting waits grow.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from shipyard.exceptions import Overloaded

Scorer = Callable[[Any], tuple[Any, Any]]  # batch -> (predictions, probabilities or None)
Joiner = Callable[[list[Any]], Any]


def join(parts: list[Any]) -> Any:
    """Requests' inputs as one batch: float matrices are stacked; DataFrames are concatenated."""
    if len(parts) == 1:
        return parts[0]
    if all(isinstance(p, np.ndarray) for p in parts):
        return np.concatenate(parts)
    import pandas as pd

    return pd.concat(parts, ignore_index=True)


class Batcher:
    def __init__(self, score: Scorer, *, max_batch_size: int, max_wait_ms: float = 0.0, max_queue: int = 1024,
                 observe: Callable[[int, float, str], None] | None = None, join: Joiner = join,
                 inline_ms: float = 2.0, expected_cost_ms: float = 0.0) -> None:
        self._score = score
        self._join = join
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self.max_queue = max_queue
        self.inline = inline_ms / 1000
        self._cost = expected_cost_ms / 1000  # moving average of a batch's scoring time (s)
        self._queue: asyncio.Queue[tuple[Any, asyncio.Future[Any], float]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._observe = observe

    @property
    def depth(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    def _start(self) -> asyncio.Queue[tuple[Any, asyncio.Future[Any], float]]:
        if self._queue is None:
            self._queue = asyncio.Queue(self.max_queue)
            self._task = asyncio.get_running_loop().create_task(self._run())
        return self._queue

    async def submit(self, rows: Any) -> tuple[Any, Any]:
        """Score ``rows`` (a validated DataFrame or float matrix) in the next batch; returns
        (predictions, probabilities) for these rows."""
        queue = self._start()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        try:
            queue.put_nowait((rows, future, time.perf_counter()))
        except asyncio.QueueFull:
            raise Overloaded(f"The model's queue is full ({self.max_queue} requests waiting).",
                             hint="Retry after a short wait; the server is at capacity.") from None
        result: tuple[Any, Any] = await future
        return result

    async def _gather(self, queue: asyncio.Queue[Any]) -> tuple[list[Any], int, str]:
        first = await queue.get()
        batch, rows = [first], len(first[0])
        deadline = time.perf_counter() + self.max_wait
        while rows < self.max_batch_size:
            if not queue.empty():
                item = queue.get_nowait()
            else:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    return batch, rows, "drained"
                try:
                    item = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    return batch, rows, "timeout"
            batch.append(item)
            rows += len(item[0])
        return batch, rows, "full"

    async def _run(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            batch, rows, reason = await self._gather(queue)
            waited = time.perf_counter() - batch[0][2]
            try:
                joined = self._join([b[0] for b in batch])
                started = time.perf_counter()
                if self._cost <= self.inline:
                    preds, probas = self._score(joined)
                else:
                    preds, probas = await asyncio.to_thread(self._score, joined)
                self._cost = 0.8 * self._cost + 0.2 * (time.perf_counter() - started)
            except BaseException as exc:  # noqa: BLE001 - handed to every waiting request
                for _rows, future, _t in batch:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            if self._observe is not None:
                self._observe(rows, waited, reason)
            start = 0
            for part, future, _t in batch:
                end = start + len(part)
                if not future.done():
                    future.set_result((preds[start:end], None if probas is None else probas[start:end]))
                start = end
