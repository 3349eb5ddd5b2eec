"""Shipyard: one MLOps platform, from experiment tracking to serving and monitoring.

This module is the users' facade only: names load on first use, so ``import shipyard`` stays
cheap (no SQLAlchemy, pandas or web framework until a call needs them)::

    import shipyard as sy
    sy.set_project("flights")
    with sy.start_run(experiment="delay-baseline") as run:
        run.log_params({"max_depth": 6})
        run.log_metric("auc", 0.91)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from shipyard._internal._version import VERSION as __version__

_EXPORTS: dict[str, str] = {
    # tracking, module-level API
    "init": "shipyard.tracking._fluent",
    "connect": "shipyard.tracking._fluent",
    "set_project": "shipyard.tracking._fluent",
    "start_run": "shipyard.tracking._fluent",
    "active_run": "shipyard.tracking._fluent",
    "end_run": "shipyard.tracking._fluent",
    "log_param": "shipyard.tracking._fluent",
    "log_params": "shipyard.tracking._fluent",
    "log_metric": "shipyard.tracking._fluent",
    "log_metrics": "shipyard.tracking._fluent",
    "set_tag": "shipyard.tracking._fluent",
    "set_tags": "shipyard.tracking._fluent",
    "log_artifact": "shipyard.tracking._fluent",
    "log_dataset": "shipyard.tracking._fluent",
    "flush": "shipyard.tracking._fluent",
    "get_run": "shipyard.tracking._fluent",
    "search_runs": "shipyard.tracking._fluent",
    "get_metric_history": "shipyard.tracking._fluent",
    "compare_runs": "shipyard.tracking._fluent",
    "create_experiment": "shipyard.tracking._fluent",
    "list_experiments": "shipyard.tracking._fluent",
    "download_artifacts": "shipyard.tracking._fluent",
    # model registry
    "register_model": "shipyard.registry._fluent",
    "set_alias": "shipyard.registry._fluent",
    "delete_alias": "shipyard.registry._fluent",
    "load_model": "shipyard.registry._fluent",
    "lineage": "shipyard.registry._fluent",
    "PythonModel": "shipyard.models",
    "Registry": "shipyard.registry._registry",
    # deployments and their predictions
    "deploy": "shipyard.serving._fluent",
    "predictions": "shipyard.monitoring._fluent",
    "monitor": "shipyard.monitoring._monitor",
    # feature store definitions
    "Entity": "shipyard.features._definitions",
    "FeatureView": "shipyard.features._definitions",
    "ParquetSource": "shipyard.features._definitions",
    "CsvSource": "shipyard.features._definitions",
    "SqlSource": "shipyard.features._definitions",
    "Aggregation": "shipyard.features._definitions",
    "on_demand": "shipyard.features._definitions",
    # classes
    "TrackingClient": "shipyard.tracking._client",
    "ActiveRun": "shipyard.tracking._run",
    "RunStatus": "shipyard.entities",
    "Run": "shipyard.entities",
    "Experiment": "shipyard.entities",
    "ShipyardError": "shipyard.exceptions",
}

#: Subpackages reachable as attributes: ``sy.registry.alias_at(...)``, ``sy.models.save_model(...)``.
_MODULES = {"registry": "shipyard.registry", "models": "shipyard.models", "serving": "shipyard.serving",
            "monitoring": "shipyard.monitoring", "data": "shipyard.data", "features": "shipyard.features"}

__all__ = sorted([*_EXPORTS, *_MODULES, "__version__"])

if TYPE_CHECKING:
    from shipyard import data, features, models, monitoring, registry, serving
    from shipyard.entities import Experiment, Run, RunStatus
    from shipyard.exceptions import ShipyardError
    from shipyard.features._definitions import (
        Aggregation,
        CsvSource,
        Entity,
        FeatureView,
        ParquetSource,
        SqlSource,
        on_demand,
    )
    from shipyard.models import PythonModel
    from shipyard.monitoring._fluent import predictions
    from shipyard.monitoring._monitor import monitor
    from shipyard.registry._fluent import delete_alias, lineage, load_model, register_model, set_alias
    from shipyard.registry._registry import Registry
    from shipyard.serving._fluent import deploy
    from shipyard.tracking._client import TrackingClient
    from shipyard.tracking._fluent import (
        active_run,
        compare_runs,
        connect,
        create_experiment,
        download_artifacts,
        end_run,
        flush,
        get_metric_history,
        get_run,
        init,
        list_experiments,
        log_artifact,
        log_dataset,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        search_runs,
        set_project,
        set_tag,
        set_tags,
        start_run,
    )
    from shipyard.tracking._run import ActiveRun


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(_MODULES[name])
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'shipyard' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
