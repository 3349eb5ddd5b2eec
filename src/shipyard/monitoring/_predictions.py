"""The prediction log: every served prediction (or a sample) as Parquet in the artifact store,
partitioned by deployment and date, with personal fields dropped or hashed before anything is
written, queryable with DuckDB.

Layout under the artifact root::

    <project>/_predictions/<deployment>/date=YYYY-MM-DD/part-<ms>-<uuid>.parquet     predictions
    <project>/_predictions/<deployment>/feedback/date=YYYY-MM-DD/part-….parquet        ground truth
    <project>/_predictions/<deployment>/errors/date=YYYY-MM-DD/part-….parquet          failed requests

One row per scored input row: ``request_id``, ``row`` (its index in the request), ``ts`` (epoch
ms), ``deployment``, ``route``, ``model_version``, ``latency_ms``, the input fields as ``in_<field>``
columns, ``prediction`` and, for classifiers, ``proba`` (one value per class). Appending is a list
append under a lock — the serving hot path never waits for I/O; a background thread adds the
buffered rows to the open part as a row group every ``chunk_rows`` rows (or a fraction of
``flush_seconds``) and uploads the part once it holds ``flush_rows`` rows or is ``flush_seconds``
old. A full buffer drops rows (counted in ``dropped``) rather than block or grow without bound.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shipyard._internal._time import parse_when
from shipyard.exceptions import InvalidParameter

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.workspace import Workspace

PREFIX = "_predictions"
DAY_MS = 86_400_000
REDACTIONS = ("drop", "hash")


def partition(project: str, deployment: str, day: dt.date, feedback: bool = False, errors: bool = False) -> str:
    middle = f"{deployment}/feedback" if feedback else f"{deployment}/errors" if errors else deployment
    return f"{project}/{PREFIX}/{middle}/date={day.isoformat()}"


def _day(ts_ms: int) -> dt.date:
    return dt.datetime.fromtimestamp(ts_ms / 1000, tz=dt.timezone.utc).date()


def _repeated(values: Sequence[str], counts: Any, total: int | None = None) -> Any:
    """A text column of few distinct values (routes, versions) as a dictionary-encoded Arrow array:
    one small integer per row instead of one string object (Parquet stores it as text either way).
    ``counts`` repeats each value that many times; ``total`` repeats a single value."""
    import numpy as np
    import pyarrow as pa

    index: dict[str, int] = {}
    codes = np.fromiter((index.setdefault(v, len(index)) for v in values), dtype=np.int32, count=len(values))
    if total is not None:
        codes = np.zeros(total, dtype=np.int32)
    elif counts is not None:
        codes = np.repeat(codes, counts)
    return pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(list(index), type=pa.string()))


def _write_part(workspace: Workspace, prefix: str, rows: list[dict[str, Any]] | Any) -> str:
    """Write ``rows`` (dicts, or a pyarrow Table) as one Parquet part under ``prefix``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(rows) if isinstance(rows, list) else rows
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd", use_dictionary=_text_columns(table.schema))
    return _upload(workspace, prefix, buffer.getvalue())


def _upload(workspace: Workspace, prefix: str, data: bytes) -> str:
    key = f"{prefix}/part-{int(time.time() * 1000)}-{uuid.uuid4().hex[:12]}.parquet"
    workspace.artifacts.write(key, data)
    return key


def _text_columns(schema: Any) -> list[str]:
    """Dictionary-encode only text that repeats (routes, versions, categories); trying it on measured
    floats or on unique request ids costs several times the rest of the write and never pays off."""
    import pyarrow as pa

    return [f.name for f in schema if f.name != "request_id" and (
        pa.types.is_string(f.type) or pa.types.is_large_string(f.type) or pa.types.is_dictionary(f.type))]


class _OpenPart:
    """A part being written a row group at a time; uploaded when it is full, old, or the log closes."""

    def __init__(self, schema: Any) -> None:
        import pyarrow.parquet as pq

        self.buffer = io.BytesIO()
        self.writer = pq.ParquetWriter(self.buffer, schema, compression="zstd", use_dictionary=_text_columns(schema))
        self.rows = 0
        self.requests: list[tuple[Any, ...]] = []
        self.opened = time.monotonic()


