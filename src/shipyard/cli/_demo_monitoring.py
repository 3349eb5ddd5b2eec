"""The demo's monitoring step: July to December replayed through the deployment, the true arrival
delays fed back, and a weekly monitor against the January–June training data that finds the
seasonal drift and the change in performance; the report is written to disk.

The replay sends each month's flights to the real inference server; its clock is set to the month
being replayed (requests spread evenly over it), so the prediction log's timestamps — and the
monitor's weekly windows — are those of 2013, not of the few seconds the replay takes.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from pathlib import Path
from typing import Any

from shipyard.cli._demo_serving import DEPLOYMENT, serving
from shipyard.cli._output import console, table

MONITOR = "flights-seasonal"
PER_MONTH = 1200
ROWS_PER_REQUEST = 20
REFERENCE_ROWS = 20_000


class ReplayClock:
    """The time the server records for each request: ``count`` requests spread evenly over
    ``[start, end)``, in the order they are logged."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.start, self.step, self.calls = 0, 1, 0

    def replay(self, start: int, end: int, count: int) -> None:
        with self._lock:
            self.start, self.step, self.calls = start, max(1, (end - start) // max(count, 1)), 0

    def __call__(self) -> int:
        with self._lock:
            moment = self.start + self.calls * self.step
            self.calls += 1
        return moment


def _ms(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp() * 1000)


def _send(url: str, records: list[dict[str, Any]]) -> list[str]:
    """POST ``records`` in requests of ``ROWS_PER_REQUEST`` rows; the request ids, in order."""
    import httpx

    sent: list[str] = []
    with httpx.Client(base_url=url, timeout=60, trust_env=False) as http:
        for lo in range(0, len(records), ROWS_PER_REQUEST):
            response = http.post(f"/v1/deployments/{DEPLOYMENT}/predict",
                                 json={"records": records[lo: lo + ROWS_PER_REQUEST]})
            response.raise_for_status()
            sent.append(response.json()["request_id"])
    return sent


def _forget_earlier_replay() -> None:
    """A second demo in the same home replays 2013 again: drop the earlier replay's monitor and its
    2013 prediction-log parts first, so the windows are evaluated afresh and not counted twice."""
    from shipyard.config import get_settings
    from shipyard.exceptions import NotFound
    from shipyard.monitoring._predictions import PREFIX
    from shipyard.workspace import current_workspace

    workspace, project = current_workspace(), get_settings().project
    try:
        workspace.metadata.delete_monitor(project, MONITOR)
    except NotFound:
        return
    for key in workspace.artifacts.list(f"{project}/{PREFIX}/{DEPLOYMENT}"):
        if "/date=2013-" in key:
            workspace.artifacts.delete(key)
    console.print(f"  (replacing the replay of an earlier demo: monitor {MONITOR} and its 2013 predictions)")


def monitor_demo(train: Any, test: Any, features: list[str], *, seed: int = 0) -> Path:
    """Replay July–December through the deployment, feed the labels back, monitor weekly windows,
    print what the monitor found and write its report; returns the HTML report's path."""
    import numpy as np

    from shipyard import monitoring
    from shipyard.config import get_settings
    from shipyard.entities import MonitorState
    from shipyard.registry import load_model
    from shipyard.serving._app import InferenceServer
    from shipyard.workspace import current_workspace

    _forget_earlier_replay()
    champion = load_model("models:/flight-delay@champion")
    reference = train.sample(n=min(REFERENCE_ROWS, len(train)), random_state=seed)[features]
    reference = reference.assign(prediction=np.asarray(champion.predict(reference)))
    monitoring.monitor(
        DEPLOYMENT, name=MONITOR, reference=reference, window="1w", start="2013-07-01T00:00:00+00:00",
        rules=["drift.share >= 0.3 for 2", "prediction_drift.drifted >= 1", "performance.roc_auc < 0.65 for 2",
               "change(performance.accuracy, 4) < -0.05"],
        description="The demo's replay of July-December 2013 against the January-June training data",
    )
    console.print(f"\n[bold]Monitoring[/]: monitor [bold]{MONITOR}[/] on {DEPLOYMENT}: weekly windows against "
                  f"{len(reference):,} January–June training flights (stored as a profile, with the champion's "
                  "predictions on them).")
    clock = ReplayClock()
    store = current_workspace().metadata
    project = get_settings().project
    server = InferenceServer(current_workspace(), project, deployments=[DEPLOYMENT], reload_seconds=0, clock=clock)
    pool = test[[*features, *(["month"] if "month" not in features else []), "delayed"]].dropna(subset=["delayed"])
    labels: dict[str, list[int]] = {}
    with serving(server) as url, console.status("Replaying July–December 2013 through the deployment…"):
        for month in range(7, 13):
            flights = pool[pool["month"] == month]
            flights = flights.sample(n=min(PER_MONTH, len(flights)), random_state=seed + month)
            inputs = flights[features].astype(object)
            records = inputs.where(inputs.notna(), None).to_dict("records")
            truth = [int(v) for v in flights["delayed"]]
            first = dt.date(2013, month, 1)
            end = dt.date(2013 + month // 12, month % 12 + 1, 1)
            clock.replay(_ms(first), _ms(end), -(-len(records) // ROWS_PER_REQUEST))
            for i, request_id in enumerate(_send(url, records)):
                labels[request_id] = truth[i * ROWS_PER_REQUEST: (i + 1) * ROWS_PER_REQUEST]  # one per row
    rows_labelled = monitoring.feedback(DEPLOYMENT, labels)
    alerts_log = logging.getLogger("shipyard.alerts")
    level = alerts_log.level
    alerts_log.setLevel(logging.CRITICAL)  # the demo prints a summary of the alerts instead of each one
    try:
        # Weekly windows are aligned to the epoch (Thursdays): the last one with December flights ends
        # in January, so evaluate as of mid-January.
        outcomes = monitoring.run(MONITOR, now="2014-01-15T00:00:00+00:00")
    finally:
        alerts_log.setLevel(level)
    _summarise(outcomes, rows_labelled)
    reports = Path(get_settings().home).expanduser() / "reports"
    html, json_path = reports / f"{MONITOR}.html", reports / f"{MONITOR}.json"
    monitoring.report(MONITOR, html=html, json=json_path)
    m = store.get_monitor(project, MONITOR)
    store.update_monitor(project, MONITOR, window_ms=m.window_ms, reference=m.reference, config=m.config,
                         state=MonitorState.PAUSED, expected_revision=m.revision)
    console.print(f"  report: [bold]{html}[/] (and {json_path.name}); the monitor is paused now that the replay is "
                  f"over (`shipyard monitor resume {MONITOR}` to watch live traffic).")
    return html


def _summarise(outcomes: list[Any], rows_labelled: int) -> None:
    results = [o.result for o in outcomes]
    served = sum(r.rows for r in results)
    console.print(f"  replayed {served:,} flights in {len(results)} weekly windows (July–December 2013); "
                  f"{rows_labelled:,} true arrival delays fed back")
    rows = []
    for month in range(7, 13):
        inside = [r for r in results if dt.datetime.fromtimestamp(r.window_start / 1000, tz=dt.timezone.utc).month == month]
        if not inside:
            continue

        def mean(key: str, of: list[Any] = inside) -> float | None:
            values = [r.metrics.get(key) for r in of if r.metrics.get(key) is not None]
            return sum(values) / len(values) if values else None

        drifted: dict[str, int] = {}
        for r in inside:
            for col in (r.detail.get("drift") or {}).get("drifted_columns", []):
                drifted[col] = drifted.get(col, 0) + 1
        top = ", ".join(c for c, _ in sorted(drifted.items(), key=lambda kv: -kv[1])[:3])
        rows.append([dt.date(2013, month, 1).strftime("%b"), mean("drift.share"), top, mean("performance.accuracy"),
                     mean("performance.roc_auc"), f"{sum(r.status == 'alert' for r in inside)}/{len(inside)}"])
    console.print(table("What the monitor saw (weekly windows, averaged by month)",
                        ["month", "drift share", "most drifted", "accuracy", "ROC AUC", "alerting"], rows))
    by_rule: dict[str, list[Any]] = {}
    for o in outcomes:
        for alert in o.alerts:
            if alert.change == "fired":
                by_rule.setdefault(alert.rule, []).append(o.result)
    for rule, windows in by_rule.items():
        first = dt.datetime.fromtimestamp(windows[0].window_start / 1000, tz=dt.timezone.utc).strftime("%d %b")
        console.print(f"  [bold red]alert[/] {rule}: fired {len(windows)} time(s), first in the week of {first}")
    if not by_rule:
        console.print("  no alert fired")
