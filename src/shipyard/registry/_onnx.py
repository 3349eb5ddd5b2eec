"""ONNX forms of registered versions: convert, prove parity, store beside the native package."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.entities import ModelVersion
from shipyard.exceptions import ContractViolation, IntegrityError, InvalidParameter
from shipyard.models import LoadedModel
from shipyard.models._onnx import convert
from shipyard.models.flavors import get_flavor
from shipyard.models.flavors._onnx import OnnxPredictor, session_for
from shipyard.tracking._artifacts import store_for

if TYPE_CHECKING:
    from shipyard.registry._registry import Registry

ONNX_FILE = "onnx/model.onnx"


def to_onnx(registry: Registry, model_uri: str, sample: Any | None = None, tolerance: float = 1e-4) -> ModelVersion:
    """Convert the registered version ``model_uri`` to ONNX, record the parity, and attach the ONNX
    form to the version. Refused (nothing stored) when the difference exceeds ``tolerance``."""
    version = registry.resolve_version(model_uri)
    model = registry.load_model(version.uri)
    data, report = convert(model, sample)
    worst = max(report["max_abs_diff_example"], report["max_abs_diff_sample"])
    if not worst <= tolerance:
        raise ContractViolation(
            f"The ONNX conversion of {version.uri} differs from the native model by up to {worst:.3g} "
            f"(tolerance {tolerance:g}; example {report['max_abs_diff_example']:.3g}, sample "
            f"{report['max_abs_diff_sample']:.3g}). Not registered. Raise tolerance= only if that error is acceptable."
        )
    store = store_for(registry.workspace, version.storage_uri)
    size, sha = store.write(ONNX_FILE, data)
    if version.run_id is not None and version.source.startswith("runs:/"):
        package_path = version.source.removeprefix("runs:/").split("/", 1)[1]
        registry.store.record_artifact(version.run_id, f"{package_path}/{ONNX_FILE}", size, sha)
    manifest = dict(version.manifest)
    forms = dict(manifest.get("forms", {}))
    forms["onnx"] = {"file": ONNX_FILE, "sha256": sha, "size": size, "tolerance": tolerance, **report}
    manifest["forms"] = forms
    return registry.store.update_model_version(registry.project, version.name, version.version, manifest=manifest)  # type: ignore[no-any-return]


def load_onnx_form(registry: Registry, version: ModelVersion, root: Path, extra: str) -> LoadedModel:
    form = version.manifest.get("forms", {}).get("onnx")
    if not form:
        raise InvalidParameter(
            f"{version.uri} has no proven ONNX form. Create one with sy.models.to_onnx('{version.uri}')."
        )
    file = root / form["file"]
    if not file.is_file():
        store = store_for(registry.workspace, version.storage_uri)
        file.parent.mkdir(parents=True, exist_ok=True)
        with store.open_reader(form["file"]) as src:
            file.write_bytes(src.read())
    actual = hashlib.sha256(file.read_bytes()).hexdigest()
    if actual != form["sha256"]:
        raise IntegrityError(f"{version.uri}: ONNX file {form['file']!r} expected sha256 {form['sha256']}, got {actual}.")
    from shipyard.models._signature import input_columns

    predictor = OnnxPredictor(session_for(file), form, input_columns(version.manifest.get("signature")))
    return LoadedModel(root, dict(version.manifest), version.manifest_sha256, predictor, get_flavor("onnx"), extra)
