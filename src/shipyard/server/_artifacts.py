"""The artifact proxy: ``/api/v1/artifacts/<path>`` (upload in one request, download, list, delete)
and multipart uploads under ``/api/v1/artifacts-uploads``.

Request bodies stream from the socket straight into the artifact store's atomic write, in a worker
thread of their own pool (:class:`_Body`); downloads stream out of the store. No body is held whole
in memory, and none is copied to a spool file first. Where the client states the body's sha256
(``x-shipyard-sha256``: always for a part, and for single uploads from current clients) the end of
the body is reported to the store only when the bytes match, so on a mismatch the store's write
aborts and nothing becomes visible.

Multipart uploads (the client sends files larger than one part this way)::

    POST   /api/v1/artifacts-uploads                 {"path"}                -> {"upload_id", "path"}
    PUT    /api/v1/artifacts-uploads/<id>/<n>        body, x-shipyard-sha256 -> {"part", "size", "sha256"}
    POST   /api/v1/artifacts-uploads/<id>/complete   {"parts": [{"part", "size", "sha256"}, ...],
                                                      "size", "sha256"}      -> {"path", "size", "sha256"}
    DELETE /api/v1/artifacts-uploads/<id>                                    -> {"deleted"}

Sessions and parts are objects of the artifact store itself, under the reserved top-level folder
``.shipyard-uploads/<id>/`` (hidden from listings, refused by every artifact route), so any worker
process or server host can take any request of an upload, and parts live on disk or in the bucket,
never in memory. ``complete`` streams the parts in order through one sha256 into the store's atomic
write of the real path (for S3, an s3fs multipart upload); the write is committed only when every
part has its declared size and the whole file the declared size and sha256. Sessions older than a
day are removed when new ones start.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any, BinaryIO

import anyio
import anyio.from_thread
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from shipyard._internal._hashing import CHUNK
from shipyard._internal._uri import safe_relpath
from shipyard.access import Principal
from shipyard.entities import Role
from shipyard.exceptions import IntegrityError, InvalidParameter, NotFound, QuotaExceeded
from shipyard.server._app import NanJSONResponse, audit, principal_of
from shipyard.server._limits import ARTIFACT_BYTES, charged_write, release_deleted
from shipyard.storage import _rest_protocol as proto

if TYPE_CHECKING:
    from shipyard.artifacts.base import ArtifactStore
    from shipyard.workspace import Workspace

UPLOADS_PREFIX = f"{proto.ARTIFACTS_PREFIX}-uploads"
STAGING = ".shipyard-uploads"
SHA_HEADER = "x-shipyard-sha256"
MAX_PARTS = 10_000
STALE_AFTER_S = 24 * 3600.0
PURGE_EVERY_S = 600.0
#: Worker threads that stream request bodies into the store (apart from the pool the store API uses,
#: so slow uploads cannot starve it).
TRANSFER_THREADS = 64
log = logging.getLogger("shipyard.server")

_UPLOAD_ID = re.compile(r"^[0-9]{10}-[0-9a-f]{32}$")
_SHA = re.compile(r"^[0-9a-f]{64}$")


def _artifact_project(path: str) -> str:
    return path.strip("/").split("/", 1)[0]


def _check_artifact(request: Request, path: str, role: Role) -> tuple[Principal, str]:
    principal = principal_of(request)
    project = _artifact_project(path)
    if project == STAGING or (not principal.can(project, Role.VIEWER) and not principal.is_admin):
        raise NotFound(f"No artifact at {path}.")
    principal.require(project, role)
    return principal, project


def _expected_sha(request: Request, required: bool) -> str | None:
    value = request.headers.get(SHA_HEADER)
    if value is None and not required:
        return None
    if value is None or not _SHA.match(value.strip().lower()):
        raise InvalidParameter(
            f"Header {SHA_HEADER} must be the sha256 of the body as 64 lowercase hex digits, got {value!r}."
        )
    return value.strip().lower()


class _Body:
    """The request body as a blocking ``read`` for a worker thread: each read waits for the next
    chunks from the event loop (at most ``n`` bytes; ``n < 0`` reads one chunk, never the whole body).
    With ``sha256``, the end of the body is reported only when the bytes match it; otherwise the
    read raises ``IntegrityError`` and the store's atomic write aborts."""

    def __init__(self, request: Request, sha256: str | None, what: str) -> None:
        self._chunks = request.stream()
        self._expected = sha256
        self._what = what
        self._digest = hashlib.sha256()
        self._left = b""
        self._ended = False
        self.size = 0

    async def _pull(self, want: int) -> bytes:
        got: list[bytes] = []
        total = 0
        while total < want:
            try:
                chunk = await self._chunks.__anext__()
            except StopAsyncIteration:
                self._ended = True
                break
            got.append(chunk)
            total += len(chunk)
        return b"".join(got)

    def read(self, n: int = -1) -> bytes:
        want = n if n > 0 else CHUNK
        if not self._left and not self._ended:
            self._left = anyio.from_thread.run(self._pull, want)
        block, self._left = self._left[:want], self._left[want:]
        if block:
            self._digest.update(block)
            self.size += len(block)
            return block
        if self._expected is not None and self._digest.hexdigest() != self._expected:
            raise IntegrityError(
                f"{self._what} arrived as {self.size} bytes with sha256 {self._digest.hexdigest()}, but the client "
                f"declared sha256 {self._expected}: the bytes changed after the client hashed them (in transit, or the "
                f"file was modified while it was read). Nothing was stored.",
                hint="Send it again.",
            )
        return b""


