"""What a run records about where it ran: git state, Python and key package versions, host, user.

Captured once per process (git is asked once, not per run).
"""

from __future__ import annotations

import functools
import getpass
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from typing import Any

KEY_PACKAGES = (
    "shipyard-mlops",
    "numpy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "scipy",
    "xgboost",
    "lightgbm",
    "torch",
    "onnx",
    "onnxruntime",
)


def _git(args: list[str], cwd: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@functools.lru_cache(maxsize=8)
def git_state(cwd: str) -> dict[str, Any]:
    """Commit, dirty flag, branch and remote of the repository containing ``cwd`` (empty if none)."""
    commit = _git(["rev-parse", "HEAD"], cwd)
    if not commit:
        return {}
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
    return {
        "commit": commit,
        "dirty": bool(status),
        "branch": _git(["rev-parse", "--abbrev-ref", "HEAD"], cwd),
        "remote": _git(["config", "--get", "remote.origin.url"], cwd),
    }


@functools.lru_cache(maxsize=1)
def packages() -> dict[str, str]:
    found = {}
    for name in KEY_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


@functools.lru_cache(maxsize=1)
def user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user in some containers
        return None


def source() -> str:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path:
        return os.path.abspath(str(path))
    return str(sys.argv[0]) if sys.argv and sys.argv[0] else "<interactive>"


@functools.lru_cache(maxsize=1)
def host() -> str:
    return socket.gethostname()


def environment() -> dict[str, Any]:
    """The environment record stored with each run."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": packages(),
        "argv": list(sys.argv),
        "pid": os.getpid(),
    }
