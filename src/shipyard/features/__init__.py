"""The feature store: definitions (:class:`Entity`, :class:`FeatureView`, sources, window
:class:`Aggregation` and :func:`on_demand` views) recorded as versioned records (:func:`plan`,
:func:`apply`), point-in-time-correct training sets (:func:`training_set`), materialization into the
online store (:func:`materialize`, :func:`materialize_incremental`) and online reads (:func:`online`).
"""

from shipyard.features._definitions import (
    Aggregation,
    CsvSource,
    Entity,
    FeatureView,
    OnDemandFeatureView,
    ParquetSource,
    SqlSource,
    on_demand,
)
from shipyard.features._fluent import apply, definitions, get_view, materializations, plan
from shipyard.features._offline import TrainingSet, feature_lineage, training_set
from shipyard.features._online import (
    MaterializeReport,
    OnlineFeatures,
    materialize,
    materialize_incremental,
    online,
)
from shipyard.features._pit import point_in_time_join
from shipyard.features._registry import load_module

__all__ = [
    "Aggregation", "CsvSource", "Entity", "FeatureView", "MaterializeReport", "OnDemandFeatureView", "OnlineFeatures",
    "ParquetSource", "SqlSource", "TrainingSet", "apply", "definitions", "feature_lineage", "get_view", "load_module",
    "materialize", "materialize_incremental", "materializations", "on_demand", "online", "plan", "point_in_time_join",
    "training_set",
]