def _artifact_routes(app: FastAPI, workspace: Workspace) -> None:
    store = workspace.artifacts
    transfers = anyio.CapacityLimiter(TRANSFER_THREADS)

    @app.put(f"{proto.ARTIFACTS_PREFIX}/{{path:path}}", tags=["artifacts"], summary="upload an artifact (streamed)")
    async def upload(path: str, request: Request) -> Response:
        principal, project = await run_in_threadpool(_check_artifact, request, path, Role.EDITOR)
        body = _Body(request, _expected_sha(request, required=False), f"The upload of {path}")
        declared = request.headers.get("content-length", "")
        if declared.isdigit():  # the usual case: charged to the quota before a byte is read
            size, sha = await anyio.to_thread.run_sync(
                charged_write, workspace, project, path, body, int(declared), limiter=transfers)
        else:  # a chunked body: charged once its size is known, and removed again if over the quota
            size, sha = await anyio.to_thread.run_sync(store.write, path, body, limiter=transfers)  # type: ignore[arg-type]
            await run_in_threadpool(_charge_after, workspace, project, path, size)
        await run_in_threadpool(audit, request, principal, "upload_artifact", project, path, 200)
        return NanJSONResponse({"path": path, "size": size, "sha256": sha})

    @app.get(f"{proto.ARTIFACTS_PREFIX}/{{path:path}}", tags=["artifacts"], summary="download an artifact (streamed)")
    def download(path: str, request: Request) -> Response:
        _check_artifact(request, path, Role.VIEWER)
        reader = store.open_reader(path)

        def chunks() -> Any:
            with reader:
                while True:
                    block = reader.read(CHUNK)
                    if not block:
                        break
                    yield block

        return StreamingResponse(chunks(), media_type="application/octet-stream")

    @app.get(f"{proto.ARTIFACTS_PREFIX}-list", tags=["artifacts"], summary="list artifacts under a prefix")
    def list_artifacts(request: Request, prefix: str = "") -> Response:
        _check_artifact(request, prefix, Role.VIEWER)
        paths = [p for p in store.list(prefix) if _artifact_project(p) != STAGING]
        return NanJSONResponse({"paths": paths})

    @app.delete(f"{proto.ARTIFACTS_PREFIX}-list", tags=["artifacts"], summary="delete artifacts under a prefix")
    def delete_artifacts(request: Request, prefix: str) -> Response:
        if not prefix.strip("/"):
            raise InvalidParameter("Refusing to delete the whole artifact root: give a prefix.")
        principal, project = _check_artifact(request, prefix, Role.EDITOR)
        deleted = release_deleted(workspace, project, prefix)
        audit(request, principal, "delete_artifacts", project, prefix, 200)
        return NanJSONResponse({"deleted": deleted})

    _upload_routes(app, workspace, transfers)


