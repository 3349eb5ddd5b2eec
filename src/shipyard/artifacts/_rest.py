"""Artifacts proxied through a Shipyard server: ``shipyard-artifacts:/<path>`` URIs, resolved
against the server the SDK is connected to. Uploads and downloads stream (1 MiB chunks); the
server answers each upload with the size and sha256 it stored, which must match what was sent."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from typing import Any, BinaryIO
from urllib.parse import quote

from shipyard._internal._hashing import CHUNK
from shipyard._internal._lazy import require
from shipyard._internal._uri import safe_relpath
from shipyard._internal._wire import raise_for
from shipyard.artifacts.base import ArtifactStore
from shipyard.exceptions import BackendUnavailable, IntegrityError, NotFound

SCHEME = "shipyard-artifacts"
ARTIFACTS_PATH = "/api/v1/artifacts"


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


class RestArtifactStore(ArtifactStore):
    def __init__(self, root_uri: str, client: Any) -> None:
        """``client``: an ``httpx.Client`` with the server's base URL (and token)."""
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
        key = self._key(path)
        digest = hashlib.sha256()
        sent = 0

        def body() -> Iterator[bytes]:
            nonlocal sent
            if isinstance(source, (bytes, bytearray, memoryview)):
                data = bytes(source)
                digest.update(data)
                sent = len(data)
                yield data
                return
            while True:
                block = source.read(CHUNK)
                if not block:
                    break
                digest.update(block)
                sent += len(block)
                yield block

        httpx = require("httpx", "client", "Talking to a Shipyard server")
        try:
            response = self._client.put(self._url(key), content=body(), headers={"content-type": "application/octet-stream"})
        except httpx.TransportError as exc:
            raise BackendUnavailable(f"Upload of {self.uri_for(path)} failed: {exc}") from exc
        self._check(response, self.uri_for(path))
        stored = response.json()
        if stored["sha256"] != digest.hexdigest() or stored["size"] != sent:
            raise IntegrityError(
                f"The server stored {stored['size']} bytes with sha256 {stored['sha256']} for {self.uri_for(path)}, "
                f"but {sent} bytes with sha256 {digest.hexdigest()} were sent."
            )
        return sent, digest.hexdigest()

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
