"""The buffered writer: metrics, params and tags are batched into few transactions.

``log_metric`` appends to an in-memory buffer and returns at once. A background thread
(``shipyard-writer``) flushes every ``flush_interval`` seconds and sends heartbeats for active
runs; a buffer of ``flush_max_items`` values is flushed at once by the caller. Everything is
flushed on run end, on ``flush()``, at interpreter exit and on SIGTERM (see ``_fluent``).

A value accepted by ``log_metric`` is never dropped: a flush that fails on a transient error is
retried with backoff, and what still cannot be written stays buffered and the error is raised by
the next ``flush()`` / run end. Values are written exactly once: each batch is one transaction.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shipyard._internal._time import now_ms
from shipyard.entities import Metric, Param, RunTag
from shipyard.exceptions import BackendUnavailable, InvalidParameter, NotFound, ShipyardError

if TYPE_CHECKING:
    from shipyard.storage.base import MetadataStore

log = logging.getLogger("shipyard.tracking")

_RETRIES = 5


@dataclass
class _Pending:
    store: MetadataStore
    metrics: list[Metric] = field(default_factory=list)
    params: list[Param] = field(default_factory=list)
    tags: list[RunTag] = field(default_factory=list)

    def size(self) -> int:
        return len(self.metrics) + len(self.params) + len(self.tags)


class BufferedWriter:
    """Process-wide batching writer. Thread-safe."""

    def __init__(self, flush_interval: float, max_items: int) -> None:
        self.flush_interval = flush_interval
        self.max_items = max_items
        self._lock = threading.RLock()  # guards the buffers (re-entrant: signal handlers)
        self._flush_lock = threading.RLock()  # one flush at a time keeps order
        self._pending: dict[str, _Pending] = {}
        self._count = 0
        self._errors: dict[str, ShipyardError] = {}
        self._heartbeats: dict[str, tuple[MetadataStore, float, float]] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- buffering -------------------------------------------------------------------------
    def add(
        self,
        store: MetadataStore,
        run_id: str,
        metrics: list[Metric] | None = None,
        params: list[Param] | None = None,
        tags: list[RunTag] | None = None,
    ) -> None:
        with self._lock:
            pending = self._pending.get(run_id)
            if pending is None:
                pending = self._pending[run_id] = _Pending(store)
            if metrics:
                pending.metrics.extend(metrics)
                self._count += len(metrics)
            if params:
                pending.params.extend(params)
                self._count += len(params)
            if tags:
                pending.tags.extend(tags)
                self._count += len(tags)
            full = self._count >= self.max_items
        self._ensure_thread()
        if full:
            self.flush()

    def flush(self, run_id: str | None = None, raise_errors: bool = True) -> None:
        """Write what is buffered (for one run, or all) and raise any error a flush met.

        Raises:
            InvalidParameter: a param conflicted with a stored value (the rest was written).
            BackendUnavailable: the store stayed unreachable; the values remain buffered.
        """
        with self._flush_lock:
            with self._lock:
                if run_id is None:
                    batch = self._pending
                    self._pending = {}
                else:
                    batch = {run_id: self._pending.pop(run_id)} if run_id in self._pending else {}
                self._count -= sum(p.size() for p in batch.values())
            for rid, pending in batch.items():
                self._write(rid, pending)
        if raise_errors:
            self.raise_errors(run_id)

    def raise_errors(self, run_id: str | None = None) -> None:
        with self._lock:
            keys = [run_id] if run_id is not None else list(self._errors)
            errors = [self._errors.pop(k) for k in keys if k in self._errors]
        if errors:
            raise errors[0]

    def _write(self, run_id: str, pending: _Pending) -> None:
        delay = 0.05
        for attempt in range(_RETRIES):
            try:
                pending.store.log_batch(run_id, pending.metrics, pending.params, pending.tags)
                return
            except InvalidParameter as exc:
                # A param conflicting with a stored value: write everything else, report the param.
                if pending.params:
                    self._record(run_id, exc)
                    pending.params = []
                    continue
                self._record(run_id, exc)
                return
            except NotFound as exc:
                self._record(run_id, exc)
                return
            except Exception as exc:  # noqa: BLE001 - transient backend errors are retried
                if attempt == _RETRIES - 1:
                    self._requeue(run_id, pending)
                    self._record(
                        run_id,
                        BackendUnavailable(
                            f"Could not write {pending.size()} buffered values of run {run_id} after "
                            f"{_RETRIES} attempts: {exc}. They are kept in memory; call flush() to retry."
                        ),
                    )
                    return
                log.warning("shipyard: flush of run %s failed (%s); retrying", run_id, exc)
                time.sleep(delay)
                delay *= 2

    def _requeue(self, run_id: str, pending: _Pending) -> None:
        with self._lock:
            current = self._pending.get(run_id)
            if current is not None:
                pending.metrics.extend(current.metrics)
                pending.params.extend(current.params)
                pending.tags.extend(current.tags)
            self._pending[run_id] = pending
            self._count = sum(p.size() for p in self._pending.values())

    def _record(self, run_id: str, exc: ShipyardError) -> None:
        with self._lock:
            self._errors.setdefault(run_id, exc)

    # -- heartbeats ------------------------------------------------------------------------
    def watch(self, store: MetadataStore, run_id: str, interval: float) -> None:
        with self._lock:
            self._heartbeats[run_id] = (store, interval, time.monotonic() + interval)
        self._ensure_thread()

    def unwatch(self, run_id: str) -> None:
        with self._lock:
            self._heartbeats.pop(run_id, None)

    def _beat(self) -> None:
        now = time.monotonic()
        with self._lock:
            due = [(rid, s, i) for rid, (s, i, at) in self._heartbeats.items() if at <= now]
            for rid, s, i in due:
                self._heartbeats[rid] = (s, i, now + i)
        for rid, store, _interval in due:
            try:
                store.update_run(rid, heartbeat_at=now_ms())
            except Exception as exc:  # noqa: BLE001 - a missed beat is retried next time
                log.debug("shipyard: heartbeat of run %s failed: %s", rid, exc)

    # -- background thread -----------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="shipyard-writer", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        tick = min(self.flush_interval, 0.25)
        last_flush = time.monotonic()
        while not self._stop.is_set():
            self._wake.wait(tick)
            self._wake.clear()
            if time.monotonic() - last_flush >= self.flush_interval:
                try:
                    self.flush(raise_errors=False)
                except Exception as exc:  # noqa: BLE001 - kept for the next explicit flush
                    log.warning("shipyard: background flush failed: %s", exc)
                last_flush = time.monotonic()
            self._beat()

    def close(self) -> None:
        """Flush everything and stop the thread (at exit)."""
        try:
            self.flush(raise_errors=False)
        finally:
            self._stop.set()
            self._wake.set()


_writer: BufferedWriter | None = None
_writer_lock = threading.Lock()


def get_writer(flush_interval: float, max_items: int) -> BufferedWriter:
    """The process-wide writer, created on first use (and flushed at interpreter exit)."""
    global _writer
    with _writer_lock:
        if _writer is None:
            _writer = BufferedWriter(flush_interval, max_items)
            atexit.register(_writer.close)
        return _writer
