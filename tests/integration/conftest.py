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


class ServerProcess:
    """``shipyard server`` in a process of its own, so that its memory and CPU are measured apart from
    the test's (with one worker the server is this process; ``pid`` is what to watch)."""

    def __init__(self, store_uri: str, artifact_uri: str, log_dir: Path, workers: int = 1, *args: str) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [sys.executable, "-m", "shipyard.cli", "server", "--store", store_uri, "--artifacts", artifact_uri,
                     "--port", str(self.port), "--workers", str(workers), *args]
        self.log = log_dir / f"server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-5000:] if self.log.exists() else ""

    def __enter__(self) -> ServerProcess:
        import time

        import httpx

        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self.args, env=_env({}), stdout=log, stderr=subprocess.STDOUT)
        started = time.monotonic()
        while True:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited with {self.proc.returncode}:\n{self.output()}")
            if time.monotonic() - started > 60:
                self.__exit__()
                raise AssertionError(f"the server did not become ready in 60 s:\n{self.output()}")
            time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