def _charge_after(workspace: Workspace, project: str, path: str, size: int) -> None:
    try:
        workspace.metadata.charge_quota(project, ARTIFACT_BYTES, size)  # type: ignore[attr-defined]
    except QuotaExceeded:
        workspace.artifacts.delete(path)
        raise


# -- multipart uploads ---------------------------------------------------------------------------------


class CreateUpload(BaseModel):
    path: str = Field(description="Where the artifact goes, relative to the artifact root (first segment: the project).")


class PartInfo(BaseModel):
    part: int = Field(ge=1, le=MAX_PARTS)
    size: int = Field(ge=0)
    sha256: str = Field(pattern=_SHA.pattern)


class CompleteUpload(BaseModel):
    parts: list[PartInfo] = Field(description="Every part, in order, numbered 1, 2, 3, ...")
    size: int = Field(ge=0, description="Size of the whole file.")
    sha256: str = Field(pattern=_SHA.pattern, description="sha256 of the whole file.")


def _folder(upload_id: str) -> str:
    return f"{STAGING}/{upload_id}"


def _part_key(upload_id: str, part: int) -> str:
    return f"{STAGING}/{upload_id}/part-{part:05d}"


def _session(store: ArtifactStore, request: Request, upload_id: str) -> tuple[Principal, dict[str, Any]]:
    """The upload's session record, after checking that the caller may write its path."""
    missing = NotFound(
        f"No upload {upload_id!r}: it was completed or aborted, or it expired (uploads are removed "
        f"{STALE_AFTER_S / 3600:.0f} h after they start).",
        hint="Start the upload again.",
    )
    if not _UPLOAD_ID.match(upload_id):
        raise missing
    try:
        with store.open_reader(f"{_folder(upload_id)}/session.json") as fh:
            session: dict[str, Any] = json.loads(fh.read())
    except NotFound:
        raise missing from None
    principal, _project = _check_artifact(request, session["path"], Role.EDITOR)
    if session["user"] != principal.user and not principal.is_admin:
        raise missing
    return principal, session


def purge_stale_uploads(store: ArtifactStore, older_than_s: float = STALE_AFTER_S, now: float | None = None) -> int:
    """Delete multipart sessions (and their parts) started more than ``older_than_s`` ago; return how many."""
    cutoff = (time.time() if now is None else now) - older_than_s
    ids = {p.split("/")[1] for p in store.list(STAGING) if p.count("/") >= 2}
    stale = sorted(i for i in ids if _UPLOAD_ID.match(i) and int(i.split("-", 1)[0]) < cutoff)
    for upload_id in stale:
        store.delete(_folder(upload_id))
    return len(stale)


class _Assembly:
    """The parts of an upload read back in order as one stream, checking each part's size and the
    whole file's size and sha256 before reporting the end (so a mismatch aborts the store's write)."""

    def __init__(self, store: ArtifactStore, upload_id: str, request: CompleteUpload, path: str) -> None:
        self._store = store
        self._upload_id = upload_id
        self._request = request
        self._path = path
        self._index = 0
        self._reader: BinaryIO | None = None
        self._part_size = 0
        self._size = 0
        self._digest = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        parts = self._request.parts
        while self._index < len(parts):
            part = parts[self._index]
            if self._reader is None:
                self._reader = self._store.open_reader(_part_key(self._upload_id, part.part))
                self._part_size = 0
            block = self._reader.read(n if n > 0 else CHUNK)
            if block:
                self._part_size += len(block)
                self._size += len(block)
                self._digest.update(block)
                return block
            self.close()
            if self._part_size != part.size:
                raise IntegrityError(
                    f"Part {part.part} of the upload of {self._path} holds {self._part_size} bytes, but the client "
                    f"declared {part.size}. Nothing was stored.", hint="Upload the file again.",
                )
            self._index += 1
        if self._size != self._request.size or self._digest.hexdigest() != self._request.sha256:
            raise IntegrityError(
                f"The parts of the upload of {self._path} add up to {self._size} bytes with sha256 "
                f"{self._digest.hexdigest()}, but the client declared {self._request.size} bytes with sha256 "
                f"{self._request.sha256}. Nothing was stored.", hint="Upload the file again.",
            )
        return b""

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None


