"""Deferred imports of optional dependencies, with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from shipyard.exceptions import ConfigError


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise a ConfigError telling which ``shipyard-mlops[extra]`` to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(
            f"{purpose} needs the Python package '{module.split('.')[0]}', which is not installed. "
            f"Install it with: pip install 'shipyard-mlops[{extra}]'"
        ) from exc
