"""Serving benchmark: `shipyard serve` against `mlflow models serve` and a plain FastAPI app, over HTTP.

    python bench/serving/run.py               # part of `make bench`; writes its section of bench/RESULTS.md
    python bench/serving/run.py --quick       # a 3 s smoke run per workload, same output
    python bench/serving/run.py --duration 20 # longer measurements

The same fitted model is served by three servers (Shipyard twice), one at a time, each pinned to core 0
(``taskset``); the load comes from ``wrk`` pinned to core 1 (bench/serving/_load.lua POSTs the JSON bodies):

* **Shipyard (onnx form)**: the model is logged, registered, given its proven ONNX form with
  ``shipyard.registry.to_onnx("models:/NAME/VERSION")`` (the documented way to the fast runtime:
  skl2onnx / onnxmltools, parity within 1e-4 recorded) and aliased ``champion`` in a temporary embedded
  workspace (``SHIPYARD_HOME``), behind a deployment (``sy.deploy``; deployments log their
  predictions), served by ``shipyard serve --deployment NAME --auth`` with a viewer token (the default
  ``--runtime auto`` serves the ONNX form through onnxruntime); validation and metrics are always on.
  Requests: ``POST /v1/deployments/NAME/predict`` with ``{"rows": [[...]]}`` — the same list of rows
  the FastAPI app gets (Shipyard also takes records and columns). If the conversion fails,
  the error is reported and this row serves the native model.
* **Shipyard (native)**: the same deployment served with ``--runtime native`` (the native estimator).
* **mlflow models serve** (``--env-manager local``) on the model saved with ``mlflow.sklearn.save_model``
  (with a signature); requests ``POST /invocations`` with ``{"dataframe_split": ...}``, and an
  ``{"inputs": {column: [...]}}`` variant.
* **FastAPI**: bench/serving/_fastapi_app.py, the pickled estimator behind ``POST /predict`` with a JSON
  list of rows, served by uvicorn with one worker.

Models: a StandardScaler + LogisticRegression pipeline on scikit-learn's breast-cancer data (30
features), and a 200-tree depth-6 gradient-boosted classifier (LightGBM if installed, else
scikit-learn's HistGradientBoostingClassifier) on make_classification with 50 features. Workloads:
1-row requests at concurrency 1, 16 and 64, and 100-row requests at concurrency 16, each after a
second of untimed warm-up load. Around each timed run the server's CPU time (all its processes,
from /proc, bench/_proc.py) is read: server CPU per request. The in-process limit is
``model.predict_proba`` on a 1-row and a 100-row numpy batch in a loop, on the same core.

The targets are judged on the Shipyard (onnx form) rows; the native rows are for reference.
The section ``## Serving (bench/serving/run.py)`` of bench/RESULTS.md is replaced; every other section is kept.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
ROOT = BENCH.parent
WORK = BENCH / ".work"  # git-ignored scratch space
LUA = HERE / "_load.lua"
sys.path.insert(0, str(BENCH))
import _proc  # noqa: E402
from _results import write_section  # noqa: E402

HEADING = "## Serving (bench/serving/run.py)"
SERVER_CORE, LOAD_CORE = 0, 1
# Targets (reported, never asserted).
CPU_TARGET_MS = 0.5  # Shipyard server CPU per single-row request
FASTAPI_TARGET = 1.5  # Shipyard req/s at c=16 and c=64 vs the plain FastAPI app
MLFLOW_TARGET = 8.0  # ... vs `mlflow models serve`
P99_TARGET_MS = 20.0
ANCHOR_ROWS_TARGET = 2.5  # 100-row requests, logistic model: Shipyard rows/s vs the best anchor's
INPROCESS_TARGET = 0.6  # 100-row requests, boosted model: Shipyard rows/s vs the in-process limit
BODIES = {1: 64, 100: 16}  # distinct request bodies per batch size, cycled through by wrk
T0 = time.perf_counter()


def say(message: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f}s] {message}", flush=True)


@dataclass(frozen=True)
class Workload:
    rows: int
    concurrency: int

    @property
    def key(self) -> str:
        return f"{self.rows}x{self.concurrency}"

    @property
    def label(self) -> str:
        return f"{self.rows} row{'s' if self.rows > 1 else ''}, c={self.concurrency}"


WORKLOADS = (Workload(1, 1), Workload(1, 16), Workload(1, 64), Workload(100, 16))
# What each server is sent: (variant, server kind, workloads). The `inputs` variant of mlflow is an extra.
VARIANTS: list[tuple[str, str, tuple[Workload, ...]]] = [
    ("shipyard", "shipyard", WORKLOADS),
    ("shipyard-native", "shipyard-native", WORKLOADS),
    ("fastapi", "fastapi", WORKLOADS),
    ("mlflow", "mlflow", WORKLOADS),
    ("mlflow-inputs", "mlflow", (Workload(1, 16), Workload(100, 16))),
]
VARIANT_NAMES = {
    "shipyard": "Shipyard (onnx form) (`shipyard serve --deployment --auth`, `rows`)",
    "shipyard-native": "Shipyard (native) (`shipyard serve --deployment --auth --runtime native`, `rows`)",
    "fastapi": "FastAPI + uvicorn, 1 worker (list of rows)",
    "mlflow": "`mlflow models serve` (`dataframe_split`)",
    "mlflow-inputs": "`mlflow models serve` (`inputs`, columnar)",
}
SHORT = {"shipyard": "Shipyard (onnx form)", "shipyard-native": "Shipyard (native)", "fastapi": "FastAPI", "mlflow": "mlflow (split)", "mlflow-inputs": "mlflow (inputs)"}
ANCHORS = ("fastapi", "mlflow", "mlflow-inputs")
SHIPYARD_KINDS = ("shipyard", "shipyard-native")
SERVER_KINDS = (*SHIPYARD_KINDS, "fastapi", "mlflow")
PROBA_TOLERANCE = 1e-4  # Shipyard's probabilities vs the estimator's predict_proba (labels must be equal)


# -- the models -------------------------------------------------------------------------------------
@dataclass
class Model:
    key: str  # logistic | boosted
    label: str
    frame: Any  # the rows requests are drawn from (pandas DataFrame)
    estimator: Any
    dir: Path
    name: str = ""  # registered model
    deployment: str = ""
    version: str = ""
    onnx: dict[str, Any] | None = None  # the recorded ONNX form (converter, parity) when to_onnx succeeded
    onnx_error: str = ""  # why to_onnx failed (the onnx-form server then serves the native model)

    @property
    def pickle(self) -> Path:
        return self.dir / "model.pkl"

    @property
    def mlflow_dir(self) -> Path:
        return self.dir / "mlflow-model"


def _fit_models(workdir: Path) -> list[Model]:
    import pandas as pd
    from sklearn.datasets import load_breast_cancer, make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    out = []
    data = load_breast_cancer(as_frame=True)
    x = data.data.copy()
    x.columns = [c.replace(" ", "_") for c in x.columns]
    lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, data.target)
    out.append(Model("logistic", "LogisticRegression (StandardScaler pipeline), breast cancer (30 features)", x, lr,
                     workdir / "logistic"))
    xb, yb = make_classification(n_samples=20_000, n_features=50, n_informative=25, random_state=0)
    frame = pd.DataFrame(xb, columns=[f"f{i}" for i in range(50)])
    try:
        import lightgbm as lgb

        boosted: Any = lgb.LGBMClassifier(n_estimators=200, max_depth=6, num_leaves=63, verbose=-1)
        label = "LightGBM 200 trees depth 6, make_classification (50 features)"
    except ImportError:
        from sklearn.ensemble import HistGradientBoostingClassifier

        boosted = HistGradientBoostingClassifier(max_iter=200, max_depth=6, early_stopping=False)
        label = "HistGradientBoosting 200 iterations depth 6, make_classification (50 features)"
    boosted.fit(frame, yb)
    out.append(Model("boosted", label, frame, boosted, workdir / "boosted"))
    return out


def _save_models(models: list[Model], home: Path) -> str:
    """Pickle, mlflow.sklearn.save_model, and register in Shipyard behind a deployment; the viewer token."""
    import pickle

    import mlflow.sklearn
    from mlflow.models import infer_signature

    import shipyard as sy
    from shipyard.access import issue_token
    from shipyard.config import get_settings
    from shipyard.registry import to_onnx
    from shipyard.workspace import current_workspace

    sy.init(home=str(home))
    for m in models:
        m.dir.mkdir(parents=True)
        m.pickle.write_bytes(pickle.dumps(m.estimator))
        example = m.frame[:5]
        mlflow.sklearn.save_model(m.estimator, str(m.mlflow_dir), serialization_format="cloudpickle",
                                  signature=infer_signature(example, m.estimator.predict(example)))
        with sy.start_run(experiment="bench-serving") as run:
            info = run.log_model(m.estimator, name="model", input_example=example)
        m.name, m.deployment = f"bench-{m.key}", f"bench-{m.key}-prod"
        version = sy.register_model(info.uri, m.name)
        try:  # the documented way to the fast runtime: convert, prove parity, attach the form to the version
            proven = to_onnx(f"models:/{m.name}/{version.version}")
            m.onnx = dict(proven.manifest["forms"]["onnx"])
            say(f"  {m.key}: ONNX form with {m.onnx.get('converter')} {m.onnx.get('converter_version')}, max |Δ| "
                f"{max(m.onnx['max_abs_diff_example'], m.onnx['max_abs_diff_sample']):.2g}")
        except Exception as exc:  # noqa: BLE001 - reported; that model is served natively
            traceback.print_exc()
            m.onnx_error = f"{type(exc).__name__}: {exc}"[:1000]
            say(f"  {m.key}: to_onnx failed, served natively: {m.onnx_error}")
        sy.set_alias(m.name, "champion", version.version)
        sy.deploy(m.deployment, routes={f"{m.name}@champion": 100}, reason="bench/serving")
        m.version = f"{m.name}/{version.version}"
        say(f"  {m.key}: registered {m.version} as {m.name}@champion, deployment {m.deployment}")
    store = current_workspace().metadata
    store.create_user("bench")  # type: ignore[attr-defined]
    _, secret = issue_token(store, "bench", get_settings().project, "viewer",  # type: ignore[arg-type]
                            description="bench/serving")
    return secret


def _bodies(model: Model, workdir: Path) -> dict[tuple[str, int], Path]:
    """One file per (variant, rows): BODIES[rows] JSON bodies, one per line, the same rows for every variant."""
    import numpy as np

    rng = np.random.default_rng(0)
    n = len(model.frame)
    picks = {rows: [rng.choice(n, rows, replace=False) for _ in range(BODIES[rows])] for rows in BODIES}
    out = {}
    for variant in VARIANT_NAMES:
        for rows, sets in picks.items():
            lines = [json.dumps(_body(variant, model.frame.iloc[idx]), separators=(",", ":")) for idx in sets]
            path = workdir / f"{model.key}-{variant}-{rows}.jsonl"
            path.write_text("\n".join(lines) + "\n")
            out[(variant, rows)] = path
    batches = {f"rows_{rows}": model.frame.iloc[sets[0]].to_numpy() for rows, sets in picks.items()}
    np.savez(workdir / f"{model.key}-batches.npz", **batches)
    return out


def _body(variant: str, frame: Any) -> Any:
    if variant in SHIPYARD_KINDS:
        return {"rows": frame.to_numpy().tolist()}  # the FastAPI app's body: a list of rows, signature order
    if variant == "fastapi":
        return frame.to_numpy().tolist()
    if variant == "mlflow":
        return {"dataframe_split": {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}}
    return {"inputs": frame.to_dict("list")}


# -- the servers ------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


LIVE: list[Server] = []  # every started server, stopped in main's finally (and on SIGTERM)


class Server:
    """One server process group pinned to SERVER_CORE: start (until its health check answers), CPU, stop."""

    def __init__(self, kind: str, model: Model, home: Path, workdir: Path) -> None:
        self.kind, self.model = kind, model
        self.dir = workdir / f"{model.key}-{kind}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.home = home
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.ready_s = 0.0
        self.proc_rc: int | None = None
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPYARD_", "MLFLOW_"))}
        # as in an activated venv: `mlflow models serve` runs `uvicorn` from PATH
        self.env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        if kind in SHIPYARD_KINDS:
            self.env["SHIPYARD_HOME"] = str(home)
            self.health, self.path = "/readyz", f"/v1/deployments/{model.deployment}/predict"
        elif kind == "mlflow":
            self.env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
            self.health, self.path = "/ping", "/invocations"
        else:
            self.env["BENCH_MODEL_PICKLE"] = str(model.pickle)
            self.health, self.path = "/ping", "/predict"

    def command(self, port: int) -> list[str]:
        bin_ = Path(sys.executable).parent
        host = ["--host", "127.0.0.1"]
        if self.kind in SHIPYARD_KINDS:
            runtime = ["--runtime", "native"] if self.kind == "shipyard-native" else []  # default: auto
            return [str(bin_ / "shipyard"), "serve", "--deployment", self.model.deployment, "--auth", *host,
                    "--port", str(port), *runtime]
        if self.kind == "mlflow":
            return [str(bin_ / "mlflow"), "models", "serve", "-m", str(self.model.mlflow_dir), "--env-manager",
                    "local", *host, "-p", str(port)]
        return [str(bin_ / "uvicorn"), "--app-dir", str(HERE), "_fastapi_app:app", "--workers", "1", *host,
                "--port", str(port), "--log-level", "warning", "--no-access-log"]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def display(self) -> str:
        argv = self.command(0)
        argv = [Path(argv[0]).name, *("<port>" if a == "0" and argv[i] in ("--port", "-p") else a
                                     for i, a in enumerate(argv[1:]))]  # argv[i] is the argument before a
        text = " ".join(a if a == "<port>" else shlex.quote(a) for a in argv)
        return text.replace(str(self.dir.parent), "<dir>").replace(str(HERE), "bench/serving")

    def start(self, timeout: float = 180.0) -> float:
        """Spawn (a fresh port per attempt, three attempts if the port was taken meanwhile); seconds until healthy."""
        for attempt in range(3):
            self.port = _free_port()
            log = (self.dir / "server.log").open("ab")
            t0 = time.perf_counter()
            self.proc = subprocess.Popen(["taskset", "-c", str(SERVER_CORE), *self.command(self.port)], cwd=self.dir,
                                         env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            log.close()
            LIVE.append(self)
            while time.perf_counter() - t0 < timeout:
                if self.proc.poll() is not None:
                    tail = self.log_tail()
                    self.stop()
                    if "address already in use" in tail.lower() and attempt < 2:
                        break
                    raise RuntimeError(f"{self.kind} server exited ({self.proc_rc}):\n{tail}")
                try:
                    with urllib.request.urlopen(self.url + self.health, timeout=5) as response:
                        if response.status == 200:
                            self.ready_s = time.perf_counter() - t0
                            return self.ready_s
                except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                    pass
                time.sleep(0.05)
            else:
                self.stop()
                raise RuntimeError(f"{self.kind} server not ready after {timeout:.0f} s:\n{self.log_tail()}")
        raise RuntimeError(f"{self.kind} server: no free port after three attempts")

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return (self.dir / "server.log").read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def pids(self) -> list[int]:
        return [pid for pid, _, _ in _proc.process_tree(self.proc.pid)] if self.proc is not None else []

    def cpu(self) -> float:
        """CPU seconds (user + system, all threads, waited-for children too) of the server's processes."""
        return sum(_proc.cpu_seconds(pid, children=True) for pid in self.pids())

    def stop(self) -> None:
        """SIGTERM to the process group (a graceful shutdown: Shipyard flushes its prediction log), SIGKILL after 20 s."""
        if self.proc is None:
            return
        pgid = self.proc.pid  # start_new_session=True: the group holds this server's processes only
        for sig, wait in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            if not _proc.group_alive(pgid):
                break
        try:
            os.killpg(pgid, signal.SIGKILL)  # anything of the group still there (a worker that outlived its parent)
        except ProcessLookupError:
            pass
        self.proc_rc = self.proc.wait(timeout=5)
        self.proc = None
        if self in LIVE:
            LIVE.remove(self)




