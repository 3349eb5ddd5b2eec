"""Server CPU and request counts per timed phase, read from /proc (Linux). Standard library only.

Imported by ``bench/server.py`` (the project's environment) and by ``bench/_mlflow_worker.py``
(bench/.venv-mlflow), so both sides of the server benchmark measure a server the same way: the
CPU time (user + system, all threads) of the server's processes before and after a phase, and the
number of HTTP requests the client sent during it (counted by the client's own HTTP layer).
"""

from __future__ import annotations

import compileall
import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads, live and exited); 0 if gone.
    With ``children``, plus those of its children that have exited and been waited for.

    /proc/<pid>/stat counts in clock ticks (10 ms here), so a phase needs some hundreds of
    milliseconds of server CPU before its per-request figure means much."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()  # fields 3.. of proc(5); utime, stime, cutime, cstime: 14-17
    return sum(int(f) for f in fields[11 : 15 if children else 13]) / _TICK


def process_tree(root: int) -> list[tuple[int, int, str]]:
    """``(pid, parent pid, command line)`` of ``root`` and all its live descendants, parents first."""
    procs: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        procs[int(entry.name)] = (int(stat[stat.rindex(")") + 2 :].split()[1]), cmd)
    out: list[tuple[int, int, str]] = []
    todo = [root] if root in procs else []
    while todo:
        pid = todo.pop(0)
        out.append((pid, procs[pid][0], procs[pid][1]))
        todo += sorted(p for p, (ppid, _) in procs.items() if ppid == pid)
    return out


class Meter:
    """Accumulates, per named phase: client calls, HTTP requests and each server process's CPU.

    ``pids`` are the server's processes; ``requests`` returns the client's running request count.
    With no pids the meter only counts requests (and costs two function calls per phase)."""

    def __init__(self, pids: Sequence[int] = (), requests: Callable[[], int] = lambda: 0) -> None:
        self.pids = list(pids)
        self.requests = requests
        self.phases: dict[str, dict[str, Any]] = {}

    @contextlib.contextmanager
    def phase(self, name: str, calls: int) -> Iterator[None]:
        cpu0 = [cpu_seconds(p) for p in self.pids]
        req0 = self.requests()
        try:
            yield
        finally:
            req1 = self.requests()
            cpu1 = [cpu_seconds(p) for p in self.pids]
            got = self.phases.setdefault(name, {"calls": 0, "requests": 0, "cpu": {str(p): 0.0 for p in self.pids}})
            got["calls"] += calls
            got["requests"] += req1 - req0
            for pid, a, b in zip(self.pids, cpu0, cpu1, strict=True):
                got["cpu"][str(pid)] += b - a


def group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (zombies do not count)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def stop_group(proc: Any) -> None:
    """Stop the process group led by ``proc`` (a ``subprocess.Popen`` started with a new session):
    SIGTERM, then SIGKILL if it lingers; reaped either way."""
    import signal
    import subprocess

    for sig, wait in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # anything of the group still left (a worker the leader forked)
    except ProcessLookupError:
        pass
    proc.wait(timeout=5)


@contextlib.contextmanager
def shipyard_bytecode(package: Path | None = None) -> Iterator[None]:
    """Byte-compile Shipyard's modules for the duration (as ``pip install`` does for a wheel), and
    remove afterwards the .pyc files this created.

    An editable install under PYTHONDONTWRITEBYTECODE=1 (as in this environment) otherwise recompiles
    every Shipyard module from source in each new process, while the anchors' packages, installed by
    pip, load cached bytecode."""
    package = package or Path(__file__).resolve().parent.parent / "src" / "shipyard"
    before = set(package.rglob("*.pyc"))
    compileall.compile_dir(str(package), quiet=1)
    try:
        yield
    finally:
        for pyc in set(package.rglob("*.pyc")) - before:
            pyc.unlink(missing_ok=True)
        for cache in sorted(package.rglob("__pycache__"), reverse=True):
            if not any(cache.iterdir()):
                cache.rmdir()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def others_running(mine: Sequence[str]) -> list[str]:
    """Command lines of other benchmarks: processes outside this one's tree whose command line holds
    ``bench/`` and none of ``mine`` (this script's own names and helpers)."""
    tree = {pid for pid, _, _ in process_tree(os.getpid())}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in tree:
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if "bench/" in cmd and not any(s in cmd for s in mine):
            found.append(f"{entry.name}: {cmd[:160]}")
    return found


class Server:
    """A server process in its own session, pinned to ``core`` (with taskset, where there is one); ready
    when GET ``health`` answers 200. ``{port}`` in ``argv`` becomes a free port, a new one at each start.
    ``env`` is added to this process's environment less the variables starting with ``drop_env``."""

    def __init__(self, name: str, argv: list[str], health: str, log: Path, env: dict[str, str] | None = None, *,
                 core: int = 0, cwd: Path | None = None, drop_env: tuple[str, ...] = ()) -> None:
        self.name, self.argv, self.health, self.log = name, argv, health, log
        self.env, self.core, self.cwd, self.drop_env = env or {}, core, cwd or log.parent, drop_env
        self.port = free_port()
        self.proc: Any = None

    def command(self) -> list[str]:
        import shutil

        argv = [a.replace("{port}", str(self.port)) for a in self.argv]
        return ["taskset", "-c", str(self.core), *argv] if shutil.which("taskset") else argv

    def start(self, timeout: float = 240.0) -> float:
        """Spawn the server; seconds until it answers."""
        import subprocess
        import time
        import urllib.error
        import urllib.request

        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not (self.drop_env and k.startswith(self.drop_env))}
        t0 = time.perf_counter()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=str(self.cwd),
                                         env={**env, **self.env}, start_new_session=True)
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{self.health}", timeout=5) as answer:
                    if answer.status == 200:
                        return time.perf_counter() - t0
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s:\n{self.log.read_text()[-3000:]}")

    def pids(self) -> list[int]:
        return [pid for pid, _, _ in process_tree(self.proc.pid)] if self.proc is not None else []

    def stop(self) -> None:
        if self.proc is None:
            return
        stop_group(self.proc)
        self.proc = None
