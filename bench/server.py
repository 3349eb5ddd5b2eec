"""Server benchmark: Shipyard's server against `mlflow server`, both over HTTP on local SQLite, in one run.

    python bench/server.py            # what `make bench` runs; writes its section of bench/RESULTS.md
    python bench/server.py --quick    # a short smoke run (small workloads, no restarts), same output

Three clients, two servers, one machine:

* **Shipyard SDK → Shipyard server**: this process, ``TrackingClient`` / ``Registry`` on a workspace
  whose store is ``http://127.0.0.1:<port>`` (what ``SHIPYARD_URI=http://…`` gives a user).
* **mlflow client → Shipyard server** and **mlflow client → `mlflow server`**: bench/_mlflow_worker.py
  in bench/.venv-mlflow (MLflow 3.x, created on first use as bench/tracking.py does), the same
  client code with two tracking URIs.

Each server is started here (``shipyard server --store sqlite:///… --artifacts file://…`` and
``mlflow server --backend-store-uri sqlite:///… --artifacts-destination …``, each with its default
workers), timed from the spawn until its health endpoint answers 200 (/readyz, /health), used, and
stopped; only one server runs at a time. The workloads are bench/tracking.py's W1–W4
(bench/_workloads.py), resized because one HTTP request per value is slow (sizes in the results).
Around every timed phase the client's HTTP requests are counted and the server processes' CPU
time is read from /proc (bench/_proc.py): server CPU per request is the headline of the MLflow
comparison, with ratios of the same run; absolute seconds on a shared machine are noise.

The section ``## Server (bench/server.py)`` of bench/RESULTS.md is replaced; every other section is kept.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import _proc  # noqa: E402
import _workloads as wl  # noqa: E402
import tracking as tb  # noqa: E402  (bench/tracking.py: the MLflow venv, the worker, the Shipyard side)
from _results import write_section  # noqa: E402

HEADING = "## Server (bench/server.py)"
READY_TARGET_S = 3.0
W1_SDK_TARGET = 100.0  # Shipyard SDK -> Shipyard server vs mlflow client -> mlflow server, W1 calls/s
MLFLOW_CLIENT_TARGET = 3.0  # the mlflow client: against Shipyard vs against mlflow server, W1 calls/s
CPU_TARGET_MS = 3.0  # Shipyard server CPU per request of the mlflow client (W1)
WORKLOADS = ("W1", "W2", "W3", "W4")
W4_OPS = ("register", "alias", "load", "log_model")
SIDES = ("sdk", "ml_sy", "ml_ml")
SIDE_NAMES = {"sdk": "Shipyard SDK → Shipyard server", "ml_sy": "mlflow client → Shipyard server",
              "ml_ml": "mlflow client → `mlflow server`"}
# Workload sizes per mode (bench/_workloads.py resize(), plus repetitions and W3 queries).
SIZES: dict[str, dict[str, dict[str, int]]] = {
    "full": {
        "W1": {"RUNS": 2, "N_STEPS": 20, "reps": 2},
        "W2": {"RUNS": 20, "reps": 2},
        "W3": {"W3_RUNS": 150, "queries": 20},
        "W4": {"W4_LOG_MODELS": 2, "reps": 1},
    },
    "quick": {
        "W1": {"RUNS": 1, "N_STEPS": 10, "reps": 1},
        "W2": {"RUNS": 5, "reps": 1},
        "W3": {"W3_RUNS": 50, "queries": 5},
        "W4": {"W4_LOG_MODELS": 1, "W4_VERSIONS": 3, "W4_ALIAS_MOVES": 3, "W4_LOADS": 2, "reps": 1},
    },
}
T0 = time.perf_counter()


def say(message: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f}s] {message}", flush=True)


# -- the servers ----------------------------------------------------------------------------------
class Server:
    """One server process group on a fresh directory: start (timed until healthy), processes, stop."""

    def __init__(self, kind: str, directory: Path) -> None:
        self.kind = kind
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = _proc.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_cpu = 0.0  # CPU seconds the server's processes had used when it first answered
        db, art = self.dir / "server.db", self.dir / "artifacts"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPYARD_", "MLFLOW_"))}
        if kind == "shipyard":
            exe = Path(sys.executable).parent / "shipyard"
            self.argv = [str(exe), "server", "--store", f"sqlite:///{db}", "--artifacts", art.as_uri(),
                         "--host", "127.0.0.1", "--port", str(self.port)]
            self.health = "/readyz"
            env["SHIPYARD_HOME"] = str(self.dir / "home")
        else:
            exe = tb.VENV / "bin" / "mlflow"
            self.argv = [str(exe), "server", "--backend-store-uri", f"sqlite:///{db}", "--artifacts-destination",
                         str(art), "--host", "127.0.0.1", "--port", str(self.port)]
            self.health = "/health"
            env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
        self.env = env

    @property
    def display_argv(self) -> str:
        return shlex.join([Path(self.argv[0]).name, *self.argv[1:]]).replace(str(self.dir), "<dir>")

    def start(self, timeout: float = 240.0) -> float:
        """Spawn the server; seconds until GET <health> answers 200."""
        log = (self.dir / "server.log").open("ab")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(self.argv, cwd=self.dir, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} server exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + self.health, timeout=5) as response:
                    if response.status == 200:
                        seconds = time.perf_counter() - t0
                        tree = _proc.process_tree(self.proc.pid)
                        self.start_cpu = sum(_proc.cpu_seconds(pid, children=True) for pid, _, _ in tree)
                        return seconds
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"{self.kind} server not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self) -> str:
        try:
            return (self.dir / "server.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def processes(self) -> dict[int, str]:
        """pid -> "serving" (the process tree that answers requests) or "other" (e.g. MLflow's job runner).

        Shipyard: ``shipyard server`` is uvicorn in one process. MLflow: its CLI process starts uvicorn
        (which spawns the worker processes) and a job runner with its consumers."""
        assert self.proc is not None
        tree = _proc.process_tree(self.proc.pid)
        if self.kind == "shipyard":
            return {pid: "serving" for pid, _, _ in tree}
        serving: set[int] = set()
        for pid, ppid, cmd in tree:  # parents first
            if ("uvicorn" in cmd or "gunicorn" in cmd or ppid in serving) and "resource_tracker" not in cmd:
                serving.add(pid)
        return {pid: "serving" if pid in serving else "other" for pid, _, _ in tree}

    def settle(self, timeout: float = 90.0, quiet: float = 0.05) -> float:
        """Seconds after ready until the server's processes, all together, use under ``quiet`` of a core
        over a second (MLflow starts its job runner and consumers after /health already answers)."""
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout and self.idle_cpu(1.0) >= quiet:
            pass
        return time.perf_counter() - t0

    def idle_cpu(self, seconds: float) -> float:
        """CPU seconds per second used by all the server's processes while nobody calls it."""
        pids = list(self.processes())
        a = sum(_proc.cpu_seconds(p) for p in pids)
        time.sleep(seconds)
        return (sum(_proc.cpu_seconds(p) for p in pids) - a) / seconds

    def stop(self) -> None:
        """SIGTERM to the server's process group, SIGKILL to what is left after 15 s."""
        if self.proc is None:
            return
        pgid = self.proc.pid  # start_new_session=True: the group holds this server's processes only
        for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            end = time.perf_counter() + wait
            while _proc.group_alive(pgid) and time.perf_counter() < end:
                self.proc.poll()
                time.sleep(0.1)
            if not _proc.group_alive(pgid):
                break
        self.proc.wait(timeout=5)
        self.proc = None


# -- the Shipyard SDK side ------------------------------------------------------------------------
class ShipyardOverHttp(tb.Shipyard):
    """bench/tracking.py's Shipyard side with the store at a Shipyard server: a fresh experiment per
    repetition (one server, one database), every HTTP request of the SDK counted."""

    def __init__(self, url: str, home: Path) -> None:
        super().__init__()
        self.url = url
        self.home = home
        self.requests = 0

    def _count(self, _request: Any) -> None:
        self.requests += 1

    def open(self, directory: Path, experiment: str) -> tuple[Any, Any, str]:
        directory.mkdir(parents=True, exist_ok=False)
        settings = self._configure(store_uri=self.url, artifact_uri=None, home=str(self.home))
        ws = self._build(settings)
        ws.metadata.http.event_hooks["request"].append(self._count)  # type: ignore[attr-defined]
        client = self._client_cls(ws, project="bench")
        return ws, client, client.create_experiment(f"{experiment}-{directory.name}").id


def _sizes(mode: str, name: str) -> tuple[dict[str, int], int, int]:
    """(resize arguments, repetitions, W3 queries) of workload ``name``."""
    extra = dict(SIZES[mode][name])
    return extra, int(extra.pop("reps", 1)), int(extra.pop("queries", wl.W3_QUERIES))


def run_sdk(server: Server, workdir: Path, mode: str, workloads: list[str]) -> dict[str, Any]:
    """W1–W4 through the Shipyard SDK against ``server``; per workload its result and meter phases."""
    side = ShipyardOverHttp(server.url, workdir / "sdk-home")
    meter = _proc.Meter(list(server.processes()), lambda: side.requests)
    side.warm_up(workdir)
    out: dict[str, Any] = {}
    for name in workloads:
        sizes, reps, queries = _sizes(mode, name)
        wl.resize(**sizes)
        say(f"{name}: Shipyard SDK -> Shipyard server")
        try:
            res = _sdk_workload(side, meter, workdir, name, reps, queries)
        except Exception as exc:  # noqa: BLE001 - reported in the results, like the other sides' failures
            traceback.print_exc()
            res = {"error": f"{type(exc).__name__}: {str(exc).strip()[:600]}", "during": name}
        res["meter"] = {k: v for k, v in meter.phases.items() if k.split()[0] == name}
        out[name] = res
    wl.resize()
    return out


def _sdk_workload(side: ShipyardOverHttp, meter: _proc.Meter, workdir: Path, name: str, reps: int,
                  queries: int) -> dict[str, Any]:
    def metered(phase: str, calls: int) -> Any:
        return lambda body: _metered(meter, phase, calls, body)

    if name == "W1":
        return side.w1(workdir, reps, metered("W1", wl.RUNS * wl.CALLS_PER_RUN))
    if name == "W2":
        return side.w2(workdir, reps, metered("W2", wl.RUNS * wl.VALUES_PER_RUN))
    if name == "W3":
        labels = iter(["W3 search", "W3 search_df"])  # w3 runs its two timed loops in this order
        return side.w3(workdir, queries, lambda body: _metered(meter, next(labels), queries, body))
    counts = {"log_model": wl.W4_LOG_MODELS, "register": wl.W4_VERSIONS, "alias": wl.W4_ALIAS_MOVES,
              "load": wl.W4_LOADS}
    return side.w4(workdir, reps, lambda op, body: _metered(meter, f"W4 {op}", counts[op], body))


def _metered(meter: _proc.Meter, phase: str, calls: int, body: Any) -> None:
    with meter.phase(phase, calls):
        body()


def run_mlflow_client(server: Server, workdir: Path, mode: str, workloads: list[str], label: str) -> dict[str, Any]:
    say(f"{','.join(workloads)}: mlflow client -> {label} (subprocess)")
    sizes = {name: SIZES[mode][name] for name in workloads}
    result = tb._worker([
        ",".join(workloads), "--workdir", str(workdir / f"mlflow-client-{server.kind}"), "--tracking-uri", server.url,
        "--server-pids", ",".join(str(p) for p in server.processes()), "--sizes", json.dumps(sizes),
    ], timeout=1800)
    return result if len(workloads) > 1 else {workloads[0]: result}


def serve(kind: str, workdir: Path, mode: str, workloads: list[str]) -> dict[str, Any]:
    """Start one server, measure it, run the clients that talk to it, (restart it,) stop it."""
    server = Server(kind, workdir / f"{kind}-server")
    out: dict[str, Any] = {"argv": server.display_argv}
    try:
        say(f"starting {kind} server: {server.display_argv}")
        out["start_s"] = server.start()
        out["start_cpu_s"] = server.start_cpu
        say(f"{kind} server ready after {out['start_s']:.2f} s ({server.start_cpu:.2f} s of CPU)")
        out["settle_s"] = server.settle()
        out["processes"] = {str(pid): role for pid, role in server.processes().items()}
        out["idle_cpu"] = server.idle_cpu(2.0 if mode == "full" else 1.0)
        say(f"{kind} server quiet {out['settle_s']:.1f} s after ready; {len(out['processes'])} processes, idle "
            f"CPU {out['idle_cpu'] * 1000:.0f} ms/s")
        if kind == "shipyard":
            out["sdk"] = run_sdk(server, workdir, mode, workloads)
        out["ml"] = run_mlflow_client(server, workdir, mode, workloads, f"{kind} server")
        if mode == "full":  # a restart on the database the run has just filled
            server.stop()
            out["restart_s"] = server.start()
            out["restart_cpu_s"] = server.start_cpu
            say(f"{kind} server restarted on its populated database: ready after {out['restart_s']:.2f} s")
    finally:
        server.stop()
    return out


# -- reading the results --------------------------------------------------------------------------
ROWS: list[tuple[str, str]] = [  # (row key, kind): "rate" = higher is better, "time" = lower is better
    ("W1", "rate"), ("W2", "rate"), ("W3 search", "time"), ("W3 search_df", "time"),
    ("W4 register", "time"), ("W4 alias", "time"), ("W4 load", "time"), ("W4 log_model", "time"),
]


def _side(results: dict[str, Any], side: str) -> dict[str, Any]:
    """The per-workload results of one client → server pair."""
    if side == "sdk":
        return results["shipyard"].get("sdk", {})  # type: ignore[no-any-return]
    return results["shipyard" if side == "ml_sy" else "mlflow"].get("ml", {})  # type: ignore[no-any-return]


def _roles(results: dict[str, Any], side: str) -> dict[str, str]:
    return results["mlflow" if side == "ml_ml" else "shipyard"]["processes"]  # type: ignore[no-any-return]


def value(results: dict[str, Any], side: str, row: str) -> float | None:
    """calls/s (W1), values/s (W2) or the median seconds of one call (W3, W4); None if not measured."""
    res = _side(results, side).get(row.split()[0])
    if not isinstance(res, dict) or "error" in res:
        return None
    if row == "W1":
        return float(res["calls"]) / wl.median(res["seconds"])
    if row == "W2":
        return float(res["values"]) / wl.median(res["seconds"])
    key = {"W3 search": "search_seconds", "W3 search_df": "search_df_seconds"}.get(row, f"{row[3:]}_seconds")
    times = res.get(key) or []
    return wl.median(times) if times else None


def ratio(results: dict[str, Any], side: str, row: str, kind: str) -> float | None:
    """How many times better ``side`` is than the mlflow client against `mlflow server`."""
    a, b = value(results, side, row), value(results, "ml_ml", row)
    if a is None or b is None:
        return None
    return a / b if kind == "rate" else b / a


def error(results: dict[str, Any], side: str, workload: str) -> str | None:
    res = _side(results, side).get(workload)
    if res is None:
        return "not run"
    return f"{res['error']} (during {res['during']})" if "error" in res else None


def meter(results: dict[str, Any], side: str, phase: str) -> dict[str, float] | None:
    """calls, requests, serving CPU s and all-process CPU s of one phase."""
    res = _side(results, side).get(phase.split()[0]) or {}
    got = (res.get("meter") or {}).get(phase)
    if not got or "error" in res:
        return None
    roles = _roles(results, side)
    serving = sum(s for pid, s in got["cpu"].items() if roles.get(pid) == "serving")
    return {"calls": got["calls"], "requests": got["requests"], "serving": serving, "all": sum(got["cpu"].values())}


def cpu_per_request_ms(results: dict[str, Any], side: str, phase: str) -> float | None:
    m = meter(results, side, phase)
    return None if not m or not m["requests"] else m["serving"] / m["requests"] * 1000


def checks(results: dict[str, Any], mode: str) -> dict[str, Any]:
    """Same answers from every pair: W3's runs in order, W4's versions, alias target and predictions."""
    out: dict[str, Any] = {}
    sizes, _, _ = _sizes(mode, "W3")
    wl.resize(**sizes)
    expected = wl.w3_expected_names()
    out["W3 expected"] = len(expected)
    sizes, _, _ = _sizes(mode, "W4")
    wl.resize(**sizes)
    last = (wl.W4_ALIAS_MOVES - 1) % wl.W4_VERSIONS + 1
    for side in SIDES:
        w3 = _side(results, side).get("W3")
        if isinstance(w3, dict) and "error" not in w3:
            out[f"W3 {side}"] = w3["names"] == w3["names_df"] == expected
        w4 = _side(results, side).get("W4")
        if isinstance(w4, dict) and "error" not in w4:
            out[f"W4 {side}"] = (w4["versions"] == list(range(1, wl.W4_VERSIONS + 1)) and w4["alias_version"] == last
                                 and w4["predictions"] == w4["expected"] and w4["agree"] == w4["rows"]
                                 and w4.get("status", "READY") == "READY")
    wl.resize()
    return out


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(target, what was measured, met: True / False / None when not measured)."""
    sy, ml = results["shipyard"], results["mlflow"]
    restart = (f" (restart on the populated database: {sy['restart_s']:.2f} s)" if "restart_s" in sy else "")
    ml_restart = f", restart {ml['restart_s']:.1f} s" if "restart_s" in ml else ""
    out: list[tuple[str, str, bool | None]] = [(
        f"Shipyard server ready in under {READY_TARGET_S:.0f} s",
        f"{sy['start_s']:.2f} s ({sy['start_cpu_s']:.2f} s of CPU){restart}; `mlflow server` {ml['start_s']:.1f} s "
        f"({ml['start_cpu_s']:.1f} s of CPU){ml_restart}",
        sy["start_s"] < READY_TARGET_S,
    )]
    for side, target, what in (("sdk", W1_SDK_TARGET, "W1 through the Shipyard SDK against the Shipyard server"),
                               ("ml_sy", MLFLOW_CLIENT_TARGET, "W1, the mlflow client against the Shipyard server")):
        r, a, b = ratio(results, side, "W1", "rate"), value(results, side, "W1"), value(results, "ml_ml", "W1")
        measured = (f"{a:,.0f} vs {b:,.1f} calls/s: **{r:,.1f}×**" if r is not None and a is not None and b is not None
                    else f"not measured: {error(results, side, 'W1') or error(results, 'ml_ml', 'W1')}")
        out.append((f"{what}: ≥ {target:.0f}× the mlflow client against `mlflow server`", measured,
                    None if r is None else r >= target))
    cpu, ml_cpu = cpu_per_request_ms(results, "ml_sy", "W1"), cpu_per_request_ms(results, "ml_ml", "W1")
    out.append((
        f"Shipyard server CPU per request of the mlflow client (W1) under {CPU_TARGET_MS:.0f} ms",
        "not measured" if cpu is None else f"{cpu:.2f} ms (`mlflow server`: "
        + ("?" if ml_cpu is None else f"{ml_cpu:.2f} ms") + ")",
        None if cpu is None else cpu < CPU_TARGET_MS,
    ))
    return out


# -- reporting ------------------------------------------------------------------------------------
def _fmt(row: str, x: float | None) -> str:
    if x is None:
        return "—"
    if row == "W1":
        return f"{x:,.1f} calls/s" if x < 100 else f"{x:,.0f} calls/s"
    if row == "W2":
        return f"{x:,.0f} values/s"
    return f"{x:.2f} s" if x >= 1 else f"{x * 1000:.2f} ms"


def _x(r: float | None) -> str:
    return "—" if r is None else f"**{r:,.1f}×**"


def _labels(mode: str) -> dict[str, str]:
    out = {}
    for name in WORKLOADS:
        sizes, reps, queries = _sizes(mode, name)
        wl.resize(**sizes)
        if name == "W1":
            out[name] = (f"W1 per-call logging: {wl.RUNS} runs × ({wl.N_PARAMS} params + {wl.N_STEPS} steps × "
                         f"{wl.N_METRICS} metrics) = {wl.RUNS * wl.CALLS_PER_RUN} calls, median of {reps}")
        elif name == "W2":
            out[name] = f"W2 batch logging: {wl.RUNS} runs × {wl.VALUES_PER_RUN} values, median of {reps}"
        elif name == "W3":
            query = f"{wl.W3_RUNS} runs, filter + order + limit {wl.W3_MAX_RESULTS}, median of {queries}"
            out["W3 search"] = f"W3 search ({query}): run objects"
            out["W3 search_df"] = f"W3 search ({query}): DataFrame"
        else:
            of = {"register": wl.W4_VERSIONS, "alias": wl.W4_ALIAS_MOVES, "load": wl.W4_LOADS,
                  "log_model": wl.W4_LOG_MODELS}
            what = {"register": "register a version", "alias": "move an alias",
                    "load": f"load `models:/{wl.W4_MODEL_NAME}@{wl.W4_ALIAS}`", "log_model": "log the model"}
            for op in W4_OPS:
                out[f"W4 {op}"] = f"W4 {what[op]}, median of {reps} × {of[op]}"
    wl.resize()
    return out


def results_table(results: dict[str, Any], mode: str) -> list[str]:
    labels = _labels(mode)
    lines = [
        f"| Workload | {SIDE_NAMES['sdk']} | {SIDE_NAMES['ml_sy']} | {SIDE_NAMES['ml_ml']} | SDK vs mlflow/mlflow "
        "| mlflow client: Shipyard vs `mlflow server` |",
        "|---|---|---|---|---|---|",
    ]
    for row, kind in ROWS:
        if row.split()[0] not in _side(results, "ml_ml") and row.split()[0] not in _side(results, "sdk"):
            continue
        cells = [_fmt(row, value(results, side, row)) for side in SIDES]
        for i, side in enumerate(SIDES):
            err = error(results, side, row.split()[0])
            if err and cells[i] == "—":
                cells[i] = "not available (below)" if err != "not run" else "not run"
        lines.append(f"| {labels[row]} | {' | '.join(cells)} | {_x(ratio(results, 'sdk', row, kind))} | "
                     f"{_x(ratio(results, 'ml_sy', row, kind))} |")
    return lines


def meter_table(results: dict[str, Any]) -> list[str]:
    lines = [
        "| Phase | Client → server | Calls | HTTP requests | Requests per call | **Server CPU per request** | "
        "Server CPU per call | CPU per request, all server processes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row, _kind in ROWS:
        for side in SIDES:
            m = meter(results, side, row)
            if m is None:
                continue
            per_req = f"{m['serving'] / m['requests'] * 1000:.2f} ms" if m["requests"] else "—"
            all_req = f"{m['all'] / m['requests'] * 1000:.2f} ms" if m["requests"] else "—"
            lines.append(
                f"| {row} | {SIDE_NAMES[side]} | {m['calls']:,} | {m['requests']:,} | "
                f"{m['requests'] / m['calls']:.2f} | {per_req} | {m['serving'] / m['calls'] * 1000:.2f} ms | {all_req} |"
            )
    return lines


def _servers(results: dict[str, Any]) -> list[str]:
    out = []
    for kind in ("shipyard", "mlflow"):
        res = results[kind]
        roles = list(res["processes"].values())
        out.append(
            f"- `{res['argv']}`: {len(roles)} process(es), {roles.count('serving')} answering requests; ready after "
            f"**{res['start_s']:.2f} s** on a fresh database (its processes had used {res['start_cpu_s']:.2f} s of "
            "CPU by then)"
            + (f", {res['restart_s']:.2f} s on restart ({res['restart_cpu_s']:.2f} s of CPU)" if "restart_s" in res
               else "")
            + f". After it answered, its processes stayed busy for {res['settle_s']:.1f} s (until they used under "
            f"5% of a core over a second; the workloads start after that); then, idle, all its processes together "
            f"used {res['idle_cpu'] * 1000:.1f} ms of CPU per second."
        )
    return out


def render(results: dict[str, Any], facts: dict[str, Any], command: str, started: str, elapsed: float,
           mode: str) -> str:
    errors = [f"- {SIDE_NAMES[side]}, {name}: not available: `{error(results, side, name)}`"
              for side in SIDES for name in WORKLOADS
              if name in _side(results, side) and error(results, side, name)]
    check = checks(results, mode)
    lines = [
        HEADING,
        "",
        "Generated by `bench/server.py`; do not edit by hand, re-run it (`make bench`).",
        "",
        f"- **Command:** `{command}` (run from the repository root){' — quick mode' if mode == 'quick' else ''}",
        f"- **Date:** {started} (whole run: {elapsed:.0f} s, excluding the one-time MLflow install)",
        f"- **Machine:** {facts['cores']}; {facts['cpu']}; {facts['memory']} RAM; {facts['os']}",
        f"- **Python:** {facts['python_shipyard']} for Shipyard; {facts['python_mlflow']} for MLflow",
        f"- **Versions:** Shipyard {facts['shipyard']}{facts['src_state']}; {facts['web']}; MLflow {facts['mlflow']}; "
        f"SQLAlchemy {facts['sqlalchemy']}; SQLite {facts['sqlite']}",
        "",
        "### Targets (issue 4)",
        "",
        "| Target | Measured (this run) | Status |",
        "|---|---|---|",
        *[f"| {t} | {m} | {'—' if ok is None else '**met**' if ok else '**not met**'} |"
          for t, m, ok in targets(results)],
        "",
        "### Servers",
        "",
        *_servers(results),
        "",
        "### Workloads over HTTP (same run; ratios are how many times better than the mlflow client against "
        "`mlflow server`)",
        "",
        *results_table(results, mode),
        "",
        *(["Not available in this run:", "", *errors, ""] if errors else []),
        "### HTTP requests and server CPU per phase",
        "",
        "Requests are counted by each client's HTTP layer; server CPU is user + system time of the server's "
        "processes (all threads) read from /proc before and after the timed phase, in 10 ms ticks. *Server "
        "CPU* counts the processes that answer requests (Shipyard: its one process; MLflow: uvicorn and its "
        "workers); the last column adds every other process of the server (MLflow's job runner and its "
        "consumers, which poll while idle).",
        "",
        *meter_table(results),
        "",
        "### Consistency",
        "",
        f"- W3: the same {check['W3 expected']} runs in the same order as computed in Python, in both the "
        "run-object and the DataFrame search: "
        + ", ".join(f"{SIDE_NAMES[s]} **{'yes' if check[f'W3 {s}'] else 'NO'}**" for s in SIDES if f"W3 {s}" in check),
        "- W4: versions 1 … N in order, the alias on the last version moved to, predictions of the loaded model "
        "equal to the fitted model's on all rows: "
        + ", ".join(f"{SIDE_NAMES[s]} **{'yes' if check[f'W4 {s}'] else 'NO'}**" for s in SIDES if f"W4 {s}" in check),
        "- W1/W2: after each repetition the last run is read back (all params, every step of the last metric, "
        "FINISHED) through the same client, outside the timing.",
        "",
        *HOW,
    ]
    return "\n".join(lines) + "\n"


HOW = [
    "### How it is measured",
    "",
    "- One command, one machine: the Shipyard server is started, measured and used by the Shipyard SDK (this "
    "process) and by the mlflow client (bench/_mlflow_worker.py in bench/.venv-mlflow), then stopped; then the "
    "same for `mlflow server` and the same mlflow client code. One server runs at a time; clients and server "
    "share the machine's cores.",
    "- Start: from spawning the command until `GET /readyz` (Shipyard: answers after querying the database) "
    "or `GET /health` (MLflow: answers without touching the database) returns 200, polled every 20 ms. It "
    "includes the interpreter start and imports, and creating the schema in a fresh SQLite file; the restart "
    "(full mode) reuses the database the run has filled. Each server runs with its default worker count.",
    "- The workloads are bench/tracking.py's (bench/_workloads.py), smaller (sizes in the table) since one "
    "request per value through `mlflow server` runs at tens of calls per second. Every repetition is a fresh "
    "experiment on the same server and database. Each client first does an untimed warm-up (a run, a metric, "
    "a batch, a search). W4 warms up with one untimed log_model / register / alias / load on another model name.",
    "- Calls: Shipyard SDK — `run.log_param` / `run.log_metric` per value and `run.end()` (W1), `run.log_batch` "
    "(W2), `TrackingClient.search` / `search_runs` (W3), `run.log_model`, `Registry.register_model`, "
    "`Registry.set_alias`, `Registry.load_model` (W4). mlflow client — `MlflowClient` `create_run` / "
    "`log_param` / `log_metric` / `set_terminated` (W1), `log_batch` (W2), `search_runs` / `mlflow.search_runs` "
    "(W3), `mlflow.sklearn.log_model`, `mlflow.register_model`, `set_registered_model_alias`, "
    "`mlflow.pyfunc.load_model` (W4), as in bench/tracking.py.",
    "",
    "### Fairness notes",
    "",
    "- The Shipyard SDK buffers params and metrics and sends them in batches (a value is on the server at "
    "`flush()` / `end()`, inside the timing), so W1 through the SDK takes a few requests per run; the mlflow "
    "client sends one request per call. This is the point of the SDK row, and why it is compared with the "
    "mlflow client against `mlflow server`, the setup a team has today. The runs here are short (sizes in the "
    "table), so the SDK's rate is bounded by its few round trips per run (start: experiment and run; end: flush "
    "and status); the mlflow client's rate does not depend on the run's size.",
    "- `mlflow server` runs its default 4 uvicorn workers and a job runner; `shipyard server` its default one "
    "process. Server CPU per request sums all processes that answer requests, so worker count does not change "
    "it; MLflow's job runner is left out of the headline (which favours MLflow) and shown in the last column.",
    "- W4 load: the Shipyard SDK keeps downloaded packages in a local cache keyed by the manifest's sha256 "
    "and re-verifies every file's hash on each load; `mlflow.pyfunc.load_model` downloads the model on every "
    "load. W4 log_model: MLflow's time is mostly its own defaults (pip requirement inference in a subprocess, "
    "input example validation), as in bench/tracking.py.",
    "- CPU is read in 10 ms ticks: a phase with little server CPU (W3 with 20 queries, W4 alias moves) has a "
    "coarse per-request figure. The machine is shared and its speed drifts; the sides run one after the other, "
    "so a ratio can move by 1.5× between runs.",
]


# -- main -----------------------------------------------------------------------------------------
def _facts(mlflow_facts: dict[str, Any]) -> dict[str, Any]:
    from importlib import metadata

    facts = tb.machine_facts(mlflow_facts)
    status = tb._git("status", "--porcelain", "--", "src") or ""
    facts["src_state"] = " (with uncommitted changes under src/, measured as they were)" if status else ""
    facts["web"] = ", ".join(f"{d} {metadata.version(d)}" for d in ("uvicorn", "fastapi", "starlette", "httpx"))
    return facts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small workloads, no restarts: a smoke run")
    parser.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workloads (default: all)")
    parser.add_argument("--output", type=Path, default=BENCH / "RESULTS.md", help="default: bench/RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="print the section; leave RESULTS.md alone")
    parser.add_argument("--keep", action="store_true", help="keep the servers' directories under bench/.work")
    args = parser.parse_args()
    workloads = [w.strip().upper() for w in args.only.split(",") if w.strip()]
    if not workloads or set(workloads) - set(WORKLOADS):
        parser.error(f"--only takes workloads from {', '.join(WORKLOADS)}")
    mode = "quick" if args.quick else "full"

    mlflow_facts = tb.ensure_mlflow()
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    facts = _facts(mlflow_facts)
    workdir = Path(tempfile.mkdtemp(prefix="server-", dir=tb.WORK))
    t_start = time.perf_counter()
    try:
        results = {kind: serve(kind, workdir, mode, workloads) for kind in ("shipyard", "mlflow")}
        elapsed = time.perf_counter() - t_start
        command = shlex.join([tb._rel(Path(sys.executable)), *sys.argv])
        text = render(results, facts, command, started, elapsed, mode)
        (tb.WORK / "server-last.json").write_text(json.dumps({"facts": facts, "results": results}, indent=1))
        for target, measured, ok in targets(results):
            say(f"{target}: {measured} -> {'-' if ok is None else 'met' if ok else 'NOT met'}")
        if args.no_write:
            print("\n" + text)
        else:
            write_section(args.output, text, HEADING)
            say(f"wrote the section {HEADING!r} of {tb._rel(args.output.resolve())} ({elapsed:.0f} s)")
        check = checks(results, mode)
        if not all(v for k, v in check.items() if k != "W3 expected"):
            print(f"Consistency check failed: {check}", file=sys.stderr)
            return 1
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
