"""The feature store (issue 7, in progress): so far the point-in-time join that training sets are
built on (:func:`point_in_time_join`); definitions, materialization and online serving come next."""

from shipyard.features._pit import point_in_time_join

__all__ = ["point_in_time_join"]
