"""The service's metrics: updates written once per event-loop iteration, latencies in bulk."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from personamap.web.metrics import LATENCY_BUCKETS, ServiceMetrics, observe_all

pytestmark = pytest.mark.unit


def histogram() -> tuple[CollectorRegistry, Histogram]:
    registry = CollectorRegistry()
    return registry, Histogram("h", "h", buckets=LATENCY_BUCKETS, registry=registry)


def samples(registry: CollectorRegistry) -> dict[str, float]:
    values = {}
    for metric in registry.collect():
        for sample in metric.samples:
            if not sample.name.endswith("_created"):
                values[f"{sample.name}{sorted(sample.labels.items())}"] = sample.value
    return values


def test_observing_all_at_once_exposes_what_observing_one_by_one_does() -> None:
    # Exactly on bounds (counted in that bucket), between them, above the last, zero.
    values = [0.0, 0.0005, 0.0007, 0.001, 0.0011, 0.05, 0.05, 4.9, 5.0, 7.5, 120.0]
    one_by_one, single = histogram()
    for value in values:
        single.observe(value)
    at_once, bulk = histogram()
    observe_all(bulk, values[:4])
    observe_all(bulk, values[4:])
    expected, got = samples(one_by_one), samples(at_once)
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-12), name
    assert got["h_bucket[('le', '0.001')]"] == 4
    assert got["h_bucket[('le', '+Inf')]"] == len(values)


def test_updates_wait_for_the_end_of_the_loop_iteration_and_a_scrape_writes_them() -> None:
    metrics = ServiceMetrics()

    def assigned() -> float | None:
        return metrics.registry.get_sample_value(
            "personamap_assignments_total", {"persona_id": "3"}
        )

    async def scenario() -> tuple[float | None, float | None, float | None, bytes]:
        for _ in range(5):
            metrics.record_assignment(3, good=True)
            metrics.record_request("POST", "/v1/assign", 200, 0.002)
        during = assigned()
        await asyncio.sleep(0)  # one iteration: the scheduled flush runs
        after = assigned()
        metrics.record_assignment(3, good=False)
        scraped = metrics.render()  # a scrape does not wait for the iteration to end
        return during, after, assigned(), scraped

    during, after, final, scraped = asyncio.run(scenario())
    assert (during, after, final) == (0.0, 5.0, 6.0)
    assert b"personamap_poor_fit_assignments_total 1.0" in scraped
    count = metrics.registry.get_sample_value(
        "personamap_http_request_duration_seconds_count",
        {"method": "POST", "route": "/v1/assign"},
    )
    assert count == 5


def test_outside_an_event_loop_updates_are_written_at_once() -> None:
    metrics = ServiceMetrics()
    metrics.record_assignments({1: 2, 4: 1}, poor=1)
    metrics.record_request("GET", "/healthz", 200, 0.0001)
    registry = metrics.registry
    assert registry.get_sample_value("personamap_assignments_total", {"persona_id": "1"}) == 2
    assert registry.get_sample_value("personamap_poor_fit_assignments_total") == 1
    assert b'route="/healthz"' in generate_latest(registry)


def test_updates_left_by_a_loop_that_ended_are_written_by_the_next_loop() -> None:
    metrics = ServiceMetrics()

    def assigned() -> float | None:
        return metrics.registry.get_sample_value(
            "personamap_assignments_total", {"persona_id": "2"}
        )

    first = asyncio.new_event_loop()

    def record_and_stop() -> None:
        metrics.record_assignment(2, good=True)
        first.stop()  # the loop ends with this iteration, before the arranged flush

    first.call_soon(record_and_stop)
    first.run_forever()
    first.close()
    assert assigned() == 0

    async def next_loop() -> None:
        metrics.record_assignment(2, good=True)
        await asyncio.sleep(0)

    asyncio.run(next_loop())
    assert assigned() == 2
