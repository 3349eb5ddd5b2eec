"""Request limits of the platform server (the middleware itself is ``_internal._asgi``): a body-size limit for the JSON API
(413 before the body is read when ``Content-Length`` says so, else as soon as the count passes it)
and an idle timeout while a body is being received (408), so a slow or stalled client holds no
worker thread and no memory for long. Artifact uploads stream to disk and are exempt from the size
limit (the project's ``artifact_bytes`` quota bounds them) but not from the idle timeout.
Concurrency is bounded by uvicorn's ``limit_concurrency`` (503 at once; see ``shipyard server``)."""

from __future__ import annotations

from typing import Any

from shipyard._internal._asgi import RequestLimits, RequestTimeout

STREAMING_PREFIXES = ("/api/v1/artifacts/", "/api/v1/artifacts-uploads/", "/api/2.0/mlflow-artifacts/")


def is_streaming(path: str) -> bool:
    """Routes whose body is file bytes streamed to the artifact store (not JSON): uploads and parts,
    but not the JSON ``complete`` of a multipart upload."""
    return path.startswith(STREAMING_PREFIXES) and not path.endswith("/complete")


ARTIFACT_BYTES = "artifact_bytes"


def charged_write(ws: Any, project: str, key: str, source: Any, size: int) -> tuple[int, str]:
    """Write an upload of ``size`` bytes to the artifact store, charged to the project's
    ``artifact_bytes`` quota first (QuotaExceeded, nothing written, when it would go over) and
    released again if the write fails."""
    store = ws.metadata
    store.charge_quota(project, ARTIFACT_BYTES, size)
    try:
        result: tuple[int, str] = ws.artifacts.write(key, source)
    except BaseException:
        store.charge_quota(project, ARTIFACT_BYTES, -size)
        raise
    return result


def release_deleted(ws: Any, project: str, prefix: str) -> int:
    """Delete everything under ``prefix`` and release its bytes from the project's quota."""
    sizes = ws.artifacts.sizes(prefix)
    deleted: int = ws.artifacts.delete(prefix)
    if sizes:
        ws.metadata.charge_quota(project, ARTIFACT_BYTES, -sum(sizes.values()))
    return deleted


__all__ = ["ARTIFACT_BYTES", "STREAMING_PREFIXES", "RequestLimits", "RequestTimeout", "charged_write", "is_streaming",
           "release_deleted"]
