"""Model cards, generated from the records: metrics, params, datasets with hashes, signature,
requirements and lineage of one version."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from shipyard._internal._time import ms_to_datetime
from shipyard.exceptions import NotFound

if TYPE_CHECKING:
    from shipyard.registry._registry import Registry


def card_data(registry: Registry, model_uri: str) -> dict[str, Any]:
    version = registry.resolve_version(model_uri)
    model = registry.get_model(version.name)
    run = None
    datasets: list[dict[str, Any]] = []
    if version.run_id:
        try:
            run = registry.store.get_run(version.run_id)
            datasets = [
                {"name": d.dataset.name, "role": d.role, "direction": d.direction, "rows": d.dataset.num_rows,
                 "digest": d.dataset.digest, "source": d.dataset.source,
                 "columns": [c["name"] for c in d.dataset.schema.get("columns", [])]}
                for d in registry.store.list_run_datasets(run.id)
            ]
        except NotFound:
            run = None
    manifest = version.manifest
    return {
        "model": version.name,
        "version": version.version,
        "uri": version.uri,
        "status": version.status.value,
        "aliases": list(version.aliases),
        "description": version.description or model.description,
        "tags": {**dict(model.tags), **dict(version.tags)},
        "created_at": str(ms_to_datetime(version.created_at)),
        "created_by": version.created_by,
        "flavor": version.flavor,
        "framework": manifest.get("framework"),
        "python": manifest.get("python"),
        "requirements": manifest.get("requirements", []),
        "signature": dict(version.signature),
        "files": manifest.get("files", {}),
        "manifest_sha256": version.manifest_sha256,
        "signed": bool(version.package_signature),
        "onnx": manifest.get("forms", {}).get("onnx"),
        "run": None if run is None else {
            "id": run.id, "name": run.name, "experiment_id": run.experiment_id, "status": run.status.value,
            "git_commit": run.git_commit, "git_dirty": run.git_dirty,
            "params": dict(run.params),
            "metrics": {k: (None if isinstance(val, float) and math.isnan(val) else val) for k, val in run.metrics.items()},
        },
        "datasets": datasets,
        "lineage": f"shipyard models lineage {version.name}/{version.version}",
    }


def card_markdown(data: dict[str, Any]) -> str:
    lines = [f"# {data['model']} — version {data['version']}", ""]
    if data["description"]:
        lines += [data["description"], ""]
    aliases = ", ".join(f"@{a}" for a in data["aliases"]) or "none"
    lines += [
        f"- **URI**: `{data['uri']}` · **status**: {data['status']} · **aliases**: {aliases}",
        f"- **flavor**: {data['flavor']} ({(data['framework'] or {}).get('name')} {(data['framework'] or {}).get('version')}), Python {data['python']}",
        f"- **registered**: {data['created_at']} by {data['created_by'] or 'unknown'}",
        f"- **manifest sha256**: `{data['manifest_sha256']}`{' (signed)' if data['signed'] else ''}",
        "",
    ]
    run = data["run"]
    if run:
        git = f" at git `{run['git_commit'][:12]}`{' (dirty)' if run['git_dirty'] else ''}" if run["git_commit"] else ""
        lines += ["## Training run", "", f"Run `{run['name']}` (`{run['id']}`), experiment {run['experiment_id']}{git}.", ""]
        if run["metrics"]:
            lines += ["| metric | value |", "|---|---|"] + [f"| {k} | {_fmt(v)} |" for k, v in sorted(run["metrics"].items())] + [""]
        if run["params"]:
            lines += ["| param | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in sorted(run["params"].items())] + [""]
    if data["datasets"]:
        lines += ["## Data", "", "| dataset | role | rows | sha256 |", "|---|---|---|---|"]
        lines += [f"| {d['name']} | {d['role']} ({d['direction']}) | {d['rows']:,} | `{d['digest'][:16]}…` |" for d in data["datasets"]]
        lines.append("")
    signature = data["signature"]
    if signature:
        lines += ["## Signature", ""]
        inputs = signature.get("inputs", {})
        if inputs.get("type") == "columns":
            lines += ["| input column | dtype | nullable |", "|---|---|---|"]
            lines += [f"| {c['name']} | {c['dtype']} | {c.get('nullable', False)} |" for c in inputs["columns"]]
        elif inputs:
            lines.append(f"Input tensor {inputs.get('dtype')} shape {inputs.get('shape')}")
        if signature.get("outputs"):
            out = signature["outputs"]
            lines += ["", f"Output: {out.get('type')} {out.get('dtype', '')} shape {out.get('shape', '')}"]
        lines.append("")
    if data["onnx"]:
        o = data["onnx"]
        lines += ["## ONNX form", "", f"Converted with {o['converter']} {o['converter_version']}; max |native − onnx| = "
                  f"{o['max_abs_diff_example']:.2e} on the example, {o['max_abs_diff_sample']:.2e} on {o['sample_rows']} sample rows "
                  f"(tolerance {o['tolerance']:g}).", ""]
    lines += ["## Requirements", "", "```", *data["requirements"], "```", "", f"Lineage: `{data['lineage']}`", ""]
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    return "—" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
