"""Lineage as a query over records: dataset → run → model version (later: features, deployments,
predictions)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.entities import LineageEdge, LineageGraph, LineageNode
from shipyard.entities._tracking import frozen_map
from shipyard.exceptions import NotFound
from shipyard.registry._uris import parse

if TYPE_CHECKING:
    from shipyard.registry._registry import Registry


def lineage(registry: Registry, uri: str) -> LineageGraph:
    """The lineage graph upstream of a model version (``models:/…``) or a run (``runs:/<id>``)."""
    nodes: dict[str, LineageNode] = {}
    edges: list[LineageEdge] = []
    if uri.startswith("runs:/") and uri.count("/") == 1:
        run_id = uri.removeprefix("runs:/")
        root = f"run:{run_id}"
        _add_run(registry, run_id, nodes, edges)
        return LineageGraph(root, tuple(nodes.values()), tuple(edges))
    ref = parse(uri)
    if ref.kind == "run":
        root = f"run:{ref.run_id}"
        _add_run(registry, ref.run_id or "", nodes, edges)
        return LineageGraph(root, tuple(nodes.values()), tuple(edges))
    version = registry.resolve_version(uri)
    root = f"model:{version.name}/{version.version}"
    nodes[root] = LineageNode(root, "model_version", f"{version.name} v{version.version}", frozen_map({
        "status": version.status.value, "aliases": list(version.aliases), "flavor": version.flavor,
        "manifest_sha256": version.manifest_sha256,
    }))
    if version.run_id:
        _add_run(registry, version.run_id, nodes, edges)
        edges.append(LineageEdge(f"run:{version.run_id}", root, "registered as"))
    return LineageGraph(root, tuple(nodes.values()), tuple(edges))


def _add_run(registry: Registry, run_id: str, nodes: dict[str, LineageNode], edges: list[LineageEdge]) -> None:
    try:
        run = registry.store.get_run(run_id)
    except NotFound:
        nodes[f"run:{run_id}"] = LineageNode(f"run:{run_id}", "run", f"{run_id} (deleted)")
        return
    node_id = f"run:{run.id}"
    nodes[node_id] = LineageNode(node_id, "run", run.name, frozen_map({
        "run_id": run.id, "experiment_id": run.experiment_id, "status": run.status.value, "git_commit": run.git_commit,
    }))
    for link in registry.store.list_run_datasets(run.id):
        ds = link.dataset
        ds_id = f"dataset:{ds.id}"
        nodes[ds_id] = LineageNode(ds_id, "dataset", ds.name, frozen_map({
            "digest": ds.digest, "rows": ds.num_rows, "source": ds.source,
        }))
        views = (ds.profile.get("features") or {}).get("views") or {}
        for view, version in sorted(views.items()):  # a training set: the feature views it was built from
            fv_id = f"feature_view:{view}@v{version}"
            nodes[fv_id] = LineageNode(fv_id, "feature_view", f"{view} v{version}", frozen_map({
                "view": view, "version": version}))
            edges.append(LineageEdge(fv_id, ds_id, "features of"))
        if link.direction == "input":
            edges.append(LineageEdge(ds_id, node_id, f"{link.role} input of"))
        else:
            edges.append(LineageEdge(node_id, ds_id, f"produced ({link.role})"))
    if run.parent_run_id:
        parent = f"run:{run.parent_run_id}"
        if parent not in nodes:
            try:
                p = registry.store.get_run(run.parent_run_id)
                nodes[parent] = LineageNode(parent, "run", p.name, frozen_map({"run_id": p.id}))
            except NotFound:
                nodes[parent] = LineageNode(parent, "run", f"{run.parent_run_id} (deleted)")
        edges.append(LineageEdge(parent, node_id, "parent of"))
