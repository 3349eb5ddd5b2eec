"""Prometheus metrics of the inference server (names per ../shared/reference/PROTOCOLS.md §3): one
registry per server, low-cardinality labels (model, version, endpoint, protocol, status code)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Metrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("shipyard_inference_requests", "Inference requests.",
                                ["model", "version", "endpoint", "protocol", "code"], registry=r)
        self.duration = Histogram("shipyard_inference_request_duration_seconds", "Time to answer a request.",
                                  ["model", "endpoint", "protocol"], registry=r,
                                  buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
        self.batch_size = Histogram("shipyard_batch_size", "Rows scored per model call.", ["model", "version"], registry=r,
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096))
        self.queue_wait = Histogram("shipyard_batch_queue_wait_seconds", "Time the first request of a batch waited.",
                                    ["model", "version"], registry=r,
                                    buckets=(0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1))
        self.dispatch = Counter("shipyard_batch_dispatch", "Batches dispatched, by why.", ["model", "version", "reason"],
                                registry=r)
        self.depth = Gauge("shipyard_batch_queue_depth", "Requests waiting in a model's queue.", ["model", "version"],
                           registry=r)
        self.loaded = Gauge("shipyard_model_loaded", "1 for each model version loaded.", ["model", "version"], registry=r)
        self.load_seconds = Gauge("shipyard_model_load_seconds", "Time to load and warm a model version.",
                                  ["model", "version"], registry=r)
        self.routes = Counter("shipyard_route_requests", "Requests per deployment route.", ["endpoint", "variant"],
                              registry=r)
        self.cache = Counter("shipyard_response_cache", "Response-cache lookups, by result (hit, miss).",
                             ["endpoint", "result"], registry=r)
        self._children: dict[tuple[Any, ...], Any] = {}
        self.shadow_failures = Counter("shipyard_shadow_failures", "Shadow calls that failed.", ["endpoint", "variant"],
                                       registry=r)

    def request(self, model: str, version: str, endpoint: str, protocol: str, code: int, seconds: float) -> None:
        self._child(self.requests, model, version, endpoint, protocol, str(code)).inc()
        self._child(self.duration, model, endpoint, protocol).observe(seconds)

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:  # labels() takes a lock and builds a key each time: resolve once per label set
            if len(self._children) > 10_000:
                self._children.clear()
            child = self._children[key] = metric.labels(*labels)
        return child

    def batch(self, labels: tuple[str, str], rows: int, waited: float, reason: str) -> None:
        self._child(self.batch_size, *labels).observe(rows)
        self._child(self.queue_wait, *labels).observe(waited)
        self._child(self.dispatch, *labels, reason).inc()

    def queue_depth(self, labels: tuple[str, str], read: Callable[[], int]) -> None:
        self.depth.labels(*labels).set_function(read)

    def model_loaded(self, model: str, version: str, seconds: float) -> None:
        self.loaded.labels(model, version).set(1)
        self.load_seconds.labels(model, version).set(seconds)

    def route(self, endpoint: str, variant: str) -> None:
        self._child(self.routes, endpoint, variant).inc()

    def cache_lookup(self, endpoint: str, hit: bool) -> None:
        self._child(self.cache, endpoint, "hit" if hit else "miss").inc()

    def shadow_failed(self, endpoint: str, variant: str) -> None:
        self.shadow_failures.labels(endpoint, variant).inc()

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
