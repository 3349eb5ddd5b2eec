"""PyTorch ``nn.Module`` (CPU). Saved as TorchScript when the module scripts (or traces with the input
example), so loading needs no user code; otherwise the whole module is pickled (its class must be
importable where it is loaded)."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from shipyard._internal._lazy import require
from shipyard.models.flavors.base import Flavor, Predictor, module_root, to_numpy_2d


@contextlib.contextmanager
def _quiet_jit() -> Iterator[None]:
    """TorchScript is deprecated in favour of torch.export, but it is what loads without the user's
    code across torch versions; keep its deprecation notice out of users' logs."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=r".*torch\.jit.*")
        yield


class _TorchPredictor(Predictor):
    def __init__(self, module: Any, dtype: str) -> None:
        self.module = module
        self.dtype = dtype

    def predict(self, data: Any) -> Any:
        torch = require("torch", "torch", "Running a PyTorch model")
        array = to_numpy_2d(data, self.dtype)
        with torch.no_grad():
            out = self.module(torch.from_numpy(array))
        return out.detach().cpu().numpy()

    @property
    def native(self) -> Any:
        return self.module


class TorchFlavor(Flavor):
    name = "pytorch"
    framework = "torch"
    module = "torch"
    extra = "torch"
    input_kind = "array"

    def accepts(self, model: Any) -> bool:
        return "torch" in module_root(model) and hasattr(model, "forward")

    def save(self, model: Any, path: Path, input_example: Any | None) -> dict[str, Any]:
        torch = require("torch", self.extra, "Saving a PyTorch model")
        model = model.eval()
        dtype = "float32"
        with _quiet_jit():
            try:
                scripted = torch.jit.script(model)
                kind = "torchscript"
            except Exception:  # noqa: BLE001 - not scriptable: trace with the example, else pickle
                scripted, kind = None, "pickle"
                if input_example is not None:
                    try:
                        example = torch.from_numpy(to_numpy_2d(input_example, dtype))
                        with torch.no_grad():
                            scripted = torch.jit.trace(model, example)
                        kind = "torchscript"
                    except Exception:  # noqa: BLE001
                        scripted = None
            if scripted is not None:
                torch.jit.save(scripted, str(path / "model.pt"))
            else:
                torch.save(model, str(path / "model.pt"))
        return {"model_file": "model.pt", "format": kind, "input_dtype": dtype,
                "class": f"{type(model).__module__}.{type(model).__qualname__}"}

    def load(self, path: Path, config: dict[str, Any]) -> Predictor:
        torch = require("torch", self.extra, "Loading a PyTorch model")
        file = str(path / config["model_file"])
        if config.get("format") == "torchscript":
            with _quiet_jit():
                module = torch.jit.load(file, map_location="cpu")
        else:
            module = torch.load(file, map_location="cpu", weights_only=False)
        return _TorchPredictor(module.eval(), config.get("input_dtype", "float32"))
