"""Request limits, as one ASGI middleware in front of the app: a body-size limit for the JSON API
(413 before the body is read when ``Content-Length`` says so, else as soon as the count passes it)
and an idle timeout while a body is being received (408), so a slow or stalled client holds no
worker thread and no memory for long. Artifact uploads stream to disk and are exempt from the size
limit (the project's ``artifact_bytes`` quota bounds them) but not from the idle timeout.
Concurrency is bounded by uvicorn's ``limit_concurrency`` (503 at once; see ``shipyard server``)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from shipyard._internal._wire import error_body
from shipyard.exceptions import Overloaded, RequestTooLarge, ShipyardError

STREAMING_PREFIXES = ("/api/v1/artifacts/", "/api/v1/artifacts-uploads/", "/api/2.0/mlflow-artifacts/")


def is_streaming(path: str) -> bool:
    """Routes whose body is file bytes streamed to the artifact store (not JSON): uploads and parts,
    but not the JSON ``complete`` of a multipart upload."""
    return path.startswith(STREAMING_PREFIXES) and not path.endswith("/complete")


class RequestTimeout(Overloaded):
    """The client paused too long while sending its request body."""

    http_status = 408
    error_code = "REQUEST_TIMEOUT"
    default_hint = "Send the body without long pauses (check the network), then retry."


class RequestLimits:
    def __init__(self, app: Any, *, max_body_bytes: int, body_timeout: float) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.timeout = body_timeout

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if is_streaming(scope["path"]):
            await self.app(scope, self._idle_guard(receive), send)
            return
        length = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await _respond(send, self._too_large(int(length)))
            return
        # JSON bodies are read whole by the app anyway: read them here, bounded in size and time,
        # and hand them on in one piece (the framework would turn an error raised mid-read into a 400).
        parts: list[bytes] = []
        received = 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), self.timeout)
            except TimeoutError:
                await _respond(send, self._stalled(received))
                return
            if message["type"] != "http.request":
                return  # the client went away
            parts.append(message.get("body", b""))
            received += len(parts[-1])
            if received > self.max_body:
                await _respond(send, self._too_large(received))
                return
            if not message.get("more_body", False):
                break
        body = b"".join(parts)
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            message: dict[str, Any] = await receive()
            return message

        await self.app(scope, replay, send)

    def _idle_guard(self, receive: Any) -> Any:
        """``receive`` with the idle timeout while the body arrives (raised as RequestTimeout, which
        the streaming handlers answer as 408); none once it is complete (then receive() only waits
        for a disconnect)."""
        received = 0
        done = False

        async def guarded() -> dict[str, Any]:
            nonlocal received, done
            if done:
                message: dict[str, Any] = await receive()
                return message
            try:
                message = await asyncio.wait_for(receive(), self.timeout)
            except TimeoutError:
                raise self._stalled(received) from None
            received += len(message.get("body", b""))
            done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        return guarded

    def _stalled(self, received: int) -> RequestTimeout:
        return RequestTimeout(f"The request body stalled for more than {self.timeout:g} s (received {received} bytes).")

    def _too_large(self, size: int) -> RequestTooLarge:
        return RequestTooLarge(
            f"The request body ({size} bytes so far) is over this server's limit of {self.max_body} bytes "
            "(setting server_max_body_bytes)."
        )


async def _respond(send: Any, exc: ShipyardError) -> None:
    body = json.dumps(error_body(exc)).encode()
    await send({"type": "http.response.start", "status": exc.http_status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


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
