"""``ActiveRun``: the handle a user logs through while a run is running."""

from __future__ import annotations

import json
import os
import tempfile
import traceback
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from shipyard._internal._time import now_ms
from shipyard._internal._uri import safe_relpath
from shipyard.entities import ArtifactRecord, Dataset, Metric, ModelInfo, Param, Run, RunStatus, RunTag
from shipyard.exceptions import InvalidParameter
from shipyard.models import save_model
from shipyard.tracking import _validation as v
from shipyard.tracking._artifacts import upload_path, upload_stream

if TYPE_CHECKING:
    from shipyard.tracking._client import TrackingClient
    from shipyard.tracking._writer import BufferedWriter


class ActiveRun:
    """A running run. Use as a context manager (``with sy.start_run() as run:``) or call :meth:`end`.

    Metric, param and tag calls are buffered and written in batches (see :mod:`._writer`);
    :meth:`flush` forces them out. Ending the run flushes, then records the final status.
    """

    def __init__(self, client: TrackingClient, run: Run, writer: BufferedWriter) -> None:
        self._client = client
        self._writer = writer
        self._store = client.workspace.metadata
        self.id = run.id
        self.name = run.name
        self.experiment_id = run.experiment_id
        self.project = run.project
        self.artifact_uri = run.artifact_uri
        self.parent_run_id = run.parent_run_id
        self._params: dict[str, str] = {}
        self._steps: dict[str, int] = {}
        self._ended = False
        self._callbacks: list[Callable[[ActiveRun], None]] = []
        self._models: set[str] = set()
        self._keys: set[str] = set()  # metric keys already validated (the per-call hot path)

    def __repr__(self) -> str:
        return f"<ActiveRun {self.name!r} id={self.id} experiment={self.experiment_id}>"

    # -- params, metrics, tags -------------------------------------------------------------
    def log_param(self, key: str, value: Any) -> None:
        """Record a hyperparameter (stored as ``str(value)``; write-once per run)."""
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record several params. Re-logging a key with the same value is a no-op; with a
        different value it raises ``InvalidParameter`` and records nothing of this call."""
        batch = []
        staged: dict[str, str] = {}
        for key, value in params.items():
            k = v.key(key, "Param")
            text = v.param_value(k, value)
            known = self._params.get(k, staged.get(k))
            if known is not None and known != text:
                raise InvalidParameter(
                    f"Param {k!r} of run {self.name!r} is already {known!r}; cannot change it to {text!r}. "
                    "Params are write-once: log the new value under another key or start a new run."
                )
            if known is None:
                staged[k] = text
                batch.append(Param(k, text))
        self._check_open()
        self._params.update(staged)
        if batch:
            self._writer.add(self._store, self.id, params=batch)

    def log_metric(self, key: str, value: Any, step: int | None = None, timestamp: int | None = None) -> None:
        """Record one metric value. ``step`` defaults to the next step for this key (0, 1, 2, ...)."""
        self._log_metrics(((key, value),), step, timestamp)

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None, timestamp: int | None = None) -> None:
        """Record several metric values at one step. NaN and ±inf are stored as such."""
        self._log_metrics(metrics.items(), step, timestamp)

    def _log_metrics(self, items: Iterable[tuple[Any, Any]], step: int | None, timestamp: int | None) -> None:
        ts = now_ms() if timestamp is None else int(timestamp)
        batch = []
        for key, value in items:
            k = self._metric_key(key)
            number = value if type(value) is float else v.metric_value(k, value)
            if step is None:
                s = self._steps.get(k, 0)
            else:
                s = step if type(step) is int and -(2**63) <= step < 2**63 else v.step(k, step)
            batch.append(Metric(k, number, s, ts))
        self._check_open()
        for m in batch:
            self._steps[m.key] = m.step + 1
        self._writer.add(self._store, self.id, metrics=batch)

    def _metric_key(self, key: Any) -> str:
        if type(key) is str and key in self._keys:
            return key
        k = v.key(key, "Metric")
        self._keys.add(k)
        return k

    def set_tag(self, key: str, value: Any) -> None:
        """Set a tag (last write wins). Strings; numbers and bools are converted with ``str()``."""
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        batch = [RunTag(v.key(k, "Tag"), v.tag_value(k, val)) for k, val in tags.items()]
        self._check_open()
        self._writer.add(self._store, self.id, tags=batch)

    def log_batch(
        self,
        metrics: Iterable[Metric | tuple[str, float, int]] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        """Write many values now, in one transaction (bypassing the buffer, after flushing it).

        ``metrics`` holds :class:`~shipyard.entities.Metric` objects or ``(key, value, step)`` tuples.
        """
        ts = now_ms()
        ms = []
        for item in metrics:
            if isinstance(item, Metric):
                key, value, step, stamp = item.key, item.value, item.step, item.timestamp
            else:
                key, value, step = item
                stamp = ts
            k = self._metric_key(key)
            number = value if type(value) is float else v.metric_value(k, value)
            s = step if type(step) is int and -(2**63) <= step < 2**63 else v.step(k, step)
            ms.append(Metric(k, number, s, stamp))
        ps = []
        for key, value in (params or {}).items():
            k = v.key(key, "Param")
            text = v.param_value(k, value)
            if self._params.get(k, text) != text:
                raise InvalidParameter(f"Param {k!r} is already {self._params[k]!r}; cannot change it to {text!r}.")
            ps.append(Param(k, text))
        ts_tags = [RunTag(v.key(k, "Tag"), v.tag_value(k, val)) for k, val in (tags or {}).items()]
        self._check_open()
        self.flush()
        self._store.log_batch(self.id, ms, ps, ts_tags)
        self._params.update({p.key: p.value for p in ps})
        for m in ms:
            self._steps[m.key] = max(self._steps.get(m.key, 0), m.step + 1)

    def flush(self) -> None:
        """Write everything buffered for this run now."""
        self._writer.flush(self.id)

    # -- artifacts and datasets ------------------------------------------------------------
    def log_artifact(self, local_path: str | os.PathLike[str], artifact_path: str | None = None) -> list[ArtifactRecord]:
        """Upload a file or a whole directory (atomically, with sha256) under ``artifact_path``."""
        self._check_open()
        return upload_path(self._client.workspace, self.id, self.artifact_uri, Path(local_path), artifact_path)

    def log_artifacts(self, local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> list[ArtifactRecord]:
        """Upload the contents of a directory (not the directory itself) under ``artifact_path``."""
        self._check_open()
        root = Path(local_dir)
        if not root.is_dir():
            raise InvalidParameter(f"log_artifacts needs a directory; {str(root)!r} is not one.")
        records: list[ArtifactRecord] = []
        for child in sorted(root.iterdir()):
            records += upload_path(self._client.workspace, self.id, self.artifact_uri, child, artifact_path)
        return records

    def log_text(self, text: str, artifact_file: str) -> ArtifactRecord:
        """Store ``text`` (UTF-8) as an artifact file."""
        self._check_open()
        return upload_stream(self._client.workspace, self.id, self.artifact_uri, safe_relpath(artifact_file), text.encode())

    def log_dict(self, data: Mapping[str, Any], artifact_file: str) -> ArtifactRecord:
        """Store a dict as a JSON artifact file."""
        return self.log_text(json.dumps(data, indent=2, sort_keys=True, default=str), artifact_file)

    def log_dataset(
        self, data: Any, name: str, role: str = "training", source: str | None = None, direction: str = "input"
    ) -> Dataset:
        """Record a table this run used (or produced, ``direction="output"``): content hash, schema,
        row count and per-column statistics. The same table logged twice is one dataset record."""
        self._check_open()
        return self._client.log_dataset(self.id, data, name=name, role=role, source=source, direction=direction)

    def log_model(
        self,
        model: Any,
        name: str = "model",
        *,
        input_example: Any | None = None,
        signature: dict[str, Any] | None = None,
        flavor: str | None = None,
        requirements: list[str] | None = None,
        artifacts: dict[str, str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> ModelInfo:
        """Package ``model`` (flavor detected, signature inferred from ``input_example``, every file
        hashed) and store it under the run's artifacts at ``name``. Register it with
        ``sy.register_model(info.uri, "model-name")``."""
        self._check_open()
        path = safe_relpath(name, "model name")
        with tempfile.TemporaryDirectory(prefix="shipyard-model-") as tmp:
            package = Path(tmp) / "package"
            manifest, digest = save_model(
                model, package, input_example=input_example, signature=signature, flavor=flavor,
                requirements=requirements, artifacts=artifacts, metadata_=metadata,
            )
            for child in sorted(package.iterdir()):
                upload_path(self._client.workspace, self.id, self.artifact_uri, child, path)
        self.set_tag("shipyard.models", ",".join(sorted({*self._models, path})))
        self._models.add(path)
        return ModelInfo(
            uri=f"runs:/{self.id}/{path}", run_id=self.id, artifact_path=path, flavor=manifest["flavor"],
            manifest_sha256=digest, signature=manifest.get("signature"), files=manifest["files"],
        )

    # -- life cycle ------------------------------------------------------------------------
    def info(self) -> Run:
        """The run as stored now (flushes first)."""
        self.flush()
        return self._store.get_run(self.id)

    def end(self, status: RunStatus | str = RunStatus.FINISHED, failure: str | None = None) -> None:
        """Flush, then record the final status and end time. Idempotent."""
        if self._ended:
            return
        self._ended = True
        status = RunStatus(status)
        self._writer.unwatch(self.id)
        error: Exception | None = None
        try:
            self._writer.flush(self.id)
        except Exception as exc:  # noqa: BLE001 - still record the end, then re-raise
            error = exc
        self._store.update_run(self.id, status=status, end_time=now_ms(), failure=failure)
        self._client._forget(self)
        for callback in self._callbacks:
            callback(self)
        if error is not None:
            raise error

    @property
    def ended(self) -> bool:
        return self._ended

    def _check_open(self) -> None:
        if self._ended:
            raise InvalidParameter(f"Run {self.name!r} ({self.id}) has ended; start a new run to log more.")

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.end(RunStatus.FINISHED)
        elif isinstance(exc, KeyboardInterrupt) or (isinstance(exc, SystemExit) and exc.code not in (0, None)):
            self.end(RunStatus.KILLED, failure=f"{type(exc).__name__}: {exc}")
        elif isinstance(exc, SystemExit):
            self.end(RunStatus.FINISHED)
        else:
            text = "".join(traceback.format_exception(exc_type, exc, tb))
            self.end(RunStatus.FAILED, failure=text)
