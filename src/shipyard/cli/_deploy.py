"""``shipyard deploy ...``: deployments as registry records (create, update, promote, rollback, status,
history)."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from shipyard.cli._output import console, fmt_ms, print_json, table

app = typer.Typer(help="Deployments: routes with traffic weights, shadows, sticky keys, and their history.",
                  no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
RouteOpt = Annotated[list[str], typer.Option("--route", help="MODEL=WEIGHT, e.g. flight-delay@champion=90 (repeatable; weights add up to 100).")]
ShadowOpt = Annotated[Optional[list[str]], typer.Option("--shadow", help="A model mirrored without answering, e.g. flight-delay/7 (repeatable).")]
StickyOpt = Annotated[Optional[str], typer.Option("--sticky-key", help="Request field whose value always reaches the same route.")]
ReasonOpt = Annotated[Optional[str], typer.Option(help="Why (kept in the deployment history).")]
BatchOpt = Annotated[Optional[int], typer.Option("--max-batch-size", help="Largest micro-batch (1-4096).")]
WaitOpt = Annotated[Optional[int], typer.Option("--max-wait-ms", help="Hold a micro-batch open this long for more rows (0-1000 ms; 0: batch what is queued).")]
CacheOpt = Annotated[Optional[int], typer.Option("--cache-size", help="Response cache entries (0 turns the cache off).")]
TtlOpt = Annotated[Optional[int], typer.Option("--cache-ttl", help="Seconds a cached response lives (1-86400).")]


def _deployments() -> Any:
    from shipyard.serving import deployments

    return deployments()


def _routes(specs: list[str]) -> dict[str, int]:
    routes: dict[str, int] = {}
    for spec in specs:
        model, sep, weight = spec.rpartition("=")
        if not sep or not model or not weight.strip().isdigit():
            raise typer.BadParameter(f"--route {spec!r}: write MODEL=WEIGHT, e.g. flight-delay@champion=90.")
        routes[model.strip()] = int(weight)
    return routes

FeatureOpt = Annotated[Optional[list[str]], typer.Option("--feature", help="Read this 'view:feature' from the online "
                                                         "store by the request's entity keys (repeatable).")]


def _dict(d: Any) -> dict[str, Any]:
    return {"name": d.name, "revision": d.revision, "state": d.state.value,
            "routes": [{"model": r.model, "weight": r.weight} for r in d.routes], "shadow": list(d.shadow),
            "sticky_key": d.sticky_key, "config": dict(d.config), "updated_at": d.updated_at}


def _change(name: str, route: list[str], shadow: list[str] | None, sticky_key: str | None, config: dict[str, Any],
            reason: str | None, must_exist: bool | None) -> None:
    from shipyard.exceptions import AlreadyExists, NotFound

    deps = _deployments()
    if must_exist is not None:
        try:
            deps.store.get_deployment(deps.project, name)
            exists = True
        except NotFound:
            exists = False
        if must_exist and not exists:
            raise NotFound(f"No deployment {name!r}: create it with `shipyard deploy create {name} --route ...`.")
        if not must_exist and exists:
            raise AlreadyExists(f"Deployment {name!r} exists: change it with `shipyard deploy update {name} --route ...`.")
    d = deps.deploy(name, _routes(route), shadow=shadow or (), sticky_key=sticky_key, reason=reason, **config)
    console.print(f"{'Created' if d.revision == 1 else 'Updated'}: {deps.status(name).describe()}")


@app.command()
def create(name: str, route: RouteOpt, shadow: ShadowOpt = None, sticky_key: StickyOpt = None,
           max_batch_size: BatchOpt = None, max_wait_ms: WaitOpt = None, cache_size: CacheOpt = None,
           cache_ttl: TtlOpt = None, reason: ReasonOpt = None, feature: FeatureOpt = None) -> None:
    """Create a deployment."""
    config = {"max_batch_size": max_batch_size, "max_wait_ms": max_wait_ms, "cache_size": cache_size, "cache_ttl_s": cache_ttl,
              "features": feature}
    _change(name, route, shadow, sticky_key, config, reason, must_exist=False)


@app.command()
def update(name: str, route: RouteOpt, shadow: ShadowOpt = None, sticky_key: StickyOpt = None,
           max_batch_size: BatchOpt = None, max_wait_ms: WaitOpt = None, cache_size: CacheOpt = None,
           cache_ttl: TtlOpt = None, reason: ReasonOpt = None, feature: FeatureOpt = None) -> None:
    """Replace a deployment's routes, shadows and sticky key (a new revision; the old one stays in the history)."""
    config = {"max_batch_size": max_batch_size, "max_wait_ms": max_wait_ms, "cache_size": cache_size, "cache_ttl_s": cache_ttl,
              "features": feature}
    _change(name, route, shadow, sticky_key, config, reason, must_exist=True)


