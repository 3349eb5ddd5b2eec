"""``shipyard serve``: the inference server for models and deployments."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from shipyard.cli._output import console


def serve(
    models: Annotated[Optional[list[str]], typer.Argument(help="Models to serve: models:/name@alias or models:/name/3.")] = None,
    deployment: Annotated[Optional[list[str]], typer.Option("--deployment", "-d", help="A deployment to serve (repeatable).")] = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 9000,
    workers: Annotated[int, typer.Option(help="Worker processes (each loads the models).")] = 1,
    max_queue: Annotated[int, typer.Option(help="Requests one model may queue before answering 503.")] = 1024,
    reload_seconds: Annotated[float, typer.Option(help="How often to check for moved aliases and changed deployments "
                                                        "(new models are loaded and warmed, then swapped in; 0: never).")] = 2.0,
    auth: Annotated[bool, typer.Option("--auth/--no-auth", help="Require a viewer token of the project (Authorization: Bearer sy_…).")] = False,
    rate_limit: Annotated[Optional[float], typer.Option(help="Requests/s per token (or client address without auth); over it: 429 with Retry-After.")] = None,
    burst: Annotated[Optional[int], typer.Option(help="Requests a caller may send at once above the rate (default: the rate).")] = None,
    runtime: Annotated[str, typer.Option(help="auto: a version's proven ONNX form through onnxruntime when it has one, "
                                              "else the native model; native: always the native model; onnx: the "
                                              "ONNX form wherever there is one.")] = "auto",
) -> None:
    """Serve models and deployments: /v1/.../predict, the Open Inference Protocol (/v2), MLflow's /invocations, /metrics."""
    import uvicorn

    from shipyard.config import configure, export_environment

    names = [*(models or []), *(deployment or [])]
    spec = {"models": list(models or []), "deployments": list(deployment or []), "max_queue": max_queue,
            "reload_seconds": reload_seconds, "rate_limit": rate_limit, "burst": burst, "runtime": runtime}
    if not names:
        raise typer.BadParameter("give a model (models:/name@alias) or --deployment NAME")
    settings = configure(serve_targets=json.dumps(spec), server_auth=auth or None)
    from shipyard.serving._app import app_from_settings

    app_from_settings()  # load everything once here: a bad reference fails before any worker starts
    export_environment(settings)
    console.print(f"Serving {', '.join(names)} on http://{host}:{port} "
                  "(/v1/models/<ref>/predict, /v1/deployments/<name>/predict, /v2, /invocations, /metrics)")
    uvicorn.run("shipyard.serving._app:app_from_settings", factory=True, host=host, port=port, workers=workers,
                log_level="warning", access_log=False)