def _post(url: str, body: str, token: str | None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")[:1000]


def _metrics(server: Server) -> dict[str, float]:
    """Shipyard's /metrics, summed over labels: batch sizes and requests by status code."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(server.url + "/metrics", timeout=10) as response:
            text = response.read().decode()
    except (urllib.error.URLError, OSError):
        return {}
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in ("shipyard_batch_size_sum", "shipyard_batch_size_count"):
                out[sample.name] = out.get(sample.name, 0.0) + sample.value
            elif sample.name == "shipyard_inference_requests_total":
                key = f"code {sample.labels.get('code')}"
                out[key] = out.get(key, 0.0) + sample.value
    return out


# -- the load ---------------------------------------------------------------------------------------
def wrk(server: Server, workload: Workload, bodies: Path, token: str | None, seconds: int) -> dict[str, Any]:
    """One wrk run on LOAD_CORE: its BENCH_RESULT plus the first non-2xx bodies."""
    argv = ["taskset", "-c", str(LOAD_CORE), "wrk", "-t1", f"-c{workload.concurrency}", f"-d{seconds}s",
            "--timeout", "10s", "-s", str(LUA), server.url + server.path]
    env = {**os.environ, "BENCH_BODIES": str(bodies), "BENCH_TOKEN": token or ""}
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=seconds + 60, check=False)
    result: dict[str, Any] | None = None
    samples = []
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            result = json.loads(line[len("BENCH_RESULT "):])
        elif line.startswith("BENCH_ERROR "):
            samples.append(line[len("BENCH_ERROR "):])
    if result is None:
        raise RuntimeError(f"wrk failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    result["samples"] = samples
    result["errors"] = (result["non2xx"] + result["connect"] + result["read"] + result["write"]
                        + result["timeout"])
    return result


def measure(server: Server, variant: str, workload: Workload, bodies: Path, token: str | None,
            seconds: int) -> dict[str, Any]:
    """A second of warm-up load, then the timed run with the server's CPU read around it."""
    warm = wrk(server, workload, bodies, token, 1)
    m0 = _metrics(server) if server.kind in SHIPYARD_KINDS else {}
    cpu0 = server.cpu()
    res = wrk(server, workload, bodies, token, seconds)
    cpu1 = server.cpu()
    m1 = _metrics(server) if server.kind in SHIPYARD_KINDS else {}
    res["warmup"] = {k: warm[k] for k in ("requests", "errors", "non2xx", "codes", "samples")}
    res["rows"] = workload.rows
    res["cpu_s"] = cpu1 - cpu0
    seconds_run = res["duration_us"] / 1e6
    res["rps"] = (res["requests"] - res["non2xx"]) / seconds_run  # answered with 2xx; errors are counted apart
    res["rows_per_s"] = res["rps"] * workload.rows
    res["cpu_ms_per_request"] = res["cpu_s"] / res["requests"] * 1000 if res["requests"] else None
    res["busy"] = res["cpu_s"] / seconds_run
    if m1:
        calls = m1.get("shipyard_batch_size_count", 0) - m0.get("shipyard_batch_size_count", 0)
        rows = m1.get("shipyard_batch_size_sum", 0) - m0.get("shipyard_batch_size_sum", 0)
        res["model_calls"] = calls
        res["rows_per_call"] = rows / calls if calls else None
        res["server_codes"] = {k[5:]: v - m0.get(k, 0) for k, v in m1.items() if k.startswith("code ")
                               and v - m0.get(k, 0)}
    say(f"    {SHORT[variant]:16} {workload.label:16} {res['rps']:9,.0f} req/s {res['rows_per_s']:10,.0f} rows/s  "
        f"p50 {res['p50_us'] / 1000:6.2f} ms  p99 {res['p99_us'] / 1000:6.2f} ms  errors {res['errors']}  "
        f"CPU {res['cpu_ms_per_request'] or 0:.3f} ms/req ({res['busy'] * 100:.0f}% of a core)"
        + (f"  {res['rows_per_call']:.1f} rows/model call" if res.get("rows_per_call") else ""))
    for sample in res["samples"][:3]:
        say(f"      non-2xx: {sample[:300]}")
    return res


def check_answers(server: Server, variant: str, model: Model, bodies: dict[tuple[str, int], Path],
                  token: str | None) -> dict[str, Any]:
    """The first 1-row and 100-row body of the variant: predictions equal to the estimator's own; for
    Shipyard also its probabilities, within PROBA_TOLERANCE of the estimator's ``predict_proba``."""
    import numpy as np

    out: dict[str, Any] = {}
    for rows in BODIES:
        body = bodies[(variant, rows)].read_text().splitlines()[0]
        status, answer = _post(server.url + server.path, body, token)
        frame = _frame_of(variant, json.loads(body), model)
        expected = model.estimator.predict(frame).tolist()
        got = answer.get("predictions") if isinstance(answer, dict) else None
        check: dict[str, Any] = {"status": status, "equal": got == expected}
        if variant in SHIPYARD_KINDS:
            probas = answer.get("probabilities") if isinstance(answer, dict) else None
            want = model.estimator.predict_proba(frame)
            try:
                diff = float(np.max(np.abs(np.asarray(probas, dtype=np.float64) - want)))
            except (TypeError, ValueError):  # missing, or of another shape
                diff = float("inf")
            check["proba_max_diff"] = diff
            check["equal"] = check["equal"] and diff <= PROBA_TOLERANCE
        if not check["equal"]:
            check["answer"] = str(answer)[:500]
        out[str(rows)] = check
    return out


def _platform(server: Server, token: str) -> str:
    """What the Shipyard server says it runs the deployment with (``/v2/models/NAME``: shipyard/<flavor>)."""
    request = urllib.request.Request(f"{server.url}/v2/models/{server.model.deployment}",
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return str(json.loads(response.read()).get("platform"))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"unknown ({type(exc).__name__}: {exc})"


def _frame_of(variant: str, body: Any, model: Model) -> Any:
    import pandas as pd

    if variant in SHIPYARD_KINDS:
        return pd.DataFrame(body["rows"], columns=model.frame.columns)
    if variant == "fastapi":
        return pd.DataFrame(body, columns=model.frame.columns)
    if variant == "mlflow":
        return pd.DataFrame(body["dataframe_split"]["data"], columns=body["dataframe_split"]["columns"])
    return pd.DataFrame(body["inputs"])


def serve_and_load(kind: str, model: Model, home: Path, workdir: Path, bodies: dict[tuple[str, int], Path],
                   token: str, seconds: int) -> dict[str, Any]:
    server = Server(kind, model, home, workdir)
    out: dict[str, Any] = {"argv": server.display, "runs": {}}
    say(f"  starting {kind}: {server.display}")
    try:
        out["ready_s"] = server.start()
        out["processes"] = len(server.pids())
        time.sleep(1.0)  # let it finish starting (mlflow's CLI, Shipyard's first refresh), then read it idle
        cpu0 = server.cpu()
        time.sleep(2.0)
        out["idle_cpu"] = (server.cpu() - cpu0) / 2.0
        say(f"  {kind} ready after {out['ready_s']:.1f} s ({out['processes']} process(es)); idle, it uses "
            f"{out['idle_cpu'] * 1000:.0f} ms of CPU per second")
        auth = token if kind in SHIPYARD_KINDS else None
        if kind in SHIPYARD_KINDS:  # auth is on: a request without the token is refused
            out["no_token_status"] = _post(server.url + server.path, bodies[("shipyard", 1)].read_text()
                                           .splitlines()[0], None)[0]
            out["platform"] = _platform(server, token)
            say(f"  {kind} serves {model.deployment} as {out['platform']}")
        for variant, vkind, workloads in VARIANTS:
            if vkind != kind:
                continue
            out.setdefault("checks", {})[variant] = check_answers(server, variant, model, bodies, auth)
            for workload in workloads:
                try:
                    out["runs"][f"{variant} {workload.key}"] = measure(
                        server, variant, workload, bodies[(variant, workload.rows)], auth, seconds)
                except Exception as exc:  # noqa: BLE001 - reported in the results; the other runs go on
                    traceback.print_exc()
                    out["runs"][f"{variant} {workload.key}"] = {"failed": f"{type(exc).__name__}: {exc}"[:600]}
                if server.proc is None or server.proc.poll() is not None:
                    raise RuntimeError(f"{kind} server died during {variant} {workload.label}:\n{server.log_tail()}")
    except Exception as exc:  # noqa: BLE001 - reported in the results; the other servers go on
        traceback.print_exc()
        out["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        server.stop()
        out["log_tail"] = server.log_tail(1500)
    return out


def inprocess_limit(model: Model, workdir: Path, seconds: float) -> dict[str, Any]:
    argv = ["taskset", "-c", str(SERVER_CORE), sys.executable, str(HERE / "_inprocess.py"), str(model.pickle),
            str(workdir / f"{model.key}-batches.npz"), str(seconds)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            return json.loads(line[len("BENCH_RESULT "):])  # type: ignore[no-any-return]
    raise RuntimeError(f"in-process limit failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def prediction_log(model: Model, home: Path) -> dict[str, Any]:
    """Rows and Parquet parts of the deployment's prediction log (read after the server stopped and flushed it)."""
    import shipyard as sy

    try:
        frame = sy.predictions(model.deployment, with_feedback=False)
    except Exception as exc:  # noqa: BLE001 - reported
        return {"error": f"{type(exc).__name__}: {exc}"[:400]}
    parts = list((home / "artifacts").glob(f"*/_predictions/{model.deployment}/date=*/*.parquet"))
    return {"rows": len(frame), "requests": int(frame["request_id"].nunique()) if len(frame) else 0,
            "parts": len(parts)}


# -- reading the results ----------------------------------------------------------------------------
def run_of(res: dict[str, Any], variant: str, workload: Workload) -> dict[str, Any] | None:
    kind = next(k for v, k, _ in VARIANTS if v == variant)
    got = res["servers"].get(kind, {}).get("runs", {}).get(f"{variant} {workload.key}")
    return got if got and "failed" not in got else None


def _cell(ok: bool | None, text: str) -> str:
    return f"— {text}" if ok is None else f"**{'pass' if ok else 'fail'}** {text}"


def targets(res: dict[str, Any]) -> list[list[str]]:
    """Per model and workload, Shipyard's targets: a cell per target ("—" where it does not apply)."""
    rows = []
    for wl in WORKLOADS:
        sy = run_of(res, "shipyard", wl)
        cells = [res["label"], wl.label + ("" if res.get("onnx") else " (native: to_onnx failed)")]
        if sy is None:
            rows.append([*cells, *(["not measured"] * 6)])
            continue
        single = wl.rows == 1
        loaded = single and wl.concurrency in (16, 64)
        cpu = sy["cpu_ms_per_request"]
        cells.append(_cell(cpu is not None and cpu < CPU_TARGET_MS, f"{cpu:.3f} ms") if single else "—")
        for variants, target in ((("fastapi",), FASTAPI_TARGET), (("mlflow", "mlflow-inputs"), MLFLOW_TARGET)):
            others = [r["rps"] for v in variants if (r := run_of(res, v, wl)) is not None]
            if not loaded:
                cells.append("—")
            elif not others:
                cells.append("not measured")
            else:
                ratio = sy["rps"] / max(others)
                cells.append(_cell(ratio >= target, f"{ratio:.2f}× ({sy['rps']:,.0f} vs {max(others):,.0f})"))
        cells.append(_cell(sy["errors"] == 0 and sy["warmup"]["errors"] == 0,
                           f"{sy['errors']}" + (f" (+{sy['warmup']['errors']} in warm-up)" if sy["warmup"]["errors"]
                                                else "")))
        p99 = sy["p99_us"] / 1000
        cells.append(_cell(p99 < P99_TARGET_MS, f"{p99:.1f} ms") if loaded else "—")
        if wl.rows == 1:
            cells.append("—")
        elif res["key"] == "logistic":
            best = max(((r["rows_per_s"], v) for v in ANCHORS if (r := run_of(res, v, wl)) is not None), default=None)
            cells.append("not measured" if best is None else _cell(
                sy["rows_per_s"] >= ANCHOR_ROWS_TARGET * best[0],
                f"{sy['rows_per_s'] / best[0]:.2f}× the best anchor ({SHORT[best[1]]}, {best[0]:,.0f} rows/s) — "
                f"target ≥ {ANCHOR_ROWS_TARGET:g}×"))
        else:
            limit = (res.get("inprocess") or {}).get(str(wl.rows), {}).get("rows_per_s")
            cells.append("not measured" if not limit else _cell(
                sy["rows_per_s"] >= INPROCESS_TARGET * limit,
                f"{sy['rows_per_s'] / limit * 100:.0f}% of in-process ({limit:,.0f} rows/s) — target ≥ "
                f"{INPROCESS_TARGET * 100:.0f}%"))
        rows.append(cells)
    return rows


TARGET_HEADER = [
    "Model", "Workload", f"Server CPU per 1-row request < {CPU_TARGET_MS} ms",
    f"req/s ≥ {FASTAPI_TARGET}× FastAPI", f"req/s ≥ {MLFLOW_TARGET:g}× mlflow models serve", "zero errors",
    f"p99 < {P99_TARGET_MS:g} ms", f"100 rows: ≥ {ANCHOR_ROWS_TARGET}× best anchor rows/s (logistic), "
    f"≥ {INPROCESS_TARGET * 100:.0f}% of in-process (boosted)",
]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def _shipyard_name(res: dict[str, Any], variant: str) -> str:
    if variant == "shipyard" and not res.get("onnx"):
        return "Shipyard (onnx form unavailable — to_onnx failed — so native)"
    return SHORT[variant]


def results_rows(res: dict[str, Any]) -> list[list[str]]:
    rows = []
    for wl in WORKLOADS:
        for variant, _kind, workloads in VARIANTS:
            if wl not in workloads:
                continue
            r = run_of(res, variant, wl)
            name = f"**{_shipyard_name(res, variant)}**" if variant in SHIPYARD_KINDS else VARIANT_NAMES[variant]
            if r is None:
                kind = next(k for v, k, _ in VARIANTS if v == variant)
                if kind not in res["servers"]:
                    continue  # not asked for (--servers)
                failed = res["servers"][kind].get("runs", {}).get(f"{variant} {wl.key}", {})
                rows.append([res["label"], wl.label, name, f"not measured ({failed.get('failed', 'server failed')})",
                             *([""] * 6)])
                continue
            errors = str(r["errors"])
            if r["errors"]:
                errors += " (" + ", ".join(f"{c}: {n}" for c, n in r["codes"].items()) + ")" if r["codes"] else ""
            cpu = r["cpu_ms_per_request"]
            batch = f"; {r['rows_per_call']:.1f} rows per model call" if r.get("rows_per_call") else ""
            rows.append([res["label"], wl.label, name, f"{r['rps']:,.0f}", f"{r['rows_per_s']:,.0f}",
                         f"{r['p50_us'] / 1000:.2f} ms", f"{r['p99_us'] / 1000:.2f} ms", errors,
                         "—" if cpu is None else f"{cpu:.3f} ms", f"{r['busy'] * 100:.0f}%{batch}"])
    return rows


RESULT_HEADER = ["Model", "Workload", "Server", "req/s", "rows/s", "p50", "p99", "errors (non-2xx + socket)",
                 "server CPU / request", "server CPU busy"]


def inprocess_rows(res: dict[str, Any]) -> list[list[str]]:
    rows = []
    for rows_n, stats in sorted((res.get("inprocess") or {}).items(), key=lambda kv: int(kv[0])):
        wl = Workload(int(rows_n), 16)
        ours = []
        for variant in SHIPYARD_KINDS:
            sy = run_of(res, variant, wl)
            ours.append("—" if sy is None else
                        f"{sy['rows_per_s']:,.0f} ({sy['rows_per_s'] / stats['rows_per_s'] * 100:.0f}%)")
        rows.append([res["label"], rows_n, f"{stats['rows_per_s']:,.0f}", f"{stats['us_per_call']:,.1f} µs", *ours])
    return rows


def errors_seen(res: dict[str, Any]) -> list[str]:
    out = []
    for kind, server in res["servers"].items():
        if "error" in server:
            out.append(f"- {res['label']}, {kind}: the server failed: `{server['error'][:600]}`")
        for key, run in server.get("runs", {}).items():
            if "failed" in run:
                out.append(f"- {res['label']}, {key}: `{run['failed']}`")
                continue
            for phase, got in (("warm-up", run["warmup"]), ("timed run", run)):
                if got["errors"]:
                    sockets = got["errors"] - got["non2xx"]
                    out.append(f"- {res['label']}, {SHORT[key.split()[0]]} {key.split()[1]}, {phase}: "
                               f"{got['non2xx']} non-2xx ({json.dumps(got['codes'])}), {sockets} socket errors"
                               + "".join(f"; `{s[:400]}`" for s in list(dict.fromkeys(got["samples"]))[:2]))
    return out


def consistency(res: dict[str, Any]) -> list[str]:
    out = []
    onnx = res.get("onnx")
    if onnx:
        out.append(f"- {res['label']}, ONNX form: `to_onnx` converted it with {onnx.get('converter')} "
                   f"{onnx.get('converter_version')} (opset {onnx.get('opset')}); recorded parity on "
                   f"{onnx.get('compared')}: max |Δ| {onnx.get('max_abs_diff_example', float('nan')):.2g} on the input "
                   f"example, {onnx.get('max_abs_diff_sample', float('nan')):.2g} on a sample of "
                   f"{onnx.get('sample_rows')} rows (tolerance {onnx.get('tolerance')})")
    elif res.get("onnx_error"):
        out.append(f"- {res['label']}, ONNX form: **`to_onnx` failed**, so the onnx-form row serves the native "
                   f"model: `{res['onnx_error'][:600]}`")
    for kind, server in res["servers"].items():
        for variant, checks in server.get("checks", {}).items():
            parts = []
            for rows, c in checks.items():
                proba = (f" (labels equal, probabilities max |Δ| {c['proba_max_diff']:.2g} ≤ {PROBA_TOLERANCE:g})"
                         if "proba_max_diff" in c and c["equal"] else "")
                parts.append(f"{rows} row(s) → HTTP {c['status']}, "
                             + (f"equal{proba}" if c["equal"] else
                                f"NOT EQUAL (probabilities max |Δ| {c.get('proba_max_diff', float('nan')):.2g}): "
                                + c["answer"]))
            out.append(f"- {res['label']}, {SHORT[variant]}: " + "; ".join(parts))
        if kind in SHIPYARD_KINDS and "platform" in server:
            out.append(f"- {res['label']}, {SHORT[kind]}: `/v2/models/<deployment>` reports platform "
                       f"`{server['platform']}`")
        if kind in SHIPYARD_KINDS and "no_token_status" in server:
            out.append(f"- {res['label']}, {SHORT[kind]} without the token: HTTP {server['no_token_status']} "
                       "(auth is on)")
    plog = res.get("prediction_log") or {}
    shipyards = [res["servers"][k] for k in SHIPYARD_KINDS if k in res["servers"]]
    sy_runs = [r for server in shipyards for r in server.get("runs", {}).values() if "failed" not in r]
    counted = (sum((r["requests"] + r["warmup"]["requests"]) * r["rows"] for r in sy_runs)
               + sum(BODIES) * sum(1 for server in shipyards if server.get("checks")))
    if "error" in plog:
        out.append(f"- {res['label']}, Shipyard prediction log: could not be read: `{plog['error']}`")
    elif plog:
        out.append(f"- {res['label']}, Shipyard prediction log (both Shipyard servers, one deployment): "
                   f"{plog['rows']:,} rows of {plog['requests']:,} "
                   f"requests in {plog['parts']} Parquet part(s) after the servers stopped; wrk and the checks counted "
                   f"{counted:,} rows answered (requests still in flight when wrk stops are answered but not counted)")
    return out


def render(results: list[dict[str, Any]], facts: dict[str, Any], command: str, started: str, elapsed: float,
           seconds: int, quick: bool) -> str:
    errors = [line for res in results for line in errors_seen(res)]
    servers = []
    for res in results[:1]:
        for kind, server in res["servers"].items():
            each = [(r["key"], r["servers"][kind]) for r in results if kind in r["servers"]]
            servers.append(
                f"- {kind}: `{server['argv']}` — {server.get('processes', '?')} process(es); ready after "
                + ", ".join(f"{s['ready_s']:.1f} s ({key})" for key, s in each if "ready_s" in s)
                + "; idle, its processes used "
                + ", ".join(f"{s['idle_cpu'] * 1000:.0f} ms ({key})" for key, s in each if "idle_cpu" in s)
                + " of CPU per second")
    lines = [
        HEADING,
        "",
        "Generated by `bench/serving/run.py`; do not edit by hand, re-run it (`make bench`).",
        "",
        f"- **Command:** `{command}` (run from the repository root){' — quick mode' if quick else ''}",
        f"- **Date:** {started} (whole run: {elapsed:.0f} s; {seconds} s per timed run after 1 s of warm-up load)",
        f"- **Machine:** {facts['cores']}; {facts['cpu']}; {facts['memory']} RAM; {facts['os']}",
        f"- **Pinning:** every server on core {SERVER_CORE} (`taskset -c {SERVER_CORE}`), `wrk -t1` on core "
        f"{LOAD_CORE}; the in-process limit on core {SERVER_CORE}",
        f"- **Versions:** Python {facts['python']}; Shipyard {facts['shipyard']}{facts['src_state']}; "
        f"{facts['libs']}; {facts['wrk']}",
        "",
        "### Targets (Shipyard; reported, not asserted)",
        "",
        "Judged on the **Shipyard (onnx form)** rows: the registered version given its proven ONNX form with "
        "`shipyard.registry.to_onnx(\"models:/<name>/<version>\")` (the documented way to the fast runtime; "
        f"the same model, its parity within {PROBA_TOLERANCE:g} recorded at conversion and checked again below) "
        "and served by `shipyard serve` with its default `--runtime auto`, which runs that form through "
        "onnxruntime. The **Shipyard (native)** rows (`--runtime native`, the estimator itself) are for reference "
        "and are not judged.",
        "",
        *_table(TARGET_HEADER, [row for res in results for row in targets(res)]),
        "",
        "### Results",
        "",
        *_table(RESULT_HEADER, [row for res in results for row in results_rows(res)]),
        "",
        "*server CPU busy*: the server's CPU seconds over the run's seconds (100% = the one core it is pinned to); "
        "for Shipyard, also the mean rows per model call of its micro-batching (from its /metrics).",
        "",
        "### In-process limit (`model.predict_proba` on a numpy batch in a loop, same core)",
        "",
        *_table(["Model", "Rows per call", "rows/s", "per call",
                 "Shipyard (onnx form) rows/s at c=16 (share of the limit)",
                 "Shipyard (native) rows/s at c=16 (share of the limit)"],
                [row for res in results for row in inprocess_rows(res)]),
        "",
        *(["### Errors seen", "", *errors, ""] if errors else []),
        "### Consistency",
        "",
        *[line for res in results for line in consistency(res)],
        "",
        "### Servers",
        "",
        *servers,
        "",
        *HOW,
    ]
    return "\n".join(lines) + "\n"


HOW = [
    "### How it is measured",
    "",
    "- One command, one machine, one server at a time. Each model is fitted once; the same fitted estimator is "
    "logged and registered in a temporary embedded Shipyard workspace, given its ONNX form with "
    "`shipyard.registry.to_onnx` (alias `champion`, a deployment routing "
    "100% to it, which logs every prediction), saved with `mlflow.sklearn.save_model` (cloudpickle, with a "
    "signature), and pickled for the FastAPI app.",
    "- Load: `wrk -t1 -c<concurrency> -d<seconds>s --timeout 10s -s bench/serving/_load.lua`, cycling through "
    f"{BODIES[1]} different 1-row bodies or {BODIES[100]} different 100-row bodies (the same rows for every "
    "server, in each server's format), each run after one second of untimed load at the same concurrency. "
    "Latency percentiles are wrk's (from its `done` callback); errors are non-2xx answers plus socket errors "
    "(connect, read, write, timeout); req/s and rows/s count 2xx answers only. wrk is closed-loop: each "
    "connection sends its next request when the answer arrives, so at c=16 and c=64 every server runs "
    "saturated and the latencies are mostly queueing.",
    "- Server CPU: user + system time of all the server's processes (all threads, including waited-for "
    "children) from /proc before and after the timed run, divided by the requests wrk completed. "
    "`mlflow models serve` is the `mlflow` CLI process plus the uvicorn it starts (1 worker); its CLI process "
    "idles.",
    "- Answers: before the load, one 1-row and one 100-row request per server and format, whose predictions "
    "must equal the estimator's own `predict` exactly; Shipyard's answers also carry probabilities, which must "
    f"be within {PROBA_TOLERANCE:g} (max absolute difference) of the estimator's `predict_proba`.",
    "- The two Shipyard rows serve the same deployment of the same registered version, one server after the "
    "other: the onnx-form server with the default `--runtime auto` (the version has a proven ONNX form, so "
    "onnxruntime runs it), the native server with `--runtime native`. Which one ran is read back from "
    "`/v2/models/<deployment>` (`platform`: `shipyard/onnx` or the native flavor).",
    "",
    "### Fairness notes",
    "",
    "- Shipyard does the most per request: token check, validation against the signature, its micro-batching "
    "queue (the deployment defaults: up to 64 rows, no added wait — a batch is whatever queued while the "
    "previous one was scored), class labels and probabilities in the answer, Prometheus metrics and the "
    "prediction log. Its response cache is off (the deployment default), so every request is scored; the "
    "request bodies repeat anyway (64 or 16 distinct ones). `mlflow models serve` validates "
    "against the signature and calls `predict`; the FastAPI app only parses `list[list[float]]` and calls "
    "`predict` (no probabilities in its answer).",
    "- Every server runs one process with its default settings (uvicorn's access log is off for the FastAPI "
    "app, as in `shipyard serve`; mlflow's is its default). uvloop and httptools are installed, so all three "
    "uvicorns use them.",
    "- The in-process limit is the native estimator's `predict_proba`; the onnx-form server runs onnxruntime "
    "instead, which can be faster than that limit per call, so its share of the limit can exceed what the "
    "native path could reach.",
    "- One core per server means the numbers are per core: a server with N workers on N cores scales by about "
    "N for all three. The machine may be shared and its speed drifts; the servers run one after the other, "
    "so ratios are the figures to compare, and they can move by tens of percent between runs.",
]


# -- main -------------------------------------------------------------------------------------------
def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _facts() -> dict[str, Any]:
    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    cpu, mem = "?", "?"
    try:
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), "?")
        mem = next((f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB" for line in
                    Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal:")), "?")
    except OSError:
        pass
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout.split("[")[0]
    return {
        "cores": f"{os.cpu_count()} logical ({len(os.sched_getaffinity(0))} usable by this process)",
        "cpu": cpu, "memory": mem, "os": platform.platform(), "python": platform.python_version(),
        "shipyard": f"{version('shipyard-mlops')} at {_git('describe', '--always', '--dirty', '--abbrev=12') or '?'}",
        "src_state": " (with uncommitted changes under src/, measured as they were)"
        if _git("status", "--porcelain", "--", "src") else "",
        "libs": ", ".join(f"{d} {version(d)}" for d in ("uvicorn", "uvloop", "httptools", "starlette", "fastapi",
                                                        "mlflow-skinny", "scikit-learn", "lightgbm", "onnxruntime",
                                                        "skl2onnx", "onnxmltools", "numpy", "pandas")),
        "wrk": wrk_version.strip() or "wrk",
    }


def _preflight() -> None:
    if shutil.which("wrk") is None:
        sys.exit("bench/serving/run.py needs wrk, the HTTP load generator: apt-get install wrk")
    if shutil.which("taskset") is None:
        sys.exit("bench/serving/run.py needs taskset (util-linux): apt-get install util-linux")
    usable = os.sched_getaffinity(0)
    if not {SERVER_CORE, LOAD_CORE} <= usable:
        sys.exit(f"bench/serving/run.py pins the servers to core {SERVER_CORE} and wrk to core {LOAD_CORE}; this "
                 f"process may use cores {sorted(usable)} only")
    bin_ = Path(sys.executable).parent
    for exe in ("shipyard", "mlflow", "uvicorn"):
        if not (bin_ / exe).exists():
            sys.exit(f"bench/serving/run.py needs {bin_ / exe}: install the project with its dev extra "
                     "(`make test` does, or `pip install -e '.[dev]'`)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per timed run (default 10)")
    parser.add_argument("--quick", action="store_true", help="3 s per timed run: a smoke run")
    parser.add_argument("--models", default="logistic,boosted", help="comma-separated: logistic, boosted")
    parser.add_argument("--servers", default=",".join(SERVER_KINDS),
                        help="comma-separated: shipyard (the onnx form), shipyard-native, fastapi, mlflow")
    parser.add_argument("--output", type=Path, default=BENCH / "RESULTS.md", help="default: bench/RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="print the section; leave RESULTS.md alone")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, bodies) under bench/.work")
    args = parser.parse_args()
    seconds = 3 if args.quick else max(1, args.duration)
    wanted_models = [m.strip() for m in args.models.split(",") if m.strip()]
    kinds = [s.strip() for s in args.servers.split(",") if s.strip()]
    if set(wanted_models) - {"logistic", "boosted"} or set(kinds) - set(SERVER_KINDS):
        parser.error(f"--models takes logistic,boosted; --servers takes {','.join(SERVER_KINDS)}")
    _preflight()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally below: no server left behind

    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    facts = _facts()
    WORK.mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="serving-", dir=WORK))
    t_start = time.perf_counter()
    results: list[dict[str, Any]] = []
    try:
        say("fitting the models")
        models = [m for m in _fit_models(workdir) if m.key in wanted_models]
        say("saving them: pickle, mlflow.sklearn.save_model, Shipyard registry + deployment + viewer token")
        token = _save_models(models, workdir / "shipyard-home")
        os.sched_setaffinity(0, {LOAD_CORE})  # this process stays off the servers' core
        for model in models:
            say(f"{model.label}")
            bodies = _bodies(model, workdir)
            res: dict[str, Any] = {"key": model.key, "label": model.label, "servers": {}, "onnx": model.onnx,
                                   "onnx_error": model.onnx_error}
            say("  in-process limit")
            res["inprocess"] = inprocess_limit(model, workdir, min(seconds, 5))
            for rows, stats in res["inprocess"].items():
                say(f"    {rows} row(s) per call: {stats['rows_per_s']:,.0f} rows/s ({stats['us_per_call']:.1f} µs/call)")
            for kind in kinds:
                res["servers"][kind] = serve_and_load(kind, model, workdir / "shipyard-home", workdir, bodies, token,
                                                      seconds)
            if set(SHIPYARD_KINDS) & set(kinds):
                res["prediction_log"] = prediction_log(model, workdir / "shipyard-home")
            results.append(res)
        elapsed = time.perf_counter() - t_start
        command = shlex.join([os.path.relpath(sys.executable, ROOT) if sys.executable.startswith(str(ROOT))
                              else sys.executable, *sys.argv])
        text = render(results, facts, command, started, elapsed, seconds, args.quick)
        (WORK / "serving-last.json").write_text(json.dumps({"facts": facts, "results": results}, indent=1,
                                                           default=str))
        print("\n" + text)
        if not args.no_write:
            write_section(args.output, text, HEADING)
            say(f"wrote the section {HEADING!r} of {os.path.relpath(args.output.resolve(), ROOT)} ({elapsed:.0f} s)")
        return 0
    finally:
        for server in list(LIVE):
            server.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
