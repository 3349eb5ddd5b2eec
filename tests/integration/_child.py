"""Child processes for the concurrency and crash tests (run as a script; settings from SHIPYARD_*)."""

from __future__ import annotations

import sys
import time


def concurrent_writer(worker: int, runs: int, values: int) -> None:
    from shipyard.tracking._fluent import client

    c = client()
    for r in range(runs):
        run = c.start_run(experiment="concurrency", run_name=f"w{worker}-r{r}")
        for i in range(values):
            run.log_metric(f"m{i % 5}", float(worker * 1_000_000 + r * 1000 + i), step=i // 5)
        run.end()
    print("done", flush=True)


def log_forever() -> None:
    from shipyard.tracking._fluent import start_run

    run = start_run(experiment="crash")
    i = 0
    while True:
        run.log_metric("m", float(i), step=i)
        i += 1
        if i == 2000:
            run.flush()
            print(f"ready {run.id}", flush=True)
        time.sleep(0.0005)


def upload_forever(tmp: str) -> None:
    from shipyard.tracking._fluent import start_run

    class Slow:
        def __init__(self) -> None:
            self.sent = 0

        def read(self, n: int = -1) -> bytes:
            self.sent += 1
            if self.sent == 3:
                print(f"uploading {run.id}", flush=True)
            if self.sent > 2:
                time.sleep(0.2)
            return b"z" * (1024 * 1024)

    run = start_run(experiment="crash")
    run.log_text("complete", "ok.txt")
    from shipyard.tracking._artifacts import upload_stream

    upload_stream(run._client.workspace, run.id, run.artifact_uri, "model/huge.bin", Slow())  # type: ignore[arg-type]


def buffered_then_wait(values: int, mode: str) -> None:
    from shipyard.tracking._fluent import start_run

    run = start_run(experiment="exit")
    for i in range(values):
        run.log_metric("m", float(i), step=i)
    print(f"ready {run.id}", flush=True)
    if mode == "sleep":
        time.sleep(60)
    elif mode == "raise":
        raise RuntimeError("boom at top level")
    # mode == "exit": fall off the end of the script without ending the run


def register_many(uri: str, count: int) -> None:
    from shipyard.registry import register_model

    for _ in range(count):
        register_model(uri, "shared-model")
    print("done", flush=True)


def move_alias(worker: int, count: int) -> None:
    from shipyard.registry import set_alias

    for i in range(count):
        set_alias("shared-model", "champion", 1 + (worker + i) % 3, reason=f"w{worker}-{i}")
    print("done", flush=True)


if __name__ == "__main__":
    name, *args = sys.argv[1:]
    if name == "concurrent_writer":
        concurrent_writer(*(int(a) for a in args))
    elif name == "log_forever":
        log_forever()
    elif name == "upload_forever":
        upload_forever(*args)
    elif name == "register_many":
        register_many(args[0], int(args[1]))
    elif name == "move_alias":
        move_alias(int(args[0]), int(args[1]))
    elif name == "buffered":
        buffered_then_wait(int(args[0]), args[1])
