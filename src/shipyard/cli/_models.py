"""``shipyard models ...``"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.tree import Tree

from shipyard.cli._output import console, fmt_ms, print_json, table

app = typer.Typer(help="Registered models: versions, aliases, cards, lineage.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _registry() -> Any:
    from shipyard.registry import registry

    return registry()


def _uri(ref: str) -> str:
    """Accept ``name/3``, ``name@alias`` and ``name`` (latest) besides full URIs."""
    if ref.startswith(("models:/", "runs:/")) or Path(ref).exists():
        return ref
    if "@" in ref or "/" in ref:
        return f"models:/{ref}"
    return f"models:/{ref}/latest"


def _version_dict(mv: Any) -> dict[str, Any]:
    return {
        "name": mv.name, "version": mv.version, "status": mv.status.value, "aliases": list(mv.aliases),
        "flavor": mv.flavor, "source": mv.source, "run_id": mv.run_id, "storage_uri": mv.storage_uri,
        "manifest_sha256": mv.manifest_sha256, "signed": bool(mv.package_signature), "created_at": mv.created_at,
        "created_by": mv.created_by, "description": mv.description, "tags": dict(mv.tags),
        "onnx": bool(mv.manifest.get("forms", {}).get("onnx")),
    }


@app.command("list")
def list_(
    name_like: Annotated[Optional[str], typer.Option("--name-like", help="SQL LIKE pattern, e.g. 'flight%'.")] = None,
    alias: Annotated[Optional[str], typer.Option(help="Only models that have this alias.")] = None,
    tag: Annotated[Optional[list[str]], typer.Option(help="key=value (repeatable).")] = None,
    json_: JsonOpt = False,
) -> None:
    """List registered models."""
    tags = dict(t.split("=", 1) for t in tag or [])
    models = _registry().search_models(name_like, tags, alias)
    if json_:
        print_json([{"name": m.name, "latest_version": m.latest_version, "aliases": dict(m.aliases), "tags": dict(m.tags),
                     "description": m.description, "updated_at": m.updated_at} for m in models])
        return
    rows = [(m.name, m.latest_version, ", ".join(f"@{a}→{v}" for a, v in sorted(m.aliases.items())), fmt_ms(m.updated_at)) for m in models]
    console.print(table("Registered models", ["name", "latest", "aliases", "updated"], rows))


@app.command()
def show(name: str, json_: JsonOpt = False) -> None:
    """One model: description, tags, aliases and its versions."""
    reg = _registry()
    model = reg.get_model(name)
    versions = reg.search_versions(name)
    if json_:
        print_json({"name": model.name, "description": model.description, "tags": dict(model.tags),
                    "aliases": dict(model.aliases), "versions": [_version_dict(v) for v in versions]})
        return
    console.print(f"[bold]{model.name}[/]  {model.description or ''}")
    console.print(f"aliases: {', '.join(f'@{a} → v{v}' for a, v in sorted(model.aliases.items())) or '—'}   tags: {dict(model.tags) or '—'}")
    versions_table(versions)


def versions_table(versions: list[Any]) -> None:
    rows = [(v.version, v.status.value, ", ".join(f"@{a}" for a in v.aliases), v.flavor, (v.run_id or "—")[:8],
             fmt_ms(v.created_at), "yes" if v.manifest.get("forms", {}).get("onnx") else "") for v in versions]
    console.print(table("versions", ["version", "status", "aliases", "flavor", "run", "registered", "onnx"], rows))


@app.command()
def versions(name: str, json_: JsonOpt = False) -> None:
    """List the versions of a model, newest first."""
    found = _registry().search_versions(name)
    if not found:
        _registry().get_model(name)  # raises NotFound with suggestions
    if json_:
        print_json([_version_dict(v) for v in found])
        return
    versions_table(found)


@app.command()
def register(
    model_uri: Annotated[str, typer.Argument(help="runs:/<run id>/<path> or a local package directory.")],
    name: str,
    description: Annotated[Optional[str], typer.Option(help="Version description.")] = None,
    tag: Annotated[Optional[list[str]], typer.Option(help="key=value (repeatable).")] = None,
) -> None:
    """Register a logged model as the next version of NAME."""
    mv = _registry().register_model(model_uri, name, description=description, tags=dict(t.split("=", 1) for t in tag or []))
    console.print(f"Registered [bold]{mv.name}[/] version {mv.version} ({mv.status.value}) from {mv.source}.")


@app.command()
def alias(
    name: str,
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS")],
    version: Annotated[Optional[int], typer.Argument(help="Version to point at (omit with --delete or --history).")] = None,
    reason: Annotated[Optional[str], typer.Option(help="Why (kept in the alias history).")] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias.")] = False,
    history: Annotated[bool, typer.Option("--history", help="Show every move of the alias.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Move an alias (atomic, recorded), remove it, or show its history."""
    reg = _registry()
    if history:
        events = reg.alias_history(name, alias_name)
        if json_:
            print_json([{"alias": e.alias, "version": e.version, "previous_version": e.previous_version,
                         "actor": e.actor, "reason": e.reason, "at": e.at} for e in events])
            return
        rows = [(fmt_ms(e.at), e.previous_version, e.version if e.version is not None else "removed", e.actor, e.reason) for e in events]
        console.print(table(f"@{alias_name} of {name}", ["when (UTC)", "from", "to", "who", "why"], rows))
        return
    if delete:
        reg.delete_alias(name, alias_name, reason)
        console.print(f"Removed @{alias_name} from {name}.")
        return
    if version is None:
        raise typer.BadParameter("give the VERSION to point the alias at, or --delete / --history")
    event = reg.set_alias(name, alias_name, version, reason)
    moved = f" (was v{event.previous_version})" if event.previous_version is not None else ""
    console.print(f"{name}@{alias_name} → version {version}{moved}.")


