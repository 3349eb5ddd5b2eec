"""Adaptive micro-batching: concurrent requests for one model are scored together.

Requests queue per model; one dispatcher takes the first waiting request, then keeps taking more
until the batch holds ``max_batch_size`` rows or ``max_wait_ms`` has passed since it started, and
scores them with one model call in a worker thread while the next batch gathers. A full queue
refuses at once (``Overloaded``, answered 503 with Retry-After) instead of letting waits grow.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from shipyard.exceptions import Overloaded

Scorer = Callable[[Any], tuple[Any, Any]]  # frame -> (predictions, probabilities or None)


class Batcher:
    def __init__(self, score: Scorer, *, max_batch_size: int, max_wait_ms: float, max_queue: int = 1024,
                 observe: Callable[[int, float, str], None] | None = None) -> None:
        self._score = score
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self.max_queue = max_queue
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

    async def submit(self, frame: Any) -> tuple[Any, Any]:
        """Score ``frame`` (a DataFrame) in the next batch; returns (predictions, probabilities)."""
        queue = self._start()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        try:
            queue.put_nowait((frame, future, time.perf_counter()))
        except asyncio.QueueFull:
            raise Overloaded(f"The model's queue is full ({self.max_queue} requests waiting).",
                             hint="Retry after a short wait; the server is at capacity.") from None
        result: tuple[Any, Any] = await future
        return result

    async def _run(self) -> None:
        import pandas as pd

        assert self._queue is not None
        queue = self._queue
        while True:
            first = await queue.get()
            batch = [first]
            rows = len(first[0])
            deadline = time.perf_counter() + self.max_wait
            reason = "full"
            while rows < self.max_batch_size:
                remaining = deadline - time.perf_counter()
                try:
                    item = queue.get_nowait() if remaining <= 0 else await asyncio.wait_for(queue.get(), remaining)
                except (asyncio.QueueEmpty, TimeoutError):
                    reason = "timeout"
                    break
                batch.append(item)
                rows += len(item[0])
            waited = time.perf_counter() - first[2]
            frames = [b[0] for b in batch]
            try:
                joined = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
                preds, probas = await asyncio.to_thread(self._score, joined)
            except BaseException as exc:  # noqa: BLE001 - handed to every waiting request
                for _frame, future, _t in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            if self._observe is not None:
                self._observe(rows, waited, reason)
            start = 0
            for frame, future, _t in batch:
                end = start + len(frame)
                if not future.done():
                    future.set_result((preds[start:end], None if probas is None else probas[start:end]))
                start = end
