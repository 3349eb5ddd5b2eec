"""URI helpers shared by the plugin table and the backends."""

from __future__ import annotations

import os
import posixpath
import re
from urllib.parse import urlsplit

from shipyard.exceptions import InvalidParameter

_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
_SINGLE_SLASH = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+):/")


def scheme_of(uri: str) -> str:
    """The URI scheme, lower-cased, without a ``+driver`` suffix (``postgresql+psycopg`` → ``postgresql``).

    A bare filesystem path has the scheme ``file``.
    """
    if _WINDOWS_DRIVE.match(uri):
        return "file"
    if "://" not in uri:
        single = _SINGLE_SLASH.match(uri)  # e.g. shipyard-artifacts:/path
        return single.group(1).lower() if single else "file"
    return urlsplit(uri).scheme.split("+", 1)[0].lower()


def file_uri_to_path(uri: str) -> str:
    """``file:///abs/path`` or a bare path to an absolute local path."""
    if uri.startswith("file://"):
        path = uri[len("file://") :]
    else:
        path = uri
    return os.path.abspath(os.path.expanduser(path))


def safe_relpath(path: str, what: str = "artifact path") -> str:
    """Normalise a relative artifact path, rejecting absolute paths and ``..`` traversal.

    Raises:
        InvalidParameter: the path is empty, absolute or escapes its root.
    """
    if not isinstance(path, str) or not path.strip():
        raise InvalidParameter(f"Invalid {what} {path!r}: expected a non-empty relative path like 'plots/roc.png'.")
    candidate = path.replace("\\", "/")
    if candidate.startswith("/") or _WINDOWS_DRIVE.match(candidate) or "://" in candidate:
        raise InvalidParameter(
            f"Invalid {what} {path!r}: absolute paths are not allowed. "
            "Give a path relative to the run's artifact root, e.g. 'plots/roc.png'."
        )
    parts = candidate.split("/")
    if any(p == ".." for p in parts):
        raise InvalidParameter(
            f"Invalid {what} {path!r}: '..' segments are not allowed (path traversal). "
            "Give a path inside the run's artifact root."
        )
    norm = posixpath.normpath(candidate)
    if norm in (".", ""):
        raise InvalidParameter(f"Invalid {what} {path!r}: it names the root itself; give a file or folder name.")
    if any(ch in norm for ch in ("\x00",)):
        raise InvalidParameter(f"Invalid {what} {path!r}: NUL characters are not allowed.")
    return norm
