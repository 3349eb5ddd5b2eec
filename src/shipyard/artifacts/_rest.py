"""Artifacts proxied through a Shipyard server: ``shipyard-artifacts:/<path>`` URIs, resolved
against the server the SDK is connected to. Uploads and downloads stream (1 MiB chunks).

Every upload body carries its sha256 (``x-shipyard-sha256``), which the server checks before the
store commits. A file up to ``part_size`` (64 MiB) is one ``PUT``; a larger one is a multipart
upload (start, one ``PUT`` per part, complete; aborted on any failure), see
:mod:`shipyard.server._artifacts`. The server answers with the size and sha256 it stored, which
must match what was sent."""

from __future__ import annotations

import hashlib
import io
import itertools
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO
from urllib.parse import quote

from shipyard._internal._hashing import CHUNK
from shipyard._internal._lazy import require
from shipyard._internal._uri import safe_relpath
from shipyard._internal._wire import raise_for
from shipyard.artifacts.base import ArtifactStore
from shipyard.exceptions import BackendUnavailable, IntegrityError, InvalidParameter, NotFound

SCHEME = "shipyard-artifacts"
ARTIFACTS_PATH = "/api/v1/artifacts"
UPLOADS_PATH = f"{ARTIFACTS_PATH}-uploads"
SHA_HEADER = "x-shipyard-sha256"
#: Files larger than this go up as multipart uploads, in parts of this size.
PART_SIZE = 64 * 1024 * 1024
#: Tries per part (a part is sent again after a transport error).
PART_ATTEMPTS = 3
#: The slowest rate at which a server is expected to assemble a completed upload (sets the timeout).
ASSEMBLY_BYTES_PER_S = 16 * 1024 * 1024


def split(uri: str) -> str:
    """The path inside the server's artifact root of a ``shipyard-artifacts:/path`` URI."""
    return uri[len(SCHEME) + 1 :].lstrip("/")


