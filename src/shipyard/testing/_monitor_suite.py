"""``MonitorStoreSuite``: contracts, monitors, window results, the alert life cycle and the event log,
as every metadata store must keep them."""

from __future__ import annotations

import math
import threading

import pytest

from shipyard.entities import AlertSignal, AlertState, MonitorResult, MonitorState
from shipyard.exceptions import AlreadyExists, InvalidParameter, NotFound
from shipyard.storage.base import MetadataStore

HOUR = 3_600_000
_REF = {"format": "shipyard.profile/1", "rows": 10, "columns": {}}


def _result(start: int, status: str = "ok", **metrics: float | None) -> MonitorResult:
    return MonitorResult("m", start, start + HOUR, rows=100, labelled=20, status=status, computed_at=start + HOUR + 5,
                         metrics=metrics, detail={"drift": {"columns": {"x": {"drifted": status != "ok"}}}})


class MonitorStoreSuite:
    """Mixed into :class:`MetadataStoreSuite`; uses its ``store`` and ``project`` fixtures."""

    def test_contract_versions(self, store: MetadataStore, project: str) -> None:
        one = store.create_contract_version(project, "flights", {"columns": {"dep_delay": {"type": "float"}}})
        two = store.create_contract_version(project, "flights", {"columns": {}}, description="looser")
        assert (one.version, two.version, two.description) == (1, 2, "looser")
        assert store.get_contract(project, "flights") == two
        assert dict(store.get_contract(project, "flights", 1).spec) == {"columns": {"dep_delay": {"type": "float"}}}
        store.create_contract_version(project, "airports", {"columns": {}})
        assert [(c.name, c.version) for c in store.list_contracts(project)] == [("airports", 1), ("flights", 2)]
        with pytest.raises(NotFound, match="no version 7"):
            store.get_contract(project, "flights", 7)
        with pytest.raises(NotFound, match="Did you mean 'flights'"):
            store.get_contract(project, "flight")

    def test_monitor_create_get_update_delete(self, store: MetadataStore, project: str) -> None:
        made = store.create_monitor(project, "m", deployment="prod", window_ms=HOUR, reference=_REF,
                                    config={"checks": ["drift"]}, description="watch prod")
        assert (made.revision, made.state, made.watermark, made.window_ms) == (1, MonitorState.ACTIVE, None, HOUR)
        assert dict(made.reference) == _REF and dict(made.config) == {"checks": ["drift"]}
        assert store.get_monitor(project, "m") == made
        with pytest.raises(AlreadyExists, match="sy.monitor"):
            store.create_monitor(project, "m", deployment="prod", window_ms=HOUR, reference=_REF)
        with pytest.raises(InvalidParameter, match="at least one second"):
            store.create_monitor(project, "tiny", deployment="prod", window_ms=5, reference=_REF)
        changed = store.update_monitor(project, "m", window_ms=2 * HOUR, reference=_REF, config={},
                                       state=MonitorState.PAUSED, expected_revision=1)
        assert (changed.revision, changed.state, changed.window_ms, changed.description) == (2, MonitorState.PAUSED,
                                                                                              2 * HOUR, "watch prod")
        with pytest.raises(AlreadyExists, match="revision 2"):
            store.update_monitor(project, "m", window_ms=HOUR, reference=_REF, config={}, state=MonitorState.ACTIVE,
                                 expected_revision=1)
        store.create_monitor(project, "a", deployment="prod", window_ms=HOUR, reference=_REF)
        assert [m.name for m in store.list_monitors(project)] == ["a", "m"]
        store.record_window(project, "m", _result(0), [AlertSignal("drift", "warning", "x drifted", 0.4)])
        store.delete_monitor(project, "m")
        assert [m.name for m in store.list_monitors(project)] == ["a"]
        assert store.list_alerts(project) == []
        with pytest.raises(NotFound, match="Did you mean 'a'"):
            store.get_monitor(project, "aa")
        with pytest.raises(NotFound):
            store.list_monitor_results(project, "m")

    def test_results_are_a_time_series_and_windows_are_written_once(self, store: MetadataStore, project: str) -> None:
        store.create_monitor(project, "m", deployment="prod", window_ms=HOUR, reference=_REF)
        for i in range(3):
            store.record_window(project, "m", _result(i * HOUR, accuracy=0.9 - i / 10, nan=math.nan))
        results = store.list_monitor_results(project, "m")
        assert [r.window_start for r in results] == [0, HOUR, 2 * HOUR]
        assert results[1].metrics["accuracy"] == pytest.approx(0.8) and math.isnan(results[1].metrics["nan"] or 0.0)
        assert dict(results[0].detail) == {"drift": {"columns": {"x": {"drifted": False}}}}
        assert [r.window_start for r in store.list_monitor_results(project, "m", since=HOUR, until=2 * HOUR)] == [HOUR]
        assert store.get_monitor(project, "m").watermark == 3 * HOUR
        with pytest.raises(AlreadyExists, match="nothing was recorded"):
            store.record_window(project, "m", _result(HOUR), [AlertSignal("drift", "critical", "x")])
        assert store.list_alerts(project) == []  # the refused window raised nothing
        assert len(store.list_monitor_results(project, "m")) == 3
        with pytest.raises(InvalidParameter, match="end after it starts"):
            store.record_window(project, "m", MonitorResult("m", 10, 10, 0, 0, "empty", 0))

    def test_alert_life_cycle_deduplicates_and_resolves(self, store: MetadataStore, project: str) -> None:
        store.create_monitor(project, "m", deployment="prod", window_ms=HOUR, reference=_REF)
        drift = AlertSignal("drift_share", "warning", "3 of 5 columns drifted", 0.6)
        fired = store.record_window(project, "m", _result(0, "alert"), [drift])
        assert [(a.rule, a.change, a.state, a.windows) for a in fired] == [("drift_share", "fired", AlertState.FIRING, 1)]
        again = store.record_window(project, "m", _result(HOUR, "alert"), [drift, drift])  # one per rule, not two
        assert [(a.id, a.change, a.windows) for a in again] == [(fired[0].id, "ongoing", 2)]
        accuracy = AlertSignal("accuracy", "critical", "accuracy 0.61 < 0.7", 0.61)
        both = store.record_window(project, "m", _result(2 * HOUR, "alert"), [drift, accuracy])
        assert sorted((a.rule, a.change) for a in both) == [("accuracy", "fired"), ("drift_share", "ongoing")]
        calm = store.record_window(project, "m", _result(3 * HOUR))
        assert sorted((a.rule, a.change, a.state) for a in calm) == [
            ("accuracy", "resolved", AlertState.RESOLVED), ("drift_share", "resolved", AlertState.RESOLVED)]
        assert all(a.resolved_at is not None for a in calm)
        refired = store.record_window(project, "m", _result(4 * HOUR, "alert"), [drift])
        assert refired[0].change == "fired" and refired[0].id != fired[0].id  # a new alert after resolution
        listed = store.list_alerts(project)
        assert [a.id for a in listed] == sorted((a.id for a in listed), reverse=True) and len(listed) == 3
        assert [a.rule for a in store.list_alerts(project, state=AlertState.FIRING)] == ["drift_share"]
        assert len(store.list_alerts(project, monitor="m", state=AlertState.RESOLVED)) == 2

    def test_events_follow_the_windows_and_alerts(self, store: MetadataStore, project: str) -> None:
        store.create_monitor(project, "m", deployment="prod", window_ms=HOUR, reference=_REF)
        store.record_window(project, "m", _result(0, "alert", share=0.6), [AlertSignal("drift", "warning", "x", 0.6)])
        store.record_window(project, "m", _result(HOUR))
        log = store.list_events(project)
        assert [e.kind for e in log] == ["monitor.window", "alert.fired", "monitor.window", "alert.resolved"]
        assert all(e.subject == "monitor:m" for e in log) and [e.id for e in log] == sorted(e.id for e in log)
        assert log[0].payload["metrics"] == {"share": 0.6} and log[1].payload["rule"] == "drift"
        assert [e.kind for e in store.list_events(project, kinds=["alert.*"])] == ["alert.fired", "alert.resolved"]
        assert [e.kind for e in store.list_events(project, after=log[1].id)] == ["monitor.window", "alert.resolved"]
        assert [e.kind for e in store.list_events(project, kinds=["alert.resolved"], limit=1)] == ["alert.resolved"]
        assert store.list_events("no-such-project") == []

    def test_two_runners_cannot_both_record_a_window(self, store: MetadataStore, project: str) -> None:
        store.create_monitor(project, "m", deployment="prod", window_ms=HOUR, reference=_REF)
        outcomes: list[str] = []

        def runner() -> None:
            try:
                store.record_window(project, "m", _result(0, "alert"), [AlertSignal("drift", "warning", "x")])
                outcomes.append("recorded")
            except AlreadyExists:
                outcomes.append("refused")

        threads = [threading.Thread(target=runner) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["recorded"] + ["refused"] * 3
        assert len(store.list_alerts(project)) == 1 and len(store.list_monitor_results(project, "m")) == 1
