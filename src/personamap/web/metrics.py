"""Prometheus metrics of the web service, right across gunicorn workers.

prometheus_client keeps counters per process. Under ``personamap serve`` every worker writes its
values to memory-mapped files in ``PROMETHEUS_MULTIPROC_DIR`` and a scrape, answered by whichever
worker, sums them all (prometheus_client's multiprocess mode). The variable must be set before
``prometheus_client`` is first imported; the ``serve`` command does that. In-process (tests, a
single uvicorn) each app keeps its own registry.

In multiprocess mode every update of a value locks, checks the process id (a system call) and
writes the memory-mapped file: a few microseconds, several times per request, a fifth of a
single-customer request's time measured under load. So counter increments and latencies are
collected in plain Python and written once per event-loop iteration (under load a worker answers
several requests per iteration); a scrape first writes what its own worker has pending.
"""

from __future__ import annotations

import asyncio
import os
from bisect import bisect_left
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from time import perf_counter
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from starlette.routing import BaseRoute, Route

from personamap.errors import ConfigError

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
UNMATCHED = "<unmatched>"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def multiprocess_dir() -> str | None:
    """The shared metrics folder when running under several workers, else None."""
    return os.environ.get(MULTIPROC_ENV) or None


class ServiceMetrics:
    """The service's metrics: requests, latency, assignments per persona, poor fits, catalog."""

    def __init__(self) -> None:
        if multiprocess_dir() is not None and values.ValueClass is values.MutexValue:
            raise ConfigError(
                f"{MULTIPROC_ENV} was set after prometheus_client was imported: metrics would "
                "count one worker only; set it before importing personamap.web"
            )
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "personamap_http_requests",
            "HTTP requests answered, by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "personamap_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.assignments = Counter(
            "personamap_assignments",
            "Customers assigned online, by persona id.",
            ["persona_id"],
            registry=self.registry,
        )
        self.poor_fit = Counter(
            "personamap_poor_fit_assignments",
            "Customers assigned online whose fit was poor (no persona describes them well).",
            registry=self.registry,
        )
        self.catalog = Gauge(
            "personamap_catalog_info",
            "1 for the catalog version a worker serves (label source: registry or cache).",
            ["version", "source"],
            multiprocess_mode="livemax",
            registry=self.registry,
        )
        self._served: tuple[str, str] | None = None
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._persona_children: dict[int, Counter] = {}
        self._pending: dict[Counter, int] = {}
        self._pending_latency: dict[Histogram, list[float]] = {}
        self._flush_loop: asyncio.AbstractEventLoop | None = None

    def _later(self) -> bool:
        """Whether updates can wait for the end of this event-loop iteration (then it is arranged).

        False outside a running loop: nothing would write them later. A flush arranged on
        another loop (one that may have ended, as a test client's does) does not count.
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        if self._flush_loop is not loop:
            loop.call_soon(self.flush)
            self._flush_loop = loop
        return True

    def _count(self, counter: Counter, amount: int = 1) -> None:
        if self._later():
            self._pending[counter] = self._pending.get(counter, 0) + amount
        else:
            counter.inc(amount)

    def flush(self) -> None:
        """Write the pending counter increments and latencies."""
        self._flush_loop = None
        pending, self._pending = self._pending, {}
        latencies, self._pending_latency = self._pending_latency, {}
        for counter, amount in pending.items():
            counter.inc(amount)
        for histogram, samples in latencies.items():
            observe_all(histogram, samples)

    def record_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:  # labels() costs more than the update: look each child up once
            children = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
            self._request_children[key] = children
        self._count(children[0])
        if self._later():
            self._pending_latency.setdefault(children[1], []).append(seconds)
        else:
            children[1].observe(seconds)

    def record_assignments(self, per_persona: dict[int, int], poor: int) -> None:
        """Count assigned customers per persona, and the poor fits among them."""
        for persona_id, count in per_persona.items():
            self._count(self._persona(persona_id), count)
        if poor:
            self._count(self.poor_fit, poor)

    def record_assignment(self, persona_id: int, *, good: bool) -> None:
        """Count one assigned customer (``record_assignments`` for a single one)."""
        self._count(self._persona(persona_id))
        if not good:
            self._count(self.poor_fit)

    def _persona(self, persona_id: int) -> Counter:
        child = self._persona_children.get(persona_id)
        if child is None:  # labels() costs more than the update: look each child up once
            child = self._persona_children[persona_id] = self.assignments.labels(str(persona_id))
        return child

    def serving(self, version: int, source: str) -> None:
        """Mark the catalog version this worker now serves (and unmark the previous one)."""
        labels = (str(version), source)
        if self._served is not None and self._served != labels:
            self.catalog.labels(*self._served).set(0)
        self.catalog.labels(*labels).set(1)
        self._served = labels

    def render(self) -> bytes:
        """The Prometheus text exposition: all workers' values in multiprocess mode."""
        self.flush()
        if multiprocess_dir() is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)


class MetricsMiddleware:
    """Pure ASGI middleware timing and counting every HTTP request by route template.

    Args:
        app: The app to wrap.
        metrics: Where to count.
        routes: The app's routes (read at the first request, when all are added), to label
            plain Starlette routes, for which the router records only the endpoint.
    """

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes
        self._paths: dict[Any, str] | None = None

    def _route(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is not None:
            return str(getattr(route, "path", UNMATCHED))
        if self._paths is None:
            self._paths = {r.endpoint: r.path for r in self.routes if isinstance(r, Route)}
        return self._paths.get(scope.get("endpoint"), UNMATCHED)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, noting the status and the time to answer."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = perf_counter()
        status = 500  # unless a response starts: an exception escaped every handler

        async def noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting_status)
        finally:
            seconds = perf_counter() - start
            self.metrics.record_request(scope["method"], self._route(scope), status, seconds)


def observe_all(histogram: Histogram, samples: Sequence[float]) -> None:
    """Observe many values at once: the sum and each bucket hit are updated once.

    prometheus_client has no bulk ``observe``; this writes what ``observe`` would, per sample,
    through the histogram's own values (its ``_sum``, ``_buckets`` and ``_upper_bounds``, which
    every release since multiprocess mode has had). Without them (another version) it falls back
    to ``observe`` per sample; a test checks both give the same exposition.
    """
    bounds = getattr(histogram, "_upper_bounds", None)
    total = getattr(histogram, "_sum", None)
    buckets = getattr(histogram, "_buckets", None)
    if bounds is None or total is None or buckets is None:
        for sample in samples:
            histogram.observe(sample)
        return
    hits: dict[int, int] = {}
    for sample in samples:  # observe() counts a value in the first bucket whose bound is >= it
        bucket = bisect_left(bounds, sample)
        hits[bucket] = hits.get(bucket, 0) + 1
    total.inc(sum(samples))
    for bucket, count in hits.items():
        buckets[bucket].inc(count)


def mark_process_dead(pid: int) -> None:
    """Forget a dead worker's live gauges (gunicorn's ``child_exit`` hook calls this)."""
    if multiprocess_dir() is not None:
        prometheus_multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
