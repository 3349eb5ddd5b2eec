from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CHILD = Path(__file__).with_name("_child.py")


def _env(settings: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_") or k.startswith("SHIPYARD_TEST_")}
    env.update(settings)
    return env


@pytest.fixture
def spawn() -> Any:
    """Start ``_child.py <function> args...`` with the given SHIPYARD_* settings."""
    procs: list[subprocess.Popen[str]] = []

    def start(settings: dict[str, str], *args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, str(CHILD), *args], env=_env(settings), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def read_marker(proc: subprocess.Popen[str], word: str, timeout: float = 60) -> str:
    """Block until the child prints ``<word> <value>``; return the value."""
    import select

    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise AssertionError(f"child did not print {word!r} within {timeout}s")
    line = proc.stdout.readline().strip()
    if not line.startswith(word):
        err = proc.stderr.read() if proc.stderr else ""
        raise AssertionError(f"expected {word!r}, child printed {line!r}; stderr:\n{err[-3000:]}")
    return line.split(" ", 1)[1] if " " in line else ""