@app.command()
def archive(name: str, version: int) -> None:
    """Archive a version (refused while an alias points to it)."""
    _registry().archive_version(name, version)
    console.print(f"Archived {name} version {version}.")


@app.command()
def card(
    ref: Annotated[str, typer.Argument(help="NAME/VERSION, NAME@ALIAS or a models:/ URI.")],
    json_: JsonOpt = False,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write to this file.")] = None,
) -> None:
    """The model card of a version, from the records (Markdown, or JSON with --json)."""
    from shipyard.registry._card import card_data, card_markdown

    data = card_data(_registry(), _uri(ref))
    text = json.dumps(data, indent=2, default=str) if json_ else card_markdown(data)
    if output:
        output.write_text(text)
        console.print(f"Wrote {output}")
    elif json_:
        print_json(data)
    else:
        from rich.markdown import Markdown

        console.print(Markdown(text))


@app.command()
def lineage(
    ref: Annotated[str, typer.Argument(help="NAME/VERSION, NAME@ALIAS, a models:/ URI or runs:/<id>.")],
    json_: JsonOpt = False,
) -> None:
    """What a version was built from: datasets → run → model version, as a tree."""
    from shipyard.registry._lineage import lineage as build

    graph = build(_registry(), _uri(ref))
    if json_:
        print_json({"root": graph.root,
                    "nodes": [{"id": n.id, "kind": n.kind, "label": n.label, "attributes": dict(n.attributes)} for n in graph.nodes],
                    "edges": [{"source": e.source, "target": e.target, "relation": e.relation} for e in graph.edges]})
        return

    def grow(tree: Tree, node_id: str, seen: set[str]) -> None:
        for edge in graph.edges:
            if edge.target == node_id and edge.source not in seen:
                src = graph.node(edge.source)
                branch = tree.add(f"[dim]{edge.relation}[/] [bold]{src.kind}[/] {src.label} {_attrs(src)}")
                grow(branch, src.id, seen | {src.id})

    root = graph.node(graph.root)
    tree = Tree(f"[bold]{root.kind}[/] {root.label} {_attrs(root)}")
    grow(tree, root.id, {root.id})
    console.print(tree)


def _attrs(node: Any) -> str:
    keys = {"dataset": ("rows", "digest"), "run": ("run_id", "status"), "model_version": ("status", "aliases")}.get(node.kind, ())
    parts = []
    for k in keys:
        val = node.attributes.get(k)
        if val in (None, [], ""):
            continue
        parts.append(f"{k}={str(val)[:12] if k in ('digest', 'run_id') else val}")
    return f"[dim]({', '.join(parts)})[/]" if parts else ""


@app.command()
def download(
    ref: Annotated[str, typer.Argument(help="NAME/VERSION, NAME@ALIAS, or a models:/ / runs:/ URI.")],
    dest: Annotated[Path, typer.Option("--dest", "-d", help="New directory to write the package into.")],
) -> None:
    """Download a verified model package."""
    target = _registry().download(_uri(ref), dest)
    console.print(f"Downloaded to {target}")


@app.command()
def onnx(
    ref: Annotated[str, typer.Argument(help="NAME/VERSION or NAME@ALIAS of a scikit-learn, LightGBM or XGBoost model.")],
    tolerance: Annotated[float, typer.Option(help="Largest accepted |native − onnx| difference.")] = 1e-4,
) -> None:
    """Convert a version to ONNX, prove parity, and attach the ONNX form (refused over tolerance)."""
    from shipyard.registry._onnx import to_onnx

    mv = to_onnx(_registry(), _uri(ref), tolerance=tolerance)
    form = mv.manifest["forms"]["onnx"]
    console.print(f"{mv.uri} now carries an ONNX form: max |Δ| {form['max_abs_diff_example']:.2e} (example), "
                  f"{form['max_abs_diff_sample']:.2e} ({form['sample_rows']} sample rows).")


@app.command()
def keygen(
    private: Annotated[Path, typer.Option(help="Where to write the Ed25519 private key (PEM).")],
    public: Annotated[Path, typer.Option(help="Where to write the public key (PEM).")],
) -> None:
    """Create a signing key pair; set model_signing_key / model_verify_key to use it."""
    from shipyard.models._manifest import generate_keypair

    generate_keypair(str(private), str(public))
    console.print(f"Wrote {private} and {public}. Set SHIPYARD_MODEL_SIGNING_KEY={private} where models are registered "
                  f"and SHIPYARD_MODEL_VERIFY_KEY={public} where they are loaded.")
