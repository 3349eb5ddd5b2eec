"""The event interface: what other parts of Shipyard (and users) subscribe to.

Events are rows of the metadata store's event log, appended in the same transaction as the change
they describe (an alert cannot fire without its event, nor the event outlive a rolled-back window).
Ids only grow, so a subscriber keeps the last id it handled and resumes after it — across restarts,
processes and machines, against an embedded store or a server alike::

    for event in sy.monitoring.follow(kinds=["alert.*"]):      # blocks, polling the store
        if event.kind == "alert.fired" and event.payload["severity"] == "critical":
            retrain(event.payload["monitor"])

Kinds so far: ``monitor.window`` (a window was recorded: status, rows, metrics), ``alert.fired`` and
``alert.resolved`` (the alert's id, rule, severity, message, value). Later producers (automation:
retraining, promotion) append their own kinds to the same log.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

from shipyard.entities import Event

PAGE = 500


def follow(store: Any, project: str, *, after: int = 0, kinds: Sequence[str] = (), poll_s: float = 1.0,
           stop: threading.Event | None = None) -> Iterator[Event]:
    """Every event after ``after``, as it arrives: yields what is there, then polls every ``poll_s``
    seconds until ``stop`` is set (forever without one)."""
    stop = stop or threading.Event()
    cursor = after
    while True:
        page = store.list_events(project, after=cursor, kinds=list(kinds), limit=PAGE)
        for event in page:
            cursor = event.id
            yield event
        if len(page) == PAGE:
            continue
        if stop.wait(poll_s):
            return
