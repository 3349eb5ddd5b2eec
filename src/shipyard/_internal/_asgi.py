"""Request limits as one ASGI middleware (no web framework needed): a body-size limit (413 before
the body is read when ``Content-Length`` says so, else as soon as the count passes it) and an idle
timeout while a body is received (408), so a slow or stalled client holds no worker thread and no
memory for long. Routes whose body streams elsewhere (``streaming(path)``) get only the timeout.
Used by the platform server and the inference server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from shipyard._internal._wire import error_body
from shipyard.exceptions import Overloaded, RequestTooLarge, ShipyardError


class RequestTimeout(Overloaded):
    """The client paused too long while sending its request body."""

    http_status = 408
    error_code = "REQUEST_TIMEOUT"
    default_hint = "Send the body without long pauses (check the network), then retry."


class RequestLimits:
    def __init__(self, app: Any, *, max_body_bytes: int, body_timeout: float,
                 streaming: Callable[[str], bool] = lambda path: False) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.timeout = body_timeout
        self.streaming = streaming

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.streaming(scope["path"]):
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
                async with asyncio.timeout(self.timeout):  # a timer handle, not a task per receive
                    message = await receive()
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
                async with asyncio.timeout(self.timeout):  # a timer handle, not a task per receive
                    message = await receive()
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


async def read_body(receive: Any) -> bytes | None:
    """The whole request body, or None when the client went away before sending it."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send: Any, exc: ShipyardError) -> None:
    body = json.dumps(error_body(exc)).encode()
    await send({"type": "http.response.start", "status": exc.http_status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
