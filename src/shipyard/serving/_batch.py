"""Batch scoring: a model over a Parquet or CSV file, streamed in chunks, into a new Parquet or CSV
file (``shipyard predict``). Memory stays at a few chunks whatever the file size; the output appears
under its name only when every row is scored (written to a temporary name, then renamed)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.exceptions import ContractViolation, InvalidParameter, ShipyardError

FORMATS = (".parquet", ".pq", ".csv")


@dataclass(frozen=True, slots=True)
class BatchReport:
    rows: int
    seconds: float
    output: Path
    columns: tuple[str, ...]

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def _format(path: Path, what: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InvalidParameter(f"{what} {path} must be a Parquet (.parquet) or CSV (.csv) file, not {suffix or 'no suffix'}.")
    return "csv" if suffix == ".csv" else "parquet"


def _batches(path: Path, chunk_rows: int) -> tuple[int | None, Iterator[Any]]:
    """(row count if known up front, iterator of Arrow record batches)."""
    if _format(path, "The input") == "parquet":
        import pyarrow.parquet as pq

        reader = pq.ParquetFile(path)
        return reader.metadata.num_rows, reader.iter_batches(batch_size=chunk_rows)
    import pyarrow.csv as pcsv

    stream = pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=1 << 22))
    return None, _rechunk(stream, chunk_rows)


def _rechunk(batches: Any, rows: int) -> Iterator[Any]:
    """Record batches of at most ``rows`` rows (CSV blocks are sized in bytes, not rows)."""
    for batch in batches:
        for start in range(0, batch.num_rows, rows):
            yield batch.slice(start, rows)


def _classes(model: Any, width: int) -> list[str]:
    classes = getattr(model.native, "classes_", None)
    labels = [str(c) for c in classes] if classes is not None and len(classes) == width else [str(i) for i in range(width)]
    return [f"proba_{label}" for label in labels]


def score_file(
    model: Any, input_path: str | Path, output_path: str | Path, *, chunk_rows: int = 65_536,
    proba: bool = True, keep_columns: bool = True, progress: Callable[[int, int | None], None] | None = None,
) -> BatchReport:
    """Score every row of ``input_path`` with ``model`` (a loaded model) into ``output_path``.

    The output holds the input's columns (unless ``keep_columns=False``), ``prediction``, and for a
    classifier with ``proba=True`` one ``proba_<class>`` column per class. ``progress(rows_done,
    total_rows_or_None)`` is called after each chunk.

    Raises:
        InvalidParameter: an unknown file format or a bad ``chunk_rows``.
        ContractViolation: a chunk does not match the model's signature (naming its rows); no output
            is left behind.
    """
    import pyarrow as pa

    if chunk_rows < 1:
        raise InvalidParameter(f"chunk_rows must be at least 1, got {chunk_rows}.")
    source, target = Path(input_path), Path(output_path)
    if not source.is_file():
        raise InvalidParameter(f"No input file {source}.")
    out_format = _format(target, "The output")
    total, batches = _batches(source, chunk_rows)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    writer: Any = None
    done = 0
    columns: tuple[str, ...] = ()
    started = time.perf_counter()
    try:
        for batch in batches:
            frame = batch.to_pandas()
            try:
                probabilities = model.predict_proba(frame) if proba and model.has_proba else None
                labels = _argmax_labels(model, probabilities)
                if labels is not None and probabilities is not None:
                    predictions = labels[probabilities.argmax(axis=1)]
                else:
                    predictions = model.predict(frame)
            except ShipyardError as exc:
                raise ContractViolation(f"Rows {done}–{done + len(frame) - 1} of {source}: {exc}") from None
            out = frame if keep_columns else frame.iloc[:, :0]
            out = out.assign(prediction=_column(predictions))
            if probabilities is not None:
                names = _classes(model, probabilities.shape[1])
                out = out.assign(**{name: probabilities[:, i] for i, name in enumerate(names)})
            table = pa.Table.from_pandas(out, preserve_index=False)
            if writer is None:
                writer = _writer(tmp, out_format, table.schema)
                columns = tuple(table.schema.names)
            writer.write_table(table)
            done += len(frame)
            if progress is not None:
                progress(done, total)
        if writer is None:  # an empty input still gets its output columns
            raise InvalidParameter(f"{source} has no rows to score.")
        writer.close()
        writer = None
        os.replace(tmp, target)
    finally:
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.close()
        tmp.unlink(missing_ok=True)
    return BatchReport(done, time.perf_counter() - started, target, columns)


def _argmax_labels(model: Any, probabilities: Any) -> Any:
    """The class labels when the prediction is the most probable class (so the model runs once per
    chunk, not twice), else None. SVMs are excluded: their probabilities come from a separate fit
    and can disagree with ``predict``."""
    if probabilities is None:
        return None
    native = model.native
    final = getattr(native, "_final_estimator", native)
    classes = getattr(native, "classes_", None)
    if classes is None or len(classes) != probabilities.shape[1] or hasattr(final, "probability"):
        return None
    return classes


def _column(values: Any) -> Any:
    """Predictions as one column (a single-output 2-D array is flattened)."""
    shape = getattr(values, "shape", None)
    if shape is not None and len(shape) == 2 and shape[1] == 1:
        return values.reshape(-1)
    return values


def _writer(path: Path, out_format: str, schema: Any) -> Any:
    if out_format == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        # Dictionary encoding pays off for text and categories, never for measured floats, where
        # trying it costs ten times the write itself.
        keep = [f.name for f in schema if not pa.types.is_floating(f.type)]
        return pq.ParquetWriter(path, schema, use_dictionary=keep)
    import pyarrow.csv as pcsv

    return pcsv.CSVWriter(path, schema)
