"""The artifact store port: bytes by relative path under one root URI.

Contract for every implementation
---------------------------------
* **Paths** are relative, ``/``-separated, normalised by :func:`shipyard._internal._uri.safe_relpath`
  (absolute paths and ``..`` are refused with ``InvalidParameter``).
* **Atomic writes.** ``write`` streams to a temporary name (or an uncompleted multipart upload) and
  makes the object visible only when every byte is written: a crash never leaves a half file under
  the final name. It returns the size and sha256 of what it wrote, computed while streaming.
* **Thread safety.** Safe to share across threads; concurrent writes to the same path: last one wins.
* **Verification** is the caller's job (the domain layer compares against the recorded sha256); the
  store reports what it holds.
* **Errors.** ``NotFound`` for a missing path; ``BackendUnavailable`` when the backend cannot be reached.

Four abstract methods by design (STYLE.md §3): anything else (verification, caching) wraps a store.
"""

from __future__ import annotations

import abc
from typing import BinaryIO


class ArtifactStore(abc.ABC):
    """Bytes by path under ``root_uri``."""

    root_uri: str

    @abc.abstractmethod
    def write(self, path: str, source: BinaryIO | bytes) -> tuple[int, str]:
        """Atomically store ``source`` at ``path``; return ``(size, sha256 hex)`` of what was written."""

    @abc.abstractmethod
    def open_reader(self, path: str) -> BinaryIO:
        """A binary stream of the object at ``path``; the caller closes it.

        Raises:
            NotFound: nothing is stored at ``path``.
        """

    @abc.abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Relative paths of every object under ``prefix`` (a folder), sorted; temporaries excluded."""

    @abc.abstractmethod
    def delete(self, prefix: str) -> int:
        """Delete the object at ``prefix``, everything under the folder ``prefix`` (``""``: the whole root); return the count."""

    def sizes(self, prefix: str = "") -> dict[str, int]:
        """Size in bytes of every object under ``prefix`` (as :meth:`list` names them). The default
        reads each object; backends override it with a metadata call (stat, HEAD)."""
        out: dict[str, int] = {}
        for path in self.list(prefix):
            total = 0
            with self.open_reader(path) as reader:
                while block := reader.read(1 << 20):
                    total += len(block)
            out[path] = total
        return out

    def uri_for(self, path: str) -> str:
        """The full URI of ``path`` (for display and records)."""
        return self.root_uri.rstrip("/") + "/" + path.lstrip("/")
