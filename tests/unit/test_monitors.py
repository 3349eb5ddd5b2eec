"""Monitors over the prediction log: windows, drift / quality / performance per window, alert rules
(threshold, N consecutive, rate of change) with de-duplication and resolution, signed webhooks with
retries against a local receiver, events, reports, and a crash mid-write."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import shipyard as sy
from shipyard.entities import AlertState, MonitorState
from shipyard.exceptions import InvalidParameter
from shipyard.monitoring import PredictionLog, Rule, Webhook, verify_signature
from shipyard.monitoring._monitor import due_windows
from shipyard.workspace import current_workspace

HOUR = 3_600_000
T0 = 1_764_460_800_000  # 2025-11-30T00:00Z, a multiple of an hour
SECRET = "s3cret"


def _data(n: int, rng: np.random.Generator, *, shift: float = 0.0, nulls: float = 0.0,
          cats: tuple[str, ...] = ("a", "b", "c")) -> pd.DataFrame:
    x1 = rng.normal(shift, 1.0, n)
    x1[rng.random(n) < nulls] = np.nan
    frame = pd.DataFrame({"x1": x1, "x2": rng.normal(5.0, 2.0, n), "c": rng.choice(list(cats), n)})
    frame["prediction"] = (frame["x2"] > 5.0).astype(int)
    return frame


def _log(frame: pd.DataFrame, start: int, deployment: str = "prod", *, wrong: float = 0.0,
         rng: np.random.Generator | None = None) -> None:
    """Serve ``frame`` one row per request inside the hour from ``start``; label every row (the true
    label is the prediction, flipped for a ``wrong`` share)."""
    rng = rng or np.random.default_rng(0)
    labels = {}
    with PredictionLog(current_workspace(), "default", deployment, flush_seconds=60) as log:
        for i, row in enumerate(frame.to_dict("records")):
            pred = int(row.pop("prediction"))
            rid = f"{start}-{i}"
            log.log(rid, route="m@champion", model_version="m/1", inputs=[row], predictions=[pred],
                    ts=start + i * (HOUR // max(len(frame), 1)))
            labels[rid] = 1 - pred if rng.random() < wrong else pred
    sy.monitoring.feedback(deployment, labels)


class _Receiver(http.server.BaseHTTPRequestHandler):
    script: list[int] = []
    seen: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["content-length"]))
        type(self).seen.append(({k.lower(): v for k, v in self.headers.items()}, body))
        status = type(self).script.pop(0) if type(self).script else 200
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[type[_Receiver]]:
    handler = type("Receiver", (_Receiver,), {"script": [], "seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}/hook"  # type: ignore[attr-defined]
    yield handler
    server.shutdown()
    server.server_close()


# -- rules ---------------------------------------------------------------------------------------------

def test_rules_parse_and_fire_on_threshold_streak_and_change() -> None:
    rule = Rule.parse("drift.share >= 0.3 for 2", severity="critical")
    assert (rule.metric, rule.op, rule.value, rule.for_windows, rule.severity) == ("drift.share", ">=", 0.3, 2, "critical")
    assert rule.evaluate([{"drift.share": 0.1}, {"drift.share": 0.5}]) is None  # one bad window is not a streak
    fired = rule.evaluate([{"drift.share": 0.4}, {"drift.share": 0.5}])
    assert fired is not None and fired.value == 0.5 and "for 2 windows" in fired.message
    assert rule.evaluate([{"drift.share": 0.4}, {}]) is None  # a missing value neither fires nor counts
    change = Rule.parse("change(performance.accuracy) < -0.05")
    assert change.kind == "change" and change.evaluate([{"performance.accuracy": 0.9}, {"performance.accuracy": 0.8}])
    assert change.evaluate([{"performance.accuracy": 0.9}, {"performance.accuracy": 0.88}]) is None
    relative = Rule.parse("change(rows, 2) < -0.5 relative")
    signal = relative.evaluate([{"rows": 100.0}, {"rows": 90.0}, {"rows": 40.0}])
    assert signal is not None and signal.value == pytest.approx(-0.6)
    assert relative.evaluate([{"rows": 100.0}, {"rows": 40.0}]) is None  # not enough history
    assert Rule.coerce({"expression": "rows < 10", "severity": "info"}).severity == "info"
    assert Rule.coerce(rule.to_dict()) == rule
    for bad in ("drift.share", "accuracy ~ 3", "change(x) < y"):
        with pytest.raises(InvalidParameter, match="Cannot read the alert rule"):
            Rule.parse(bad)
    with pytest.raises(InvalidParameter, match="severity"):
        Rule.parse("rows < 1", severity="loud")


# -- webhooks ------------------------------------------------------------------------------------------

def test_webhook_retries_with_one_delivery_id_and_a_valid_signature(receiver: Any) -> None:
    receiver.script = [503, 500, 200]
    waits: list[float] = []
    hook = Webhook(receiver.url, secret=SECRET, retries=3, backoff_s=0.25)
    delivery = hook.send("alert.fired", {"alert": {"rule": "r"}}, sleep=waits.append)
    assert (delivery.ok, delivery.attempts, delivery.status) == (True, 3, 200)
    assert waits == [0.25, 0.5]  # exponential backoff
    ids = {headers["x-shipyard-delivery"] for headers, _ in receiver.seen}
    assert len(ids) == 1 and len(receiver.seen) == 3
    headers, body = receiver.seen[-1]
    assert headers["x-shipyard-event"] == "alert.fired" and json.loads(body)["alert"] == {"rule": "r"}
    assert verify_signature(body, headers["x-shipyard-signature"], SECRET)
    assert not verify_signature(body + b" ", headers["x-shipyard-signature"], SECRET)  # tampered
    assert not verify_signature(body, headers["x-shipyard-signature"], "other")
    assert not verify_signature(body, headers["x-shipyard-signature"], SECRET, now=10**10)  # replayed late
    assert not verify_signature(body, "garbage", SECRET)


def test_webhook_gives_up_on_client_errors_and_unreachable_targets(receiver: Any, caplog: Any) -> None:
    receiver.script = [400]
    delivery = Webhook(receiver.url, retries=3).send("alert.fired", {}, sleep=lambda s: None)
    assert (delivery.ok, delivery.attempts, delivery.status) == (False, 1, 400)  # a 4xx is final
    assert "x-shipyard-signature" not in receiver.seen[0][0]  # no secret, no signature
    dead = Webhook("http://127.0.0.1:9/hook", retries=2, timeout_s=0.5).send("alert.fired", {}, sleep=lambda s: None)
    assert (dead.ok, dead.attempts, dead.status) == (False, 3, None) and dead.error
    assert "not delivered after 3 attempt(s)" in caplog.text
    with pytest.raises(InvalidParameter, match="http:// or https://"):
        Webhook("ftp://x")
    assert "secret" not in Webhook(receiver.url, secret="x", secret_env="HOOK_SECRET").to_dict()


# -- monitors end to end ------------------------------------------------------------------------------

def test_windows_are_epoch_aligned_and_due_after_the_label_delay() -> None:
    reference = _data(500, np.random.default_rng(1))
    m = sy.monitor("prod", reference=reference, window="1h", start=T0 + 10, label_delay="30m")
    assert due_windows(m, T0 + HOUR + 29 * 60_000) == []
    assert due_windows(m, T0 + 2 * HOUR + 30 * 60_000) == [(T0, T0 + HOUR), (T0 + HOUR, T0 + 2 * HOUR)]
    with pytest.raises(InvalidParameter, match="not a duration"):
        sy.monitor("prod", reference=reference, window="hourly")
    with pytest.raises(InvalidParameter, match="Unknown checks"):
        sy.monitor("prod", reference=reference, checks=["vibes"])
    with pytest.raises(InvalidParameter, match="watches 'prod'"):
        sy.monitor("other", name="prod", reference=reference)


def test_monitor_detects_drift_and_performance_raises_dedups_and_resolves_alerts(receiver: Any, tmp_path: Path,
                                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    reference = _data(5000, rng)
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    made = sy.monitor("prod", reference=reference, window="1h", start=T0,
                      rules=["drift.share >= 0.5", "performance.accuracy < 0.8", "quality.unseen > 0.05 for 2"],
                      notify=[{"url": receiver.url, "secret_env": "HOOK_SECRET", "backoff_s": 0.01}])
    assert made.state is MonitorState.ACTIVE and SECRET not in json.dumps(dict(made.config))
    _log(_data(800, rng), T0, rng=rng)                                                   # calm
    _log(_data(800, rng, shift=1.0, nulls=0.3, cats=("a", "b", "z")), T0 + HOUR, wrong=0.4, rng=rng)  # drift
    # T0 + 2h: nothing served (an empty window)
    _log(_data(800, rng, cats=("a", "b", "z")), T0 + 3 * HOUR, rng=rng)                    # recovered, still new category
    _log(_data(800, rng, cats=("a", "b", "z")), T0 + 4 * HOUR, rng=rng)
    outcomes = sy.monitoring.run("prod", now=T0 + 5 * HOUR)
    assert [o.result.status for o in outcomes] == ["ok", "alert", "empty", "ok", "alert"]
    calm, bad, empty, after, _ = (o.result for o in outcomes)
    assert calm.metrics["drift.share"] == 0 and calm.metrics["performance.accuracy"] == 1.0
    assert bad.metrics["drift.x1"] > 0.5 and "x1" in bad.detail["drift"]["drifted_columns"]
    assert bad.metrics["quality.null_rate_increase"] == pytest.approx(0.3, abs=0.06)
    assert bad.metrics["quality.unseen"] == pytest.approx(1 / 3, abs=0.06)
    assert bad.metrics["performance.accuracy"] == pytest.approx(0.6, abs=0.06) and bad.labelled == 800
    assert empty.rows == 0 and after.metrics["drift.x1"] < 0.1
    changes = [sorted((a.rule, a.change) for a in o.alerts) for o in outcomes]
    assert changes[1] == [("drift.share >= 0.5", "fired"), ("performance.accuracy < 0.8", "fired")]
    assert changes[2] == [("drift.share >= 0.5", "ongoing"), ("performance.accuracy < 0.8", "ongoing")]  # empty: kept
    # The empty window ended the unseen-category streak; it fires after two windows in a row with 'z'.
    assert changes[3] == [("drift.share >= 0.5", "resolved"), ("performance.accuracy < 0.8", "resolved")]
    assert changes[4] == [("quality.unseen > 0.05 for 2", "fired")]
    # Notified once per change (ongoing is quiet), signed, to the receiver.
    kinds = [h["x-shipyard-event"] for h, _ in receiver.seen]
    assert sorted(kinds) == ["alert.fired"] * 3 + ["alert.resolved"] * 2
    assert all(verify_signature(body, h["x-shipyard-signature"], SECRET) for h, body in receiver.seen)
    # Stored as a time series; running again records nothing new.
    assert sy.monitoring.run("prod", now=T0 + 5 * HOUR) == []
    series = sy.monitoring.results("prod")
    assert list(series["status"]) == ["ok", "alert", "empty", "ok", "alert"] and "performance.accuracy" in series.columns
    open_alerts = sy.monitoring.alerts(state="FIRING")
    assert [a.rule for a in open_alerts] == ["quality.unseen > 0.05 for 2"] and open_alerts[0].state is AlertState.FIRING
    events = sy.monitoring.events(kinds=["alert.*"])
    assert [e.kind for e in events] == ["alert.fired"] * 2 + ["alert.resolved"] * 2 + ["alert.fired"]
    stop = threading.Event()
    stop.set()
    assert [e.id for e in sy.monitoring.follow(kinds=["alert.*"], stop=stop)] == [e.id for e in events]
    # The report: JSON and standalone HTML with real charts.
    data = sy.monitoring.report("prod", html=tmp_path / "r.html", json=tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text()) == data
    page = (tmp_path / "r.html").read_text()
    assert page.count("<svg") >= 5 and "Share of drifted columns" in page and "<script" not in page
    assert "Performance on labelled feedback" in page and "x1" in page and "FIRING" in page


def test_a_crash_while_recording_a_window_leaves_nothing_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.storage._sql._monitoring import SqlMonitoringMixin

    rng = np.random.default_rng(3)
    sy.monitor("prod", reference=_data(1000, rng), window="1h", start=T0, rules=["rows >= 1"])
    _log(_data(200, rng), T0, rng=rng)

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("power cut")

    monkeypatch.setattr(SqlMonitoringMixin, "_move_alerts", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        sy.monitoring.run("prod", now=T0 + HOUR)
    store = current_workspace().metadata
    assert store.list_monitor_results("default", "prod") == [] and store.get_monitor("default", "prod").watermark is None
    assert store.list_events("default") == [] and store.list_alerts("default") == []
    monkeypatch.undo()
    [outcome] = sy.monitoring.run("prod", now=T0 + HOUR)  # the same window, evaluated again from scratch
    assert outcome.result.rows == 200 and [a.change for a in outcome.alerts] == ["fired"]


def test_large_windows_are_sampled_contracts_checked_and_paused_monitors_skipped() -> None:
    rng = np.random.default_rng(5)
    reference = _data(2000, rng)
    schema = sy.data.infer_schema(reference.drop(columns=["prediction"]))
    sy.data.save_contract(schema, "prod-inputs")
    sy.monitor("prod", reference=reference, window="1h", start=T0, contract="prod-inputs", max_rows=1000,
               checks=["drift", "quality"])
    _log(_data(3000, rng, shift=4.0), T0, rng=rng)  # far outside the reference's range
    [outcome] = sy.monitoring.run("prod", now=T0 + HOUR)
    result = outcome.result
    assert result.rows == 3000 and result.detail["sampled"] is True
    assert result.metrics["quality.out_of_range"] > 0.5 and result.metrics["quality.contract_failures"] >= 1
    assert "performance" not in result.detail and "prediction_drift" not in result.detail
    # One column of three drifted (the default drift rule wants half) but the contract broke (a default rule too).
    assert result.status == "alert" and result.detail["firing"] == ["quality.contract_failures >= 1"]
    assert any("contract check(s) failed" in p for p in result.detail["problems"])
    store = current_workspace().metadata
    m = store.get_monitor("default", "prod")
    store.update_monitor("default", "prod", window_ms=m.window_ms, reference=m.reference, config=m.config,
                         state=MonitorState.PAUSED)
    assert sy.monitoring.run("prod", now=T0 + 5 * HOUR) == []


def test_report_of_a_monitor_without_windows_says_so(tmp_path: Path) -> None:
    sy.monitor("prod", reference=_data(300, np.random.default_rng(2)), window="1d")
    data = sy.monitoring.report("prod", html=tmp_path / "r.html")
    assert data["windows"] == [] and data["latest"] is None
    assert "No window evaluated yet" in (tmp_path / "r.html").read_text()
