"""The server's monitor scheduler: due windows are evaluated in the background, by one worker per
machine, and a broken monitor does not stop the others."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import shipyard as sy
from shipyard.config import configure
from shipyard.monitoring import PredictionLog
from shipyard.server._app import create_app
from shipyard.server._scheduler import MonitorScheduler
from shipyard.workspace import current_workspace

HOUR = 3_600_000


def _running(app: Any, body: Callable[[], None]) -> None:
    """Run ``body`` while the app is started (its lifespan entered, as a server does)."""
    async def main() -> None:
        async with app.router.lifespan_context(app):
            await asyncio.to_thread(body)

    asyncio.run(main())


def _serve_past_hours(hours: int) -> int:
    """Log 100 predictions in each of the last ``hours`` complete hours; return the first hour's start."""
    now = int(time.time() * 1000)
    first = (now // HOUR - hours) * HOUR
    rng = np.random.default_rng(0)
    with PredictionLog(current_workspace(), "default", "prod", flush_seconds=60) as log:
        for h in range(hours):
            for i in range(100):
                log.log(f"{h}-{i}", route="m/1", model_version="m/1", inputs=[{"x": float(rng.normal())}],
                        predictions=[0], ts=first + h * HOUR + i)
    return first


def test_the_server_evaluates_due_windows_in_the_background(tmp_path: Path) -> None:
    configure(monitor_interval=0.2)
    first = _serve_past_hours(2)
    sy.monitor("prod", reference=pd.DataFrame({"x": np.random.default_rng(1).normal(size=1000)}), window="1h",
               start=first)
    sy.monitor("prod", name="broken", reference=pd.DataFrame({"x": [1.0, 2.0, 3.0]}), window="1h", start=first)
    store = current_workspace().metadata
    m = store.get_monitor("default", "broken")
    store.update_monitor("default", "broken", window_ms=m.window_ms, reference={"format": "nonsense"}, config=m.config,
                         state=m.state)
    app = create_app(current_workspace())

    def wait() -> None:
        deadline = time.monotonic() + 30
        while len(store.list_monitor_results("default", "prod")) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)

    _running(app, wait)
    scheduler = app.state.monitor_scheduler
    assert isinstance(scheduler, MonitorScheduler)
    results = store.list_monitor_results("default", "prod")
    assert [r.window_start for r in results][:2] == [first, first + HOUR] and all(r.rows == 100 for r in results[:2])
    assert store.list_monitor_results("default", "broken") == []  # failed, logged, and did not stop "prod"
    assert scheduler.passes >= 1


def test_only_one_scheduler_per_machine_and_store_leads() -> None:
    ws = current_workspace()
    one, two = MonitorScheduler(ws, 60), MonitorScheduler(ws, 60)
    try:
        assert one._leader() and not two._leader()
        one.stop()
        assert two._leader()
    finally:
        one.stop()
        two.stop()


def test_the_scheduler_can_be_turned_off() -> None:
    configure(server_monitors=False)
    app = create_app(current_workspace())
    _running(app, lambda: None)
    assert app.state.monitor_scheduler is None
    with pytest.raises(Exception, match="monitor_interval"):
        configure(monitor_interval=-1)
