"""The prediction log: appended off the hot path, partitioned by deployment and date, personal
fields dropped or hashed before anything is written, queried with DuckDB, with feedback joined."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import shipyard as sy
from shipyard.exceptions import InvalidParameter
from shipyard.monitoring import PredictionLog
from shipyard.workspace import current_workspace

DAY1 = int(dt.datetime(2026, 11, 29, 23, 59, tzinfo=dt.timezone.utc).timestamp() * 1000)
DAY2 = DAY1 + 2 * 60_000  # just after midnight: the next partition


def test_log_query_redact_and_feedback() -> None:
    ws = current_workspace()
    with PredictionLog(ws, "default", "flights-prod", redact={"email": "hash", "name": "drop"}, hash_key="k",
                       flush_seconds=60) as log:
        log.log("req-1", route="flight-delay@champion", model_version="flight-delay/5",
                inputs=[{"dep_delay": 3.0, "email": "ana@example.com", "name": "Ana"},
                        {"dep_delay": 40.0, "email": "bo@example.com", "name": "Bo"}],
                predictions=[0, 1], probabilities=[[0.9, 0.1], [0.2, 0.8]], latency_ms=1.5, ts=DAY1)
        log.log("req-2", route="flight-delay@challenger", model_version="flight-delay/6",
                inputs=[{"dep_delay": 7.0, "email": "cy@example.com", "name": "Cy"}], predictions=[0], ts=DAY2)
    keys = ws.artifacts.list("default/_predictions/flights-prod")
    assert {k.split("/")[3] for k in keys} == {"date=2026-11-29", "date=2026-11-30"}
    raw = b"".join(Path(str(ws.artifacts.root), k).read_bytes() for k in keys)  # type: ignore[attr-defined]
    assert b"ana@example.com" not in raw and b"Ana" not in raw  # personal data never reaches the log in clear
    sy.monitoring.feedback("flights-prod", {"req-1": 1})
    sy.monitoring.feedback("flights-prod", {"req-1": 0, "req-2": 0})  # the latest label wins
    frame = sy.predictions("flights-prod")
    assert list(frame["request_id"]) == ["req-1", "req-1", "req-2"] and list(frame["row"]) == [0, 1, 0]
    assert list(frame["prediction"]) == [0, 1, 0] and list(frame["label"]) == [0, 0, 0]
    assert list(frame["in_dep_delay"]) == [3.0, 40.0, 7.0] and "in_name" not in frame.columns
    assert frame["in_email"][0] == hmac.new(b"k", b"ana@example.com", hashlib.sha256).hexdigest()[:32]
    assert list(frame["proba"][0]) == [0.9, 0.1] and pd.isna(frame["latency_ms"][2])
    assert list(frame["model_version"]) == ["flight-delay/5", "flight-delay/5", "flight-delay/6"]
    assert list(sy.predictions("flights-prod", since=DAY2)["request_id"]) == ["req-2"]
    assert list(sy.predictions("flights-prod", until="2026-11-29T23:59:30+00:00")["request_id"]) == ["req-1", "req-1"]
    assert "label" not in sy.predictions("flights-prod", with_feedback=False).columns
    assert sy.predictions("nothing-here").empty


def test_sampling_is_by_request_and_the_buffer_is_bounded() -> None:
    ws = current_workspace()
    with PredictionLog(ws, "default", "sampled", sample=0.25, flush_seconds=60) as log:
        for i in range(2000):
            log.log(f"r{i}", route="m/1", model_version="m/1", inputs=[{"x": i}], predictions=[i])
        kept = log.sampled("r7")
        assert kept == log.sampled("r7")  # a retry of the same request decides the same way
    assert 350 < len(sy.predictions("sampled")) < 650
    with PredictionLog(ws, "default", "tiny", max_buffer=3, flush_seconds=60) as log:
        for i in range(5):
            log.log(f"r{i}", route="m/1", model_version="m/1", inputs=[{"x": i}], predictions=[i])
        assert log.dropped == 2  # never blocks, never grows past the bound
    assert len(sy.predictions("tiny")) == 3


def test_bad_settings_are_refused() -> None:
    with pytest.raises(InvalidParameter, match="drop"):
        PredictionLog(current_workspace(), "default", "x", redact={"email": "mask"})
    with pytest.raises(InvalidParameter, match="fraction"):
        PredictionLog(current_workspace(), "default", "x", sample=2.0)


def test_matrix_requests_are_written_column_by_column_like_records(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    ws = current_workspace()
    columns = ["dep_delay", "distance", "zip"]
    with PredictionLog(ws, "default", "fast", redact={"zip": "hash", "distance": "drop"}, flush_seconds=60) as log:
        log.log("m-1", route="a", model_version="m/1", inputs=np.array([[3.0, 100.0, 1234.0], [np.nan, 5.0, 9.0]]),
                columns=columns, predictions=np.array([0, 1]), probabilities=np.array([[0.9, 0.1], [0.3, 0.7]]),
                latency_ms=2.0, ts=DAY1)
        log.log("m-2", route="shadow:b", model_version="m/2", inputs=np.array([[7.0, 1.0, 2.0]]), columns=columns,
                predictions=np.array([1]), probabilities=np.array([[0.4, 0.6]]), ts=DAY1)
        log.log("r-1", route="a", model_version="m/1", inputs=[{"dep_delay": 1.0, "distance": 2.0, "zip": 1234.0}],
                predictions=[0], probabilities=[[0.8, 0.2]], latency_ms=1.0, ts=DAY1)
        writes = []
        original = sy.monitoring._predictions._upload  # type: ignore[attr-defined]

        def failing(*args: object) -> str:
            writes.append(args)
            raise OSError("disk full")

        monkeypatch.setattr("shipyard.monitoring._predictions._upload", failing)
        with pytest.raises(OSError):
            log.flush()
        assert writes and log.written == 0  # nothing lost: the requests wait for the next try
        monkeypatch.setattr("shipyard.monitoring._predictions._upload", original)
        assert log.flush() == 4
    frame = sy.predictions("fast").sort_values(["request_id", "row"]).reset_index(drop=True)
    assert list(frame["request_id"]) == ["m-1", "m-1", "m-2", "r-1"] and list(frame["row"]) == [0, 1, 0, 0]
    assert list(frame["prediction"]) == [0, 1, 1, 0]
    assert [list(p) for p in frame["proba"]] == [[0.9, 0.1], [0.3, 0.7], [0.4, 0.6], [0.8, 0.2]]
    assert frame["in_dep_delay"].tolist()[0] == 3.0 and pd.isna(frame["in_dep_delay"][1])
    assert "in_distance" not in frame.columns  # dropped, on both paths
    assert frame["in_zip"][0] == frame["in_zip"][3] == hashlib.sha256(b"1234.0").hexdigest()[:32]
    assert frame["latency_ms"].tolist()[0] == 2.0 and pd.isna(frame["latency_ms"][2])
    assert set(frame["deployment"]) == {"fast"} and list(frame["route"]) == ["a", "a", "shadow:b", "a"]


def test_batch_requests_take_one_label_per_row_and_later_labels_win(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    ws = current_workspace()
    with PredictionLog(ws, "default", "rows", flush_seconds=60) as log:
        log.log("batch", route="m/1", model_version="m/1", inputs=[{"x": 1}, {"x": 2}, {"x": 3}], predictions=[0, 1, 1],
                ts=1_000)
        log.log("single", route="m/1", model_version="m/1", inputs=[{"x": 4}], predictions=[1], ts=2_000)
        log.log("whole", route="m/1", model_version="m/1", inputs=[{"x": 5}, {"x": 6}], predictions=[1, 1], ts=3_000)
    # An older part without the per-row column (written before per-row labels existed) still joins.
    old = pa.table({"request_id": ["single"], "label": [0], "feedback_ts": [5]})
    buffer = pa.BufferOutputStream()
    pq.write_table(old, buffer)
    ws.artifacts.write("default/_predictions/rows/feedback/date=1970-01-01/part-old.parquet", buffer.getvalue().to_pybytes())
    assert sy.monitoring.feedback("rows", {"batch": [1, 1, 0], "single": 1, "whole": 0}) == 5
    assert sy.monitoring.feedback("rows", {"batch": [None, 0]}) == 1  # a later correction of row 1 only
    frame = sy.predictions("rows").set_index(["request_id", "row"])
    assert frame.loc[("batch", 0), "label"] == 1 and frame.loc[("batch", 1), "label"] == 0
    assert frame.loc[("batch", 2), "label"] == 0 and frame.loc[("single", 0), "label"] == 1
    assert list(frame.loc["whole", "label"]) == [0, 0]  # one label for the whole request applies to each row


def test_parts_grow_a_row_group_at_a_time_and_are_uploaded_when_full_or_old() -> None:
    import numpy as np
    import pyarrow.parquet as pq

    ws = current_workspace()
    columns = ["x", "y"]
    log = PredictionLog(ws, "default", "chunks", chunk_rows=100, flush_rows=1_000, flush_seconds=3600)
    try:
        for i in range(250):
            log.log(f"r{i}", route="m/1", model_version="m/1", inputs=np.array([[float(i), 1.0]]), columns=columns,
                    predictions=np.array([i % 2]), ts=DAY1 + i)
            if i % 100 == 99:
                assert log._advance() == 0  # a row group into the open part; nothing uploaded yet
        assert ws.artifacts.list("default/_predictions/chunks") == [] and log.written == 0
        assert log.flush() == 250
        [key] = ws.artifacts.list("default/_predictions/chunks")
        with ws.artifacts.open_reader(key) as fh:
            meta = pq.ParquetFile(fh).metadata
        assert (meta.num_rows, meta.num_row_groups) == (250, 3)  # three chunks, one part
        log.flush_seconds = 0.0  # an open part older than flush_seconds is uploaded at the next tick
        log.log("late", route="m/1", model_version="m/1", inputs=np.array([[1.0, 2.0]]), columns=columns,
                predictions=np.array([1]), ts=DAY1)
        assert log._advance() == 1 and len(ws.artifacts.list("default/_predictions/chunks")) == 2
    finally:
        log.close()
    assert sorted(sy.predictions("chunks")["in_x"].tolist())[:3] == [0.0, 1.0, 1.0]


def test_failed_requests_go_to_the_error_log_and_count_in_traffic(monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.monitoring import _predictions
    from shipyard.monitoring._predictions import traffic

    t0 = 1_764_547_200_000  # 2025-12-01T00:00Z
    with PredictionLog(current_workspace(), "default", "dep", flush_seconds=60) as log:
        for i in range(6):
            log.log(f"ok{i}", route="m@champion", model_version="m/1", inputs=[{"x": 1.0}], predictions=[1],
                    latency_ms=float(i), ts=t0 + i * 1000)
        log.log("ok0", route="shadow:m/2", model_version="m/2", inputs=[{"x": 1.0}], predictions=[0], ts=t0)
        log.log_error("bad1", route="m@champion", status=422, error="CONTRACT_VIOLATION", latency_ms=0.5, ts=t0 + 10)
        log.log_error("bad2", route=None, status=400, error="INVALID_PARAMETER", ts=t0 + 20)
        real = _predictions._write_part
        calls = {"n": 0}

        def flaky(*args: Any, **kwargs: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == 1:
                raise OSError("disk full")
            return real(*args, **kwargs)

        monkeypatch.setattr(_predictions, "_write_part", flaky)
        with pytest.raises(OSError):
            log.flush()  # the error rows are put back, not lost
        log.flush()
        assert log.errors_written == 2
    keys = current_workspace().artifacts.list("default/_predictions/dep/errors")
    assert len(keys) == 1 and "/errors/date=2025-12-01/" in keys[0]
    assert set(sy.predictions("dep", with_feedback=False)["request_id"]) == {f"ok{i}" for i in range(6)}  # no errors
    seen = traffic(current_workspace(), "default", "dep", since=t0, until=t0 + 60_000, buckets=6)
    assert seen["requests"] == 6 and seen["errors"] == 2 and seen["error_rate"] == pytest.approx(0.25)
    assert seen["errors_by_route"] == {"m@champion": 1, None: 1}
    assert seen["series"]["requests"] == [6, 0, 0, 0, 0, 0] and seen["series"]["errors"] == [2, 0, 0, 0, 0, 0]
    assert seen["latency"]["p50"] == pytest.approx(2.5)  # live routes only
    assert [(r["route"], r["requests"]) for r in seen["routes"]] == [("m@champion", 6), ("shadow:m/2", 1)]
