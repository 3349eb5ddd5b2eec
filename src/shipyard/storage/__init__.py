"""Metadata store port (L2): the interface, the filter language, and (in ``_sql``) the SQL backend."""

from shipyard.storage._filter import ATTRIBUTES, OrderBy, parse_filter, parse_order_by
from shipyard.storage.base import ExperimentStore, LineageStore, MetadataStore, RunStore

__all__ = [
    "ATTRIBUTES",
    "ExperimentStore",
    "LineageStore",
    "MetadataStore",
    "OrderBy",
    "RunStore",
    "parse_filter",
    "parse_order_by",
]