@app.command()
def promote(name: str, model: Annotated[str, typer.Argument(help="The model that takes all traffic, e.g. flight-delay@challenger.")],
            reason: ReasonOpt = None) -> None:
    """Send all traffic to one model in a single atomic switch."""
    deps = _deployments()
    deps.promote(name, model, reason=reason)
    console.print(f"Promoted: {deps.status(name).describe()}")


@app.command()
def rollback(name: str, reason: ReasonOpt = None) -> None:
    """Return to the state before the current revision."""
    deps = _deployments()
    deps.rollback(name, reason=reason)
    console.print(f"Rolled back: {deps.status(name).describe()}")


@app.command()
def status(name: str,
           at: Annotated[Optional[str], typer.Option(help="What served at this time instead (ISO-8601 or epoch ms).")] = None,
           json_: JsonOpt = False) -> None:
    """What a deployment serves now (each route with the version it reaches), or at a past time."""
    deps = _deployments()
    if at is not None:
        event = deps.at(name, int(at) if at.isdigit() else at)
        if event is None:
            console.print(f"{name} did not exist at {at}.")
            raise typer.Exit(1)
        if json_:
            print_json({"name": name, "revision": event.revision, "at": event.at, "state": event.state.value,
                        "routes": [{"model": r.model, "weight": r.weight} for r in event.routes],
                        "shadow": list(event.shadow), "sticky_key": event.sticky_key})
            return
        routes = ", ".join(f"{r.model} {r.weight}%" for r in event.routes)
        console.print(f"{name} r{event.revision} (since {fmt_ms(event.at)}, {event.action} by {event.actor}): {routes}")
        return
    st = deps.status(name)
    if json_:
        print_json({**_dict(st.deployment), "versions": dict(st.versions)})
        return
    console.print(st.describe())


@app.command()
def history(name: str, json_: JsonOpt = False) -> None:
    """Every change of a deployment: who, what, when, why."""
    events = _deployments().history(name)
    if json_:
        print_json([{"revision": e.revision, "action": e.action, "actor": e.actor, "reason": e.reason, "at": e.at,
                     "state": e.state.value, "routes": [{"model": r.model, "weight": r.weight} for r in e.routes],
                     "shadow": list(e.shadow)} for e in events])
        return
    rows = [(e.revision, fmt_ms(e.at), e.action, e.actor, ", ".join(f"{r.model} {r.weight}%" for r in e.routes),
             ", ".join(e.shadow), e.reason) for e in events]
    console.print(table(f"{name} history", ["rev", "when (UTC)", "action", "who", "routes", "shadow", "why"], rows))


@app.command("list")
def list_(json_: JsonOpt = False) -> None:
    """Deployments of the project."""
    items = _deployments().list()
    if json_:
        print_json([_dict(d) for d in items])
        return
    rows = [(d.name, d.revision, d.state.value, ", ".join(f"{r.model} {r.weight}%" for r in d.routes), fmt_ms(d.updated_at))
            for d in items]
    console.print(table("Deployments", ["name", "rev", "state", "routes", "updated"], rows))
