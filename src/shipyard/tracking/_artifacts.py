"""Run artifacts: upload (atomic, hashed, recorded) and verified download."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from shipyard._internal._hashing import CHUNK
from shipyard._internal._uri import safe_relpath
from shipyard.entities import ArtifactRecord
from shipyard.exceptions import IntegrityError, InvalidParameter, NotFound

if TYPE_CHECKING:
    from shipyard.artifacts.base import ArtifactStore
    from shipyard.workspace import Workspace

def store_for(workspace: Workspace, root_uri: str) -> ArtifactStore:
    """An artifact store rooted at a run's (or a model version's) artifact URI."""
    return workspace.artifacts_for(root_uri)


def upload_stream(
    workspace: Workspace, run_id: str, root_uri: str, path: str, source: BinaryIO | bytes
) -> ArtifactRecord:
    store = store_for(workspace, root_uri)
    size, sha = store.write(path, source)
    return workspace.metadata.record_artifact(run_id, path, size, sha)


def upload_path(
    workspace: Workspace, run_id: str, root_uri: str, local: Path, artifact_path: str | None
) -> list[ArtifactRecord]:
    if not local.exists():
        raise InvalidParameter(f"Cannot log artifact {str(local)!r}: no such file or directory.")
    base = safe_relpath(artifact_path) if artifact_path else ""
    records = []
    if local.is_dir():
        for dirpath, _dirs, files in os.walk(local):
            for name in sorted(files):
                full = Path(dirpath) / name
                rel = full.relative_to(local.parent).as_posix()
                target = f"{base}/{rel}" if base else rel
                with open(full, "rb") as fh:
                    records.append(upload_stream(workspace, run_id, root_uri, safe_relpath(target), fh))
        return records
    target = f"{base}/{local.name}" if base else local.name
    with open(local, "rb") as fh:
        records.append(upload_stream(workspace, run_id, root_uri, safe_relpath(target), fh))
    return records


def _verified_copy(store: ArtifactStore, record: ArtifactRecord, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex}.part"
    digest = hashlib.sha256()
    try:
        try:
            reader = store.open_reader(record.path)
        except NotFound:
            raise IntegrityError(
                f"Artifact {record.path!r} of run {record.run_id} is missing from {store.uri_for(record.path)} "
                f"(expected sha256 {record.sha256}, {record.size} bytes). It was deleted or the store moved."
            ) from None
        with reader, open(tmp, "wb") as out:
            while True:
                block = reader.read(CHUNK)
                if not block:
                    break
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != record.sha256:
            raise IntegrityError(
                f"Artifact {record.path!r} of run {record.run_id} is corrupted: expected sha256 {record.sha256}, "
                f"got {digest.hexdigest()}. The stored file was changed after it was logged; re-log it."
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def download(workspace: Workspace, run_id: str, path: str | None, dest: str | os.PathLike[str]) -> Path:
    """Download a file or folder of a run's artifacts to ``dest``, verifying every sha256.

    Raises:
        NotFound: no artifact at ``path``.
        IntegrityError: a file is missing or does not match its recorded sha256.
    """
    run = workspace.metadata.get_run(run_id)
    prefix = safe_relpath(path) if path else None
    records = workspace.metadata.list_artifacts(run_id, prefix)
    if not records:
        raise NotFound(
            f"Run {run_id} has no artifact {path or ''!r}. List them with `shipyard artifacts ls {run_id}`."
        )
    store = store_for(workspace, run.artifact_uri)
    dest_root = Path(dest)
    if prefix is not None and len(records) == 1 and records[0].path == prefix:
        target = dest_root / Path(prefix).name
        _verified_copy(store, records[0], target)
        return target
    for record in records:
        _verified_copy(store, record, dest_root / record.path)
    return dest_root / prefix if prefix else dest_root


def read_bytes(workspace: Workspace, run_id: str, path: str) -> bytes:
    """The verified content of one artifact file."""
    run = workspace.metadata.get_run(run_id)
    rel = safe_relpath(path)
    matches = [r for r in workspace.metadata.list_artifacts(run_id, rel) if r.path == rel]
    if not matches:
        raise NotFound(f"Run {run_id} has no artifact file {rel!r}.")
    record = matches[0]
    store = store_for(workspace, run.artifact_uri)
    try:
        with store.open_reader(rel) as fh:
            data = fh.read()
    except NotFound:
        raise IntegrityError(
            f"Artifact {rel!r} of run {run_id} is missing (expected sha256 {record.sha256})."
        ) from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != record.sha256:
        raise IntegrityError(
            f"Artifact {rel!r} of run {run_id} is corrupted: expected sha256 {record.sha256}, got {actual}."
        )
    return data
