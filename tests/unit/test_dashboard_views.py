"""The dashboard's pure parts: pseudonymous ids, the 2-D projection, chart data."""

from __future__ import annotations

import json
import math
import threading
import time

import numpy as np
import pytest

from personamap.dashboard import charts
from personamap.dashboard.projection import project
from personamap.dashboard.views import mask_id, number, with_unit
from personamap.domain.spec import NumericFeature

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("customer_id", ["C202501-000123", "c-42", "9876543210", "x"])
def test_an_id_is_shown_with_most_of_it_hidden(customer_id: str) -> None:
    masked = mask_id(customer_id)
    visible = masked.replace("•", "")
    assert customer_id not in masked
    assert len(visible) <= max(0, len(customer_id) // 3)
    assert customer_id.endswith(visible)


def test_the_projection_keeps_customers_near_their_centroid() -> None:
    rng = np.random.default_rng(0)
    centroids = np.array([[0.0, 0.0, 0.0, 0.0], [5.0, 5.0, 0.0, 0.0], [0.0, 5.0, 5.0, 0.0]])
    labels = rng.integers(0, 3, 600)
    customers = centroids[labels] + rng.normal(0, 0.3, (600, 4))

    found = project(customers, centroids)

    assert found.customers.shape == (600, 2)
    assert found.centroids.shape == (3, 2)
    assert 0.9 < sum(found.explained) <= 1.0 + 1e-9
    nearest = np.argmin(
        np.linalg.norm(found.customers[:, None, :] - found.centroids[None, :, :], axis=2), axis=1
    )
    assert (nearest == labels).mean() > 0.95


def test_the_projection_does_not_flip_between_samples() -> None:
    rng = np.random.default_rng(1)
    centroids = np.array([[0.0, 0.0, 0.0], [4.0, 1.0, 0.0], [0.0, 3.0, 2.0]])
    first = project(centroids[rng.integers(0, 3, 300)] + rng.normal(0, 0.2, (300, 3)), centroids)
    second = project(centroids[rng.integers(0, 3, 300)] + rng.normal(0, 0.2, (300, 3)), centroids)
    assert np.allclose(first.centroids, second.centroids, atol=0.3)


def test_a_projection_without_customers_shows_the_centroids() -> None:
    found = project(np.empty((0, 3)), np.eye(3))
    assert found.customers.shape == (0, 2)
    assert found.centroids.shape == (3, 2)


def test_chart_data_has_no_nan_so_it_is_valid_json() -> None:
    figure = charts.persona_mix(
        ["2025-01", "2025-02"], {1: [0.5, math.nan], 2: [0.5, math.inf]}, {1: "A", 2: "B"}
    )
    json.dumps(figure, allow_nan=False)
    assert figure["data"][0]["y"] == [0.5, None]


def test_every_persona_keeps_its_colour() -> None:
    assert charts.colour(1) == charts.colour(1 + len(charts.PALETTE))
    assert len({charts.colour(i) for i in range(1, len(charts.PALETTE) + 1)}) == len(charts.PALETTE)


def test_numbers_are_written_for_people() -> None:
    age = NumericFeature(name="age", unit="years", min=18, max=99, integer=True)
    assert number(41.6, age) == "42"
    assert number(3.37) == "3.37"
    assert number(1234.5) == "1,234"
    assert number(math.nan) == "–"
    assert with_unit("3.4", "1-5 scale") == "3.4 (1-5 scale)"
    assert with_unit("45", "kEUR/year") == "45 kEUR/year"


def test_a_stale_sample_is_shown_while_the_next_one_is_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from personamap.dashboard import sample as sampling

    taken: list[int] = []
    renewed = threading.Event()

    def take(engine: object, catalog: object, *, size: int) -> object:
        taken.append(size)
        if len(taken) > 1:
            renewed.set()
        return f"sample {len(taken)}"

    monkeypatch.setattr(sampling, "take_sample", take)
    now = [0.0]
    cache = sampling.SampleCache(engine=None, size=10, ttl_seconds=60, clock=lambda: now[0])

    assert cache.get(1, None) == "sample 1"
    now[0] = 30
    assert cache.get(1, None) == "sample 1"
    now[0] = 61
    assert cache.get(1, None) == "sample 1"  # stale, served at once
    assert renewed.wait(5)
    for _ in range(100):  # the renewal stores its sample right after taking it
        if cache.get(1, None) == "sample 2":
            break
        time.sleep(0.01)
    assert cache.get(1, None) == "sample 2"
    assert taken == [10, 10]