def _upload_routes(app: FastAPI, workspace: Workspace, transfers: anyio.CapacityLimiter) -> None:
    store = workspace.artifacts
    purge_lock = threading.Lock()
    last_purge: float | None = None

    def purge_now_and_then() -> None:
        nonlocal last_purge
        with purge_lock:
            now = time.monotonic()
            if last_purge is not None and now - last_purge < PURGE_EVERY_S:
                return
            last_purge = now
        try:
            purge_stale_uploads(store)
        except Exception:  # noqa: BLE001 - housekeeping must not fail an upload (another worker may race it)
            log.warning("Could not remove stale multipart uploads from %s", store.root_uri, exc_info=True)

    @app.post(UPLOADS_PREFIX, tags=["artifacts"], summary="start a multipart upload")
    def create_upload(body: CreateUpload, request: Request) -> Response:
        path = safe_relpath(body.path)
        principal, _project = _check_artifact(request, path, Role.EDITOR)
        purge_now_and_then()
        upload_id = f"{int(time.time()):010d}-{uuid.uuid4().hex}"
        session = {"path": path, "user": principal.user, "started": time.time()}
        store.write(f"{_folder(upload_id)}/session.json", json.dumps(session).encode())
        return NanJSONResponse({"upload_id": upload_id, "path": path})

    @app.put(f"{UPLOADS_PREFIX}/{{upload_id}}/{{part}}", tags=["artifacts"], summary="upload one part (streamed)")
    async def upload_part(upload_id: str, part: int, request: Request) -> Response:
        _principal, session = await run_in_threadpool(_session, store, request, upload_id)
        if not 1 <= part <= MAX_PARTS:
            raise InvalidParameter(f"Part numbers go from 1 to {MAX_PARTS}, got {part}.")
        body = _Body(request, _expected_sha(request, required=True), f"Part {part} of the upload of {session['path']}")
        size, sha = await anyio.to_thread.run_sync(
            store.write, _part_key(upload_id, part), body, limiter=transfers  # type: ignore[arg-type]
        )
        return NanJSONResponse({"part": part, "size": size, "sha256": sha})

    @app.post(f"{UPLOADS_PREFIX}/{{upload_id}}/complete", tags=["artifacts"], summary="finish a multipart upload")
    def complete_upload(upload_id: str, body: CompleteUpload, request: Request) -> Response:
        principal, session = _session(store, request, upload_id)
        path = session["path"]
        numbers = [p.part for p in body.parts]
        if numbers != list(range(1, len(numbers) + 1)):
            raise InvalidParameter(f"List the parts of an upload in order, numbered 1, 2, 3, ...; got {numbers[:20]}.")
        staged = set(store.list(_folder(upload_id)))
        missing = [n for n in numbers if _part_key(upload_id, n) not in staged]
        if missing:
            raise InvalidParameter(
                f"The upload of {path} has no part(s) {', '.join(map(str, missing[:20]))}. Upload them, then complete again."
            )
        assembly = _Assembly(store, upload_id, body, path)
        try:  # charged to the project's quota (the declared size) before anything is assembled
            size, sha = charged_write(workspace, _artifact_project(path), path, assembly, body.size)
        finally:
            assembly.close()
        try:
            store.delete(_folder(upload_id))
        except Exception:  # noqa: BLE001 - the artifact is stored; the leftover parts expire with the session
            log.warning("Could not remove the parts of upload %s", upload_id, exc_info=True)
        audit(request, principal, "upload_artifact", _artifact_project(path), path, 200)
        return NanJSONResponse({"path": path, "size": size, "sha256": sha})

    @app.delete(f"{UPLOADS_PREFIX}/{{upload_id}}", tags=["artifacts"], summary="abort a multipart upload")
    def abort_upload(upload_id: str, request: Request) -> Response:
        _session(store, request, upload_id)
        return NanJSONResponse({"deleted": store.delete(_folder(upload_id))})
