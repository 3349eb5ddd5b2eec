"""Artifacts in S3 or an S3-compatible store (``s3://bucket/prefix``) through fsspec/s3fs.

Writes stream through a multipart upload that is completed only after the last byte (small
objects: one PUT); an interrupted write aborts the upload, so no partial object is ever visible.
"""

from __future__ import annotations

import hashlib
from typing import Any, BinaryIO

from shipyard._internal._hashing import CHUNK
from shipyard._internal._lazy import require
from shipyard._internal._uri import safe_relpath
from shipyard.artifacts.base import ArtifactStore
from shipyard.exceptions import BackendUnavailable, NotFound


class S3ArtifactStore(ArtifactStore):
    def __init__(self, root_uri: str, endpoint_url: str | None = None, **storage_options: Any) -> None:
        s3fs = require("s3fs", "s3", "The S3 artifact store")
        if not root_uri.startswith("s3://"):
            raise ValueError(f"S3ArtifactStore needs an s3:// URI, got {root_uri!r}")
        self.root_uri = root_uri.rstrip("/")
        self._base = self.root_uri[len("s3://") :]
        options = dict(storage_options)
        if endpoint_url:
            options.setdefault("client_kwargs", {})["endpoint_url"] = endpoint_url
        options.setdefault("default_block_size", 8 * 1024 * 1024)
        self.fs = s3fs.S3FileSystem(skip_instance_cache=True, **options)

    def _key(self, path: str) -> str:
        return f"{self._base}/{safe_relpath(path)}"

    def write(self, path: str, source: BinaryIO | bytes) -> tuple[int, str]:
        key = self._key(path)
        digest = hashlib.sha256()
        size = 0
        try:
            fh = self.fs.open(key, "wb", autocommit=True)
        except Exception as exc:  # noqa: BLE001
            raise BackendUnavailable(f"Cannot write to {self.uri_for(path)}: {exc}") from exc
        try:
            if isinstance(source, (bytes, bytearray, memoryview)):
                data = bytes(source)
                fh.write(data)
                digest.update(data)
                size = len(data)
            else:
                while True:
                    block = source.read(CHUNK)
                    if not block:
                        break
                    fh.write(block)
                    digest.update(block)
                    size += len(block)
        except BaseException:
            # Abort the multipart upload and never commit: no partial object becomes visible.
            try:
                fh.discard()
            finally:
                fh.closed = True
            raise
        fh.close()
        self.fs.invalidate_cache()
        return size, digest.hexdigest()

    def open_reader(self, path: str) -> BinaryIO:
        key = self._key(path)
        try:
            return self.fs.open(key, "rb")  # type: ignore[no-any-return]
        except FileNotFoundError:
            raise NotFound(f"No artifact at {self.uri_for(safe_relpath(path))}.") from None

    def list(self, prefix: str = "") -> list[str]:
        base = self._key(prefix) if prefix else self._base
        self.fs.invalidate_cache()
        try:
            found = self.fs.find(base)
        except FileNotFoundError:
            return []
        strip = len(self._base) + 1
        return sorted(p[strip:] for p in found if not p.endswith("/"))

    def sizes(self, prefix: str = "") -> dict[str, int]:
        base = self._key(prefix) if prefix else self._base
        self.fs.invalidate_cache()
        try:
            found = self.fs.find(base, detail=True)
        except FileNotFoundError:
            return {}
        strip = len(self._base) + 1
        return {p[strip:]: int(info["size"]) for p, info in found.items() if not p.endswith("/")}

    def delete(self, prefix: str) -> int:
        paths = self.list(prefix)
        if paths:
            self.fs.rm([f"{self._base}/{p}" for p in paths])
            self.fs.invalidate_cache()
        return len(paths)
