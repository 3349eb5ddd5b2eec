"""Model packages on local disk: ``save_model`` writes one, ``load_model`` verifies and loads it."""

from __future__ import annotations

import json
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

from shipyard._internal._time import now_ms
from shipyard.exceptions import ConfigError, InvalidParameter
from shipyard.models import _manifest
from shipyard.models._signature import enforce, infer_signature, to_frame
from shipyard.models.flavors import Flavor, Predictor, detect_flavor, get_flavor

_BASE_REQUIREMENTS = ("numpy", "pandas")


class FrameworkVersionWarning(UserWarning):
    """The framework installed now differs from the one the model was saved with."""


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _requirements(flavor: Flavor, extra: list[str] | None) -> list[str]:
    pins = list(flavor.requirements())
    for dist in _BASE_REQUIREMENTS:
        v = _version(dist)
        if v and not any(r.startswith(dist + "==") for r in pins):
            pins.append(f"{dist}=={v}")
    return sorted(set(pins + list(extra or [])))


def _example_to_json(example: Any) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(example, pd.DataFrame):
        return {"type": "dataframe", "data": json.loads(example.to_json(orient="split", index=False, date_format="iso"))}
    array = np.asarray(example)
    return {"type": "array", "dtype": str(array.dtype), "data": array.tolist()}


def example_from_json(data: dict[str, Any]) -> Any:
    import numpy as np
    import pandas as pd

    if data["type"] == "dataframe":
        split = data["data"]
        return pd.DataFrame(split["data"], columns=split["columns"])
    return np.asarray(data["data"], dtype=data["dtype"])


def save_model(
    model: Any,
    path: str | Path,
    *,
    input_example: Any | None = None,
    signature: dict[str, Any] | None = None,
    flavor: str | None = None,
    requirements: list[str] | None = None,
    artifacts: dict[str, str] | None = None,
    metadata_: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], str]:
    """Write a model package into the empty (or new) directory ``path``.

    The signature is inferred from ``input_example`` (and the model's output on it) unless given.
    Returns ``(manifest, manifest sha256)``.

    Raises:
        InvalidParameter: no flavor for the model, or ``path`` is not empty.
    """
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise InvalidParameter(f"Cannot save a model into {root}: the directory is not empty.")
    chosen = get_flavor(flavor) if flavor else detect_flavor(model)
    if artifacts and chosen.name != "python":
        raise InvalidParameter("artifacts= is only for sy.PythonModel models; log other files with run.log_artifact.")
    example = None
    if input_example is not None:
        if hasattr(input_example, "shape"):
            example = input_example
        elif isinstance(input_example, dict) or (isinstance(input_example, list) and input_example and isinstance(input_example[0], dict)):
            example = to_frame(input_example)
        else:
            import numpy as np

            example = np.asarray(input_example)
    if chosen.name == "python":
        config = chosen.save(model, root, example, artifacts=artifacts)  # type: ignore[call-arg]
    else:
        config = chosen.save(model, root, example)
    example_file = None
    if example is not None:
        (root / "input_example.json").write_text(json.dumps(_example_to_json(example)))
        example_file = "input_example.json"
        if signature is None:
            output = chosen.load(root, config).predict(example)
            signature = infer_signature(example, output)
    pins = _requirements(chosen, requirements)
    (root / "requirements.txt").write_text("\n".join(pins) + "\n")
    manifest = _manifest.build(
        flavor=chosen.name,
        framework=chosen.framework,
        framework_version=chosen.framework_version(),
        requirements=pins,
        signature=signature,
        input_example=example_file,
        flavor_config=config,
        files=_manifest.file_hashes(root),
        shipyard_version=_version("shipyard-mlops") or "0",
        created_at=now_ms(),
        metadata=metadata_,
    )
    digest = _manifest.write_manifest(root, manifest)
    return manifest, digest