class PredictionLog:
    """The prediction log of one deployment. Thread-safe; call :meth:`close` (or use ``with``) to
    write what is buffered."""

    def __init__(
        self, workspace: Workspace, project: str, deployment: str, *, redact: Mapping[str, str] | None = None,
        sample: float = 1.0, flush_rows: int = 10_000, flush_seconds: float = 5.0, max_buffer: int = 200_000,
        hash_key: str | bytes | None = None, chunk_rows: int = 2_000,
    ) -> None:
        for field, how in (redact or {}).items():
            if how not in REDACTIONS:
                raise InvalidParameter(f"Redaction of {field!r} must be one of {REDACTIONS}, got {how!r}.")
        if not 0.0 <= sample <= 1.0:
            raise InvalidParameter(f"sample is a fraction from 0 to 1, got {sample}.")
        self.workspace, self.project, self.deployment = workspace, project, deployment
        self.redact = dict(redact or {})
        self.sample = sample
        self.flush_rows, self.max_buffer = flush_rows, max_buffer
        self.flush_seconds, self.chunk_rows = flush_seconds, max(1, min(chunk_rows, flush_rows))
        self._open: dict[tuple[dt.date, Any], _OpenPart] = {}  # (day, schema) → the part being written
        self._key = hash_key.encode() if isinstance(hash_key, str) else hash_key
        self._pending: list[tuple[Any, ...]] = []
        self._errors: list[dict[str, Any]] = []  # failed requests, written beside the predictions
        self.errors_written = 0
        self._buffered = 0  # rows in _pending
        self._wake = threading.Event()  # set when the buffer is full: write now, not at the next tick
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self.dropped = 0
        self.written = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(max(0.05, flush_seconds / 5),),
                                        name=f"prediction-log-{deployment}", daemon=True)
        self._thread.start()

    # -- the hot path ------------------------------------------------------------------------------
    def sampled(self, request_id: str) -> bool:
        """Whether ``request_id`` is in the sample (by its hash, so retries decide the same way)."""
        if self.sample >= 1.0:
            return True
        digest = hashlib.blake2b(request_id.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64 < self.sample

    def log(
        self, request_id: str, *, route: str, model_version: str, inputs: Any, predictions: Sequence[Any],
        probabilities: Sequence[Sequence[float]] | None = None, latency_ms: float | None = None,
        ts: int | None = None, columns: Sequence[str] | None = None,
    ) -> None:
        """Append one request. ``inputs``: its rows as records (mappings), a DataFrame, or — with
        ``columns`` — a 2-D array or list of rows. O(1) on the caller's thread: the request is kept as
        given and turned into rows, redacted and written by the background writer."""
        if not self.sampled(request_id):
            return
        ts = ts if ts is not None else int(time.time() * 1000)
        rows = len(inputs)
        with self._lock:
            if self._buffered + rows > self.max_buffer:
                self.dropped += rows
                return
            self._pending.append((request_id, ts, route, model_version, latency_ms, inputs, columns, predictions,
                                  probabilities))
            self._buffered += rows
            full = self._buffered >= self.chunk_rows
        if full:
            self._wake.set()

    def log_error(self, request_id: str, *, route: str | None, status: int, error: str,
                  latency_ms: float | None = None, ts: int | None = None) -> None:
        """Record a request the deployment failed to answer (input refused, the model failed, overload):
        one row in the deployment's error log, for error rates. Never sampled; bounded like the
        predictions (a full buffer counts the row in ``dropped``)."""
        row = {"request_id": request_id, "ts": ts if ts is not None else int(time.time() * 1000), "route": route,
               "status": int(status), "error": error, "latency_ms": latency_ms, "deployment": self.deployment}
        with self._lock:
            if len(self._errors) >= self.max_buffer:
                self.dropped += 1
                return
            self._errors.append(row)

    # -- off the hot path -------------------------------------------------------------------------------
    def _write_errors(self) -> None:
        """Write the buffered error rows, one part per day (they are few); put them back on failure."""
        with self._lock:
            rows, self._errors = self._errors, []
        by_day: dict[int, list[dict[str, Any]]] = {}
        for row in rows:
            by_day.setdefault(row["ts"] // DAY_MS, []).append(row)
        for number, day_rows in by_day.items():
            try:
                _write_part(self.workspace, partition(self.project, self.deployment, _day(number * DAY_MS), errors=True),
                            day_rows)
            except Exception:
                with self._lock:
                    self._errors[:0] = [r for n, rs in by_day.items() if n >= number for r in rs]
                raise
            self.errors_written += len(day_rows)

    def _expand(self, request: tuple[Any, ...]) -> list[dict[str, Any]]:
        """One logged request as its rows."""
        request_id, ts, route, model_version, latency_ms, inputs, columns, predictions, probabilities = request
        predictions = predictions.tolist() if hasattr(predictions, "tolist") else list(predictions)
        if probabilities is not None:
            probabilities = probabilities.tolist() if hasattr(probabilities, "tolist") else [list(p) for p in probabilities]
        if hasattr(inputs, "to_dict"):
            records = inputs.to_dict("records")
        elif columns is not None:
            names = list(columns)
            records = [dict(zip(names, row, strict=True)) for row in (inputs.tolist() if hasattr(inputs, "tolist") else inputs)]
        else:
            records = list(inputs)
        out = []
        for i, row in enumerate(records):
            record = {"request_id": request_id, "row": i, "ts": ts, "route": route, "model_version": model_version,
                      "latency_ms": latency_ms, "prediction": predictions[i], "deployment": self.deployment}
            if probabilities is not None:
                record["proba"] = list(probabilities[i])
            out.append(self._clean(record, row))
        return out

    def _clean(self, out: dict[str, Any], inputs: Mapping[str, Any]) -> dict[str, Any]:
        for field, value in inputs.items():
            how = self.redact.get(field)
            if how == "drop":
                continue
            out[f"in_{field}"] = self._hash(value) if how == "hash" else value
        return out

    def flush(self) -> int:
        """Write everything buffered now (one part per date and shape); returns the rows written. A
        failed write puts its requests back, to be tried again at the next tick."""
        return self._advance(close_all=True)

    def _advance(self, close_all: bool = False) -> int:
        """Move the buffered requests into the open parts as row groups — a few thousand rows at a
        time, so the writer never holds the interpreter (and the one core a server may have) for long —
        and upload the parts that are full (``flush_rows``), old (``flush_seconds``) or, with
        ``close_all``, all of them. Returns the rows uploaded."""
        with self._write_lock:
            if self._errors:
                self._write_errors()
            with self._lock:
                pending, self._pending, self._buffered = self._pending, [], 0
            by_day: dict[int, list[tuple[Any, ...]]] = {}  # UTC day number → its requests
            for request in pending:
                by_day.setdefault(request[1] // DAY_MS, []).append(request)
            for day_number, requests in by_day.items():
                day = _day(day_number * DAY_MS)
                try:
                    chunks = self._parts(requests)
                except Exception:
                    self._requeue(requests)
                    raise
                for table, of in chunks:
                    if isinstance(table, list):
                        import pyarrow as pa

                        table = pa.Table.from_pylist(table)
                    part = self._open.get((day, table.schema))
                    if part is None:
                        part = self._open[(day, table.schema)] = _OpenPart(table.schema)
                    part.writer.write_table(table)
                    part.rows += table.num_rows
                    part.requests.extend(of)
            return self._upload_due(close_all)

    def _upload_due(self, close_all: bool) -> int:
        now, written, failed = time.monotonic(), 0, None
        for key, part in list(self._open.items()):
            if not (close_all or part.rows >= self.flush_rows or now - part.opened >= self.flush_seconds):
                continue
            del self._open[key]
            try:
                part.writer.close()
                _upload(self.workspace, partition(self.project, self.deployment, key[0]), part.buffer.getvalue())
            except Exception as exc:  # noqa: BLE001 - put the rows back; raised once the others are done
                self._requeue(part.requests)
                failed = exc
                continue
            written += part.rows
        self.written += written
        if failed is not None:
            raise failed
        return written

    def _requeue(self, requests: list[tuple[Any, ...]]) -> None:
        with self._lock:
            self._pending[:0] = requests
            self._buffered += sum(len(r[5]) for r in requests)

    def _parts(self, requests: list[tuple[Any, ...]]) -> list[tuple[Any, list[tuple[Any, ...]]]]:
        """The requests as tables to write, each with the requests it holds: requests that came as a
        float matrix (the serving fast path) column by column with NumPy — thousands of rows without
        a Python object each, so the writer holds the interpreter lock for little time; the others row
        by row (a list of dicts)."""
        import numpy as np

        # Grouped by the identity of the column list: the server passes one list object per model, so
        # this costs a dict lookup per request, not a tuple of every column name.
        groups: dict[tuple[int, bool], tuple[Any, list[tuple[Any, ...]]]] = {}
        rows: list[dict[str, Any]] = []
        by_row: list[tuple[Any, ...]] = []
        ndarray = np.ndarray
        for request in requests:
            inputs, columns = request[5], request[6]
            if columns is not None and type(inputs) is ndarray and inputs.ndim == 2:
                key = (id(columns), request[8] is None)
                group = groups.get(key)
                if group is None:
                    group = groups[key] = (columns, [])
                group[1].append(request)
            else:
                rows.extend(self._expand(request))
                by_row.append(request)
        parts = [(self._columnar(list(columns), group), group) for columns, group in groups.values()]
        return [*parts, (rows, by_row)] if rows else parts

    def _columnar(self, columns: list[str], requests: list[tuple[Any, ...]]) -> Any:
        import numpy as np
        import pyarrow as pa

        ids, ts, routes, versions, latency, inputs, _c, preds, probas = zip(*requests, strict=True)
        values = np.concatenate(inputs)
        total = len(values)
        if total == len(requests):  # every request one row (the common case): nothing to repeat
            counts, row = None, np.zeros(total, dtype=np.int64)
        else:
            counts = np.fromiter(map(len, inputs), dtype=np.int64, count=len(inputs))
            row = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)

        def each(column: Any) -> Any:
            return column if counts is None else np.repeat(column, counts)

        data: dict[str, Any] = {
            "request_id": pa.array(ids, type=pa.string()) if counts is None else each(np.array(ids, dtype=object)),
            "row": row,
            "ts": each(np.array(ts, dtype=np.int64)),
            "route": _repeated(routes, counts),
            "model_version": _repeated(versions, counts),
            "latency_ms": pa.array(each(np.array(latency, dtype=np.float64)), from_pandas=True),  # None → NaN → null
            "prediction": np.concatenate(preds),
            "deployment": _repeated((self.deployment,), None, total),
        }
        if probas[0] is not None:
            matrix = np.concatenate(probas).astype(np.float64, copy=False)
            offsets = np.arange(0, matrix.size + 1, matrix.shape[1], dtype=np.int32)
            data["proba"] = pa.ListArray.from_arrays(pa.array(offsets), pa.array(matrix.reshape(-1)))
        for j, name in enumerate(columns):
            how = self.redact.get(name)
            if how == "drop":
                continue
            column = values[:, j]
            data[f"in_{name}"] = column if how != "hash" else [self._hash(v) for v in column.tolist()]
        return pa.table({k: v if isinstance(v, (pa.Array, list)) else pa.array(v) for k, v in data.items()})

    def _hash(self, value: Any) -> str | None:
        if value is None:
            return None
        text = str(value).encode()
        return (hmac.new(self._key, text, hashlib.sha256) if self._key else hashlib.sha256(text)).hexdigest()[:32]

    def _run(self, every: float) -> None:
        while not self._stop.is_set():
            self._wake.wait(every)
            self._wake.clear()
            try:
                self._advance()
            except Exception:  # noqa: BLE001 - a failed write is retried at the next tick; never kill the thread
                import logging

                logging.getLogger(__name__).warning("Prediction log write failed; retrying", exc_info=True)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        self.flush()

    def __enter__(self) -> PredictionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def record_feedback(workspace: Workspace, project: str, deployment: str, labels: Mapping[str, Any],
                    ts: int | None = None) -> int:
    """Attach ground-truth labels to request ids (for delayed-label monitoring); returns how many labels
    were recorded. A label applies to every row of its request; a list labels a batch request row by
    row (``{"req-7": [0, 1, 1]}``: rows 0, 1 and 2; None leaves a row as it was). The latest label of a
    row wins, a row's own label over its request's."""
    if not labels:
        return 0
    ts = ts if ts is not None else int(time.time() * 1000)
    rows: list[dict[str, Any]] = []
    for rid, label in labels.items():
        if isinstance(label, (list, tuple)):
            rows += [{"request_id": str(rid), "row": i, "label": value, "feedback_ts": ts}
                     for i, value in enumerate(label) if value is not None]
        else:
            rows.append({"request_id": str(rid), "row": None, "label": label, "feedback_ts": ts})
    if not rows:
        return 0
    import pyarrow as pa

    table = pa.Table.from_pylist(rows, schema=pa.schema([("request_id", pa.string()), ("row", pa.int64()),
                                                         ("label", pa.Table.from_pylist(rows).schema.field("label").type),
                                                         ("feedback_ts", pa.int64())]))
    _write_part(workspace, partition(project, deployment, _day(ts), feedback=True), table)
    return len(rows)


def _parts(workspace: Workspace, project: str, deployment: str, since: dt.date | None, until: dt.date | None,
           feedback: bool, scratch: str, errors: bool = False) -> list[str]:
    """Local paths of the Parquet parts in the date range (downloaded first from a remote store)."""
    from pathlib import Path

    base = f"{project}/{PREFIX}/{deployment}" + ("/feedback" if feedback else "/errors" if errors else "")
    keys = []
    for key in workspace.artifacts.list(base):
        rest = key[len(base) + 1:]
        if not rest.startswith("date=") or not key.endswith(".parquet"):
            continue
        day = dt.date.fromisoformat(rest[5:15])
        if (since is None or day >= since) and (until is None or day <= until):
            keys.append(key)
    local_root = getattr(workspace.artifacts, "root", None)
    if isinstance(local_root, Path):
        return [str(local_root / k) for k in keys]
    paths = []
    for i, key in enumerate(keys):
        target = Path(scratch) / f"{'f' if feedback else 'e' if errors else 'p'}{i}.parquet"
        with workspace.artifacts.open_reader(key) as src:
            target.write_bytes(src.read())
        paths.append(str(target))
    return paths


def read_predictions(workspace: Workspace, project: str, deployment: str, *, since: Any = None, until: Any = None,
                     with_feedback: bool = True, max_rows: int | None = None) -> pd.DataFrame:
    """The logged predictions of ``deployment`` between ``since`` and ``until`` (datetimes, ISO
    strings or epoch ms), oldest first, with the latest feedback label per request when asked.

    ``max_rows``: when more rows match, a uniform sample of that many (DuckDB's reservoir sample,
    repeatable), so a window larger than memory is read in bounded memory; the frame's
    ``attrs["rows_total"]`` then holds how many matched."""
    import tempfile

    import duckdb
    import pandas as pd

    lo = parse_when(since) if since is not None else None
    hi = parse_when(until) if until is not None else None
    with tempfile.TemporaryDirectory() as scratch:
        parts = _parts(workspace, project, deployment, _day(lo) if lo else None, _day(hi) if hi else None, False, scratch)
        if not parts:
            return pd.DataFrame(columns=["request_id", "row", "ts", "deployment", "route", "model_version", "prediction"])
        con = duckdb.connect()
        try:
            query = "SELECT * FROM read_parquet($parts, union_by_name = true) WHERE ($lo IS NULL OR ts >= $lo) AND ($hi IS NULL OR ts <= $hi)"
            params: dict[str, Any] = {"parts": parts, "lo": lo, "hi": hi}
            total = None
            if max_rows is not None:
                total = int(con.execute(f"SELECT count(*) FROM ({query})", params).fetchone()[0])  # type: ignore[index]
                if total > max_rows:
                    query = f"SELECT * FROM ({query}) USING SAMPLE reservoir({int(max_rows)} ROWS) REPEATABLE (7)"
            fb = _parts(workspace, project, deployment, None, None, True, scratch) if with_feedback else []
            if fb:
                # Labels per row (a batch request's list) win over a label for the whole request; the
                # latest of each wins. Parts written before per-row labels have no "row" column.
                has_row = "row" in {r[0] for r in con.execute(
                    "DESCRIBE SELECT * FROM read_parquet($fb, union_by_name = true)", {"fb": fb}).fetchall()}
                frow = '"row"' if has_row else "CAST(NULL AS BIGINT)"
                query = (
                    f"WITH p AS ({query}), f AS (SELECT request_id, {frow} AS frow, arg_max(label, feedback_ts) AS label, "
                    "max(feedback_ts) AS feedback_ts FROM read_parquet($fb, union_by_name = true) GROUP BY ALL) "
                    "SELECT p.*, coalesce(r.label, a.label) AS label, coalesce(r.feedback_ts, a.feedback_ts) AS feedback_ts "
                    "FROM p LEFT JOIN f r ON r.request_id = p.request_id AND r.frow = p.row "
                    "LEFT JOIN f a ON a.request_id = p.request_id AND a.frow IS NULL"
                )
                params["fb"] = fb
            frame: pd.DataFrame = con.execute(f"{query} ORDER BY ts, request_id, row", params).df()
            if total is not None:
                frame.attrs["rows_total"] = total
        finally:
            con.close()
    return frame


def traffic(workspace: Workspace, project: str, deployment: str, *, since: Any, until: Any = None,
            buckets: int = 60) -> dict[str, Any]:
    """What a deployment served between ``since`` and ``until`` (default: now), from its prediction and
    error logs: per route and model version the requests, rows and latency percentiles (p50, p95, p99,
    in ms); ``latency``: the percentiles over every route; ``errors``: failed requests in all and per
    route (``None``: failed before a route was chosen) and ``error_rate`` (failed / all requests); the
    requests and errors per bucket (``buckets`` equal slices of the window) for a rate chart."""
    import tempfile

    import duckdb

    lo = parse_when(since)
    hi = parse_when(until) if until is not None else int(time.time() * 1000)
    if hi <= lo:
        raise InvalidParameter(f"The window must end after it starts ({since!r} .. {until!r}).")
    width = max((hi - lo) // max(buckets, 1), 1)
    out: dict[str, Any] = {"since": lo, "until": hi, "bucket_ms": width, "routes": [], "requests": 0, "errors": 0,
                           "errors_by_route": {}, "error_rate": None, "latency": {"p50": None, "p95": None, "p99": None},
                           "series": {"t": [lo + i * width for i in range(buckets)], "requests": [0] * buckets,
                                      "errors": [0] * buckets}}
    with tempfile.TemporaryDirectory() as scratch:
        parts = _parts(workspace, project, deployment, _day(lo), _day(hi), False, scratch)
        failed = _parts(workspace, project, deployment, _day(lo), _day(hi), False, scratch, errors=True)
        con = duckdb.connect()
        try:
            if parts:
                _served(con, parts, lo, hi, width, buckets, out)
            if failed:
                params = {"parts": failed, "lo": lo, "hi": hi}
                e = ("WITH e AS (SELECT request_id, ts, route FROM read_parquet($parts, union_by_name = true) "
                     "WHERE ts >= $lo AND ts < $hi) ")
                out["errors_by_route"] = dict(con.execute(e + "SELECT route, count(*) FROM e GROUP BY ALL", params).fetchall())
                out["errors"] = sum(out["errors_by_route"].values())
                for b, n in con.execute(e + "SELECT (ts - $lo) // $w AS b, count(*) FROM e GROUP BY b",
                                        {**params, "w": width}).fetchall():
                    if 0 <= b < buckets:
                        out["series"]["errors"][int(b)] = int(n)
        finally:
            con.close()
    total = out["requests"] + out["errors"]
    out["error_rate"] = out["errors"] / total if total else None
    return out


def _served(con: Any, parts: list[str], lo: int, hi: int, width: int, buckets: int, out: dict[str, Any]) -> None:
    """The answered requests of :func:`traffic`, into ``out``."""
    params = {"parts": parts, "lo": lo, "hi": hi}
    p = ("WITH p AS (SELECT request_id, ts, route, model_version, latency_ms FROM "
         "read_parquet($parts, union_by_name = true) WHERE ts >= $lo AND ts < $hi) ")
    rows = con.execute(
        p + "SELECT route, model_version, count(DISTINCT request_id), count(*), "
        "quantile_cont(latency_ms, [0.5, 0.95, 0.99]) FROM p GROUP BY ALL ORDER BY route, model_version", params
    ).fetchall()
    out["routes"] = [{"route": r, "model_version": v, "requests": int(n), "rows": int(m),
                      "p50": q[0] if q else None, "p95": q[1] if q else None, "p99": q[2] if q else None}
                     for r, v, n, m, q in rows]
    live = "WHERE route NOT LIKE 'shadow:%'"  # a shadow's rows mirror requests already counted
    out["requests"] = sum(r["requests"] for r in out["routes"] if not str(r["route"]).startswith("shadow:"))
    q = con.execute(p + f"SELECT quantile_cont(latency_ms, [0.5, 0.95, 0.99]) FROM p {live}", params).fetchone()
    if q and q[0]:
        out["latency"] = dict(zip(("p50", "p95", "p99"), q[0], strict=True))
    for b, n in con.execute(p + f"SELECT (ts - $lo) // $w AS b, count(DISTINCT request_id) FROM p {live} GROUP BY b",
                            {**params, "w": width}).fetchall():
        if 0 <= b < buckets:
            out["series"]["requests"][int(b)] = int(n)
