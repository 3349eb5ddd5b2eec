"""The server's monitor scheduler: a background thread that evaluates every active monitor's due
windows every ``monitor_interval`` seconds (``sy.monitoring.run_due``).

With several worker processes on one machine only one schedules: the one holding an exclusive lock
on a file named after the store. Servers on several machines may all schedule: a window is recorded
once (the store refuses a second result for it), so the only cost is duplicated reading.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import threading
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("shipyard.server.monitors")


class MonitorScheduler:
    def __init__(self, workspace: Any, interval: float) -> None:
        self.workspace, self.interval = workspace, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock_file: IO[str] | None = None
        self.passes = 0

    def _leader(self) -> bool:
        """Whether this process holds the machine-wide lock for this store (taken once, kept until exit)."""
        if self._lock_file is not None:
            return True
        import fcntl

        key = hashlib.sha256(self.workspace.settings.resolved_store_uri.encode()).hexdigest()[:16]
        handle = (Path(tempfile.gettempdir()) / f"shipyard-monitors-{key}.lock").open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._lock_file = handle
        return True

    def run_once(self) -> dict[str, int]:
        from shipyard.monitoring import run_due

        done = run_due(self.workspace)
        self.passes += 1
        recorded = {k: v for k, v in done.items() if v}
        if recorded:
            log.info("Monitors evaluated: %s", ", ".join(f"{k} ({v} window(s))" for k, v in recorded.items()))
        return done

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self._leader():
                try:
                    self.run_once()
                except Exception:  # noqa: BLE001 - the scheduler outlives a failing pass
                    log.exception("A monitor pass failed; the next one runs in %s s.", self.interval)
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="shipyard-monitors", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
