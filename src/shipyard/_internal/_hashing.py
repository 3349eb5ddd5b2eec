"""Streaming sha256 helpers."""

from __future__ import annotations

import hashlib
from typing import BinaryIO

CHUNK = 1024 * 1024


def sha256_stream(stream: BinaryIO) -> tuple[str, int]:
    """Return (hex sha256, size in bytes) of everything left in ``stream``."""
    digest = hashlib.sha256()
    size = 0
    while True:
        block = stream.read(CHUNK)
        if not block:
            break
        digest.update(block)
        size += len(block)
    return digest.hexdigest(), size


def sha256_file(path: str) -> tuple[str, int]:
    """Return (hex sha256, size in bytes) of a local file."""
    with open(path, "rb") as fh:
        return sha256_stream(fh)