class _Response(io.RawIOBase):
    """A streamed HTTP response body as a binary file."""

    def __init__(self, response: Any) -> None:
        self._response = response
        self._chunks = response.iter_bytes(CHUNK)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._buffer))
        buffer[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n

    def close(self) -> None:
        self._response.close()
        super().close()


class _Part:
    """One request body of an upload: its number, size and sha256, and its bytes, readable again."""

    def __init__(self, number: int, size: int, sha256: str, chunks: Callable[[], Iterator[bytes]],
                 spool: BinaryIO | None = None) -> None:
        self.number = number
        self.size = size
        self.sha256 = sha256
        self.chunks = chunks
        self._spool = spool

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()


def _read_exactly(source: BinaryIO, size: int) -> Iterator[bytes]:
    left = size
    while left:
        block = source.read(min(CHUNK, left))
        if not block:
            raise IntegrityError("The file being uploaded shrank while it was read; nothing was stored.")
        left -= len(block)
        yield block


def _seekable_size(source: BinaryIO) -> int | None:
    """Bytes left in ``source`` from its position, or None when it cannot seek."""
    try:
        if not source.seekable():
            return None
        start = source.tell()
        end = source.seek(0, io.SEEK_END)
        source.seek(start)
    except (AttributeError, OSError, ValueError):
        return None
    return end - start


def _parts(source: BinaryIO | bytes, part_size: int, whole: Any) -> Iterator[_Part]:
    """``source`` cut into parts of ``part_size`` (at least one part, maybe empty), hashed in order
    into ``whole`` as they are produced. Bytes are sliced, seekable files are read twice (hash, then
    send), other streams are spooled (to disk above 1 MiB) one part at a time."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        view = memoryview(source).cast("B")
        for number, offset in enumerate(range(0, max(len(view), 1), part_size), start=1):
            piece = view[offset : offset + part_size]
            whole.update(piece)

            def sliced(piece: memoryview = piece) -> Iterator[bytes]:
                for i in range(0, len(piece), CHUNK):
                    yield bytes(piece[i : i + CHUNK])

            yield _Part(number, len(piece), hashlib.sha256(piece).hexdigest(), sliced)
        return
    size = _seekable_size(source)
    if size is not None:
        start = source.tell()
        for number, offset in enumerate(range(0, max(size, 1), part_size), start=1):
            length = min(part_size, size - offset)
            digest = hashlib.sha256()
            source.seek(start + offset)
            for block in _read_exactly(source, length):
                digest.update(block)
                whole.update(block)

            def reread(at: int = start + offset, length: int = length) -> Iterator[bytes]:
                source.seek(at)
                yield from _read_exactly(source, length)

            yield _Part(number, length, digest.hexdigest(), reread)
        source.seek(start + size)
        return
    number = 0
    while True:
        number += 1
        spool: BinaryIO = tempfile.SpooledTemporaryFile(max_size=CHUNK)  # type: ignore[assignment]
        digest, length = hashlib.sha256(), 0
        try:
            while length < part_size:
                block = source.read(min(CHUNK, part_size - length))
                if not block:
                    break
                spool.write(block)
                digest.update(block)
                whole.update(block)
                length += len(block)
        except BaseException:
            spool.close()
            raise
        if length == 0 and number > 1:
            spool.close()
            return

        def replay(spool: BinaryIO = spool, length: int = length) -> Iterator[bytes]:
            spool.seek(0)
            yield from _read_exactly(spool, length)

        yield _Part(number, length, digest.hexdigest(), replay, spool)
        if length < part_size:
            return


class RestArtifactStore(ArtifactStore):
    def __init__(self, root_uri: str, client: Any, *, part_size: int = PART_SIZE) -> None:
        """``client``: an ``httpx.Client`` with the server's base URL (and token). Files larger than
        ``part_size`` bytes are uploaded in parts of that size."""
        if part_size < 1:
            raise InvalidParameter(f"part_size must be a positive number of bytes, got {part_size!r}.")
        self.part_size = part_size
        self.root_uri = f"{SCHEME}:/{split(root_uri).strip('/')}".rstrip("/")
        self._prefix = split(self.root_uri)
        self._client = client

    def uri_for(self, path: str) -> str:
        return f"{SCHEME}:/{self._key(path)}"

    def _key(self, path: str) -> str:
        rel = safe_relpath(path)
        return f"{self._prefix}/{rel}" if self._prefix else rel

    def _url(self, key: str) -> str:
        return f"{ARTIFACTS_PATH}/{quote(key)}"

    def _check(self, response: Any, what: str) -> None:
        if response.status_code == 404:
            raise NotFound(f"No artifact at {what}.")
        if response.status_code >= 400:
            response.read()
            raise_for(response.status_code, response.json() if response.content else None, what)

    def write(self, path: str, source: BinaryIO | bytes) -> tuple[int, str]:
        """Upload ``source``: in one request up to ``part_size`` bytes, else as a multipart upload
        (parts of ``part_size``, each with its sha256, then one ``complete`` that the server commits
        only when the whole file's size and sha256 match). A failed multipart upload is aborted."""
        key = self._key(path)
        uri = self.uri_for(path)
        digest = hashlib.sha256()
        parts = _parts(source, self.part_size, digest)
        first = next(parts)
        second = next(parts, None)
        httpx = require("httpx", "client", "Talking to a Shipyard server")
        try:
            if second is None:
                stored, sent = self._send(first, "PUT", self._url(key), uri), first.size
            else:
                stored, sent = self._multipart(key, uri, itertools.chain((first, second), parts), digest)
        except httpx.TransportError as exc:
            raise BackendUnavailable(f"Upload of {uri} failed: {exc}") from exc
        finally:
            first.close()
            if second is not None:
                second.close()
        if stored["sha256"] != digest.hexdigest() or stored["size"] != sent:
            raise IntegrityError(
                f"The server stored {stored['size']} bytes with sha256 {stored['sha256']} for {uri}, "
                f"but {sent} bytes with sha256 {digest.hexdigest()} were sent."
            )
        return sent, digest.hexdigest()

    def _send(self, part: _Part, method: str, url: str, uri: str) -> dict[str, Any]:
        """One request whose body is ``part`` (resent on a transport error: parts can be read again)."""
        httpx = require("httpx", "client", "Talking to a Shipyard server")
        headers = {"content-type": "application/octet-stream", SHA_HEADER: part.sha256}
        for attempt in range(PART_ATTEMPTS):
            try:
                response = self._client.request(method, url, content=part.chunks(), headers=headers)
                break
            except httpx.TransportError:
                if attempt == PART_ATTEMPTS - 1:
                    raise
                time.sleep(0.5 * 2**attempt)
        self._raise_for(response, uri)
        return response.json()  # type: ignore[no-any-return]

    def _multipart(self, key: str, uri: str, parts: Iterator[_Part], digest: Any) -> tuple[dict[str, Any], int]:
        response = self._client.post(UPLOADS_PATH, json={"path": key})
        self._raise_for(response, uri)
        upload_id = response.json()["upload_id"]
        done: list[dict[str, Any]] = []
        try:
            for part in parts:
                try:
                    stored = self._send(part, "PUT", f"{UPLOADS_PATH}/{upload_id}/{part.number}", uri)
                finally:
                    part.close()
                if stored["sha256"] != part.sha256 or stored["size"] != part.size:
                    raise IntegrityError(f"The server stored part {part.number} of {uri} with a different sha256 or size.")
                done.append({"part": part.number, "size": part.size, "sha256": part.sha256})
            size = sum(p["size"] for p in done)
            httpx = require("httpx", "client", "Talking to a Shipyard server")
            # The server reads every part back and writes the file before it answers.
            timeout = httpx.Timeout(60.0, read=60.0 + size / ASSEMBLY_BYTES_PER_S)
            response = self._client.post(
                f"{UPLOADS_PATH}/{upload_id}/complete", json={"parts": done, "size": size, "sha256": digest.hexdigest()},
                timeout=timeout,
            )
            self._raise_for(response, uri)
            return response.json(), size
        except BaseException:
            try:
                self._client.request("DELETE", f"{UPLOADS_PATH}/{upload_id}")
            except Exception:  # noqa: BLE001 - the server removes abandoned uploads after a day
                pass
            raise

    def _raise_for(self, response: Any, what: str) -> None:
        if response.status_code >= 400:
            response.read()
            try:
                body = response.json()
            except ValueError:
                body = response.text
            raise_for(response.status_code, body, what)

    def open_reader(self, path: str) -> BinaryIO:
        key = self._key(path)
        request = self._client.build_request("GET", self._url(key))
        response = self._client.send(request, stream=True)
        if response.status_code >= 400:
            response.read()
            response.close()
            self._check(response, self.uri_for(path))
        return io.BufferedReader(_Response(response), buffer_size=CHUNK)  # type: ignore[return-value]

    def list(self, prefix: str = "") -> list[str]:
        key = self._key(prefix) if prefix else self._prefix
        response = self._client.get(f"{ARTIFACTS_PATH}-list", params={"prefix": key})
        self._check(response, self.root_uri)
        strip = len(self._prefix) + 1 if self._prefix else 0
        return sorted(p[strip:] for p in response.json()["paths"])

    def delete(self, prefix: str) -> int:
        key = self._key(prefix) if prefix else self._prefix
        response = self._client.request("DELETE", f"{ARTIFACTS_PATH}-list", params={"prefix": key})
        self._check(response, self.root_uri)
        return int(response.json()["deleted"])
