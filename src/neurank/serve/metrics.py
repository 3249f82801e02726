"""Prometheus metrics of one app: request counts, latency histograms, errors, batch sizes."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

disable_created_metrics()  # the *_created series double the output and say nothing useful here

# milliseconds matter here: most buckets sit below 100 ms
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1,
                    0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServiceMetrics:
    """A registry per app, so several apps (tests) never share counters."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("neurank_requests_total", "HTTP requests by endpoint and status",
                                ["method", "endpoint", "status"], registry=self.registry)
        self.latency = Histogram("neurank_request_duration_seconds",
                                 "Time from request to response, by endpoint",
                                 ["method", "endpoint"], buckets=_LATENCY_BUCKETS,
                                 registry=self.registry)
        self.errors = Counter("neurank_errors_total", "Responses with status >= 400, by kind",
                              ["endpoint", "kind"], registry=self.registry)
        self.in_flight = Gauge("neurank_requests_in_flight", "Requests being handled",
                               registry=self.registry)
        self.batch_size = Histogram("neurank_search_batch_size",
                                    "Queries searched together (micro-batching)",
                                    buckets=(1, 2, 4, 8, 16, 32, 64), registry=self.registry)
        self.documents = Gauge("neurank_collection_documents", "Documents in the collection",
                               registry=self.registry)

    def observe(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(method, endpoint, str(status)).inc()
        self.latency.labels(method, endpoint).observe(seconds)
        if status >= 400:
            kind = "server" if status >= 500 else ("rate_limited" if status == 429 else "client")
            self.errors.labels(endpoint, kind).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