class LoadedModel:
    """A verified, loaded model package: ``predict`` takes a DataFrame, a dict of columns, a list of
    records or an array, checks it against the signature, and calls the model."""

    def __init__(self, root: Path, manifest: dict[str, Any], digest: str, predictor: Predictor, flavor: Flavor,
                 extra: str = "drop") -> None:
        self.root = root
        self.manifest = manifest
        self.manifest_sha256 = digest
        self.flavor = flavor.name
        self.signature: dict[str, Any] | None = manifest.get("signature")
        self._predictor = predictor
        self._input_kind = flavor.input_kind
        self.extra = extra

    def __repr__(self) -> str:
        return f"<LoadedModel flavor={self.flavor} from {self.root}>"

    def prepare(self, data: Any) -> Any:
        """The input as the model receives it (validated against the signature)."""
        prepared = enforce(data, self.signature, self.extra)
        if self._input_kind == "array" and hasattr(prepared, "to_numpy"):
            return prepared.to_numpy()
        return prepared

    def predict(self, data: Any) -> Any:
        return self._predictor.predict(self.prepare(data))

    def predict_proba(self, data: Any) -> Any:
        return self._predictor.predict_proba(self.prepare(data))

    def run(self, data: Any, *, proba: bool = False) -> Any:
        """Call the model on input already checked against the signature — the serving path validates
        each request as it arrives and scores the batch with one call: a DataFrame in signature order
        or, where :attr:`takes_matrix`, a 2-D array in signature column order."""
        if self._input_kind == "array" and hasattr(data, "to_numpy"):
            data = data.to_numpy()
        return self._predictor.predict_proba(data) if proba else self._predictor.predict(data)

    def run_both(self, data: Any) -> tuple[Any, Any]:
        """(predictions, probabilities) of input already checked, as :meth:`run`."""
        if self._input_kind == "array" and hasattr(data, "to_numpy"):
            data = data.to_numpy()
        return self._predictor.predict_both(data)  # type: ignore[no-any-return]

    @property
    def takes_matrix(self) -> bool:
        return self._input_kind == "array" or self._predictor.takes_matrix

    @property
    def has_proba(self) -> bool:
        return self._predictor.has_proba

    @property
    def native(self) -> Any:
        """The framework object (estimator, booster, module, ONNX session)."""
        return self._predictor.native

    def input_example(self) -> Any | None:
        name = self.manifest.get("input_example")
        if not name:
            return None
        return example_from_json(json.loads((self.root / name).read_text()))


def load_model(path: str | Path, *, expected_sha256: str | None = None, extra: str = "drop") -> LoadedModel:
    """Verify every file's sha256, then load the package at ``path``.

    Raises:
        NotFound: not a model package.
        IntegrityError: a file is missing or tampered with (nothing was unpickled).
        ConfigError: the model's framework is not installed (the message names the extra).
        InvalidParameter: unknown flavor.
    """
    root = Path(path)
    manifest, digest = _manifest.read_and_verify(root, expected_sha256)
    flavor = get_flavor(manifest["flavor"])
    saved = manifest.get("framework", {}).get("version")
    installed = flavor.framework_version()
    if installed is None and flavor.framework:
        raise ConfigError(
            f"This {flavor.name} model needs the Python package '{flavor.framework}' ({saved or 'any version'}), "
            f"which is not installed. Install it with: pip install 'shipyard-mlops[{flavor.extra or flavor.name}]'"
        )
    if saved and installed and saved != installed:
        warnings.warn(
            f"The model in {root} was saved with {flavor.framework} {saved}, but {installed} is installed; "
            "predictions may differ. Pin the saved version to be sure.",
            FrameworkVersionWarning,
            stacklevel=2,
        )
    try:
        predictor = flavor.load(root, manifest.get("flavor_config", {}))
    except ImportError as exc:
        raise ConfigError(
            f"Loading this {flavor.name} model failed to import {exc.name or exc}: install it with "
            f"pip install 'shipyard-mlops[{flavor.extra or flavor.name}]'"
        ) from exc
    return LoadedModel(root, manifest, digest, predictor, flavor, extra)
