"""A random sample of customers under a catalog: assigned, projected to 2-D, kept for a minute.

The map and the typical ranges of the persona pages are drawn from it. Taking one costs a page
sample of the customer table and assigning a couple of thousand customers, so it is cached per
catalog version and renewed after ``ttl_seconds``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from personamap.dashboard.projection import Projection, project
from personamap.dashboard.queries import sample_customers
from personamap.domain.catalog import PersonaCatalog

SAMPLE_SIZE = 2_000
TTL_SECONDS = 60.0


@dataclass(frozen=True)
class CustomerSample:
    """Sampled customers with their personas and their place on the map.

    Attributes:
        frame: The customers' features.
        persona_id: The persona of each customer under the catalog.
        good: Whether the persona fits each customer well.
        projection: Customers and centroids on the first two principal components.
    """

    frame: pd.DataFrame
    persona_id: np.ndarray
    good: np.ndarray
    projection: Projection

    def __len__(self) -> int:
        return len(self.frame)

    def members(self, persona_id: int) -> pd.DataFrame:
        """The sampled customers of one persona."""
        return self.frame[self.persona_id == persona_id]


def take_sample(engine: Engine, catalog: PersonaCatalog, *, size: int) -> CustomerSample:
    """Sample about ``size`` customers of the catalog's customer table and assign them."""
    assigner = catalog.assigner
    frame = sample_customers(engine, spec=catalog.spec, size=size)
    width = assigner.centroids_.shape[1]
    if frame.empty:
        encoded = np.empty((0, width))
        ids, good = np.empty(0, dtype=np.int64), np.empty(0, dtype=bool)
    else:
        encoded = assigner.scaler_.transform(frame)
        result = assigner.assign_matrix(encoded)
        ids, good = result.persona_id, result.good
    return CustomerSample(
        frame=frame,
        persona_id=ids,
        good=good,
        projection=project(encoded, assigner.centroids_),
    )


class SampleCache:
    """The latest sample per catalog version, renewed after ``ttl_seconds``.

    Args:
        engine: The database of the customer table.
        size: Customers per sample.
        ttl_seconds: How long a sample is shown before a new one is taken.
        clock: Monotonic seconds (for tests).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        size: int = SAMPLE_SIZE,
        ttl_seconds: float = TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.size = size
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._samples: dict[int, tuple[float, CustomerSample]] = {}
        self._lock = threading.Lock()  # one sample at a time: concurrent pages wait for it

    def get(self, version: int, catalog: PersonaCatalog) -> CustomerSample:
        """The sample of a catalog version, taken now if none is fresh."""
        with self._lock:
            found = self._samples.get(version)
            if found is not None and self.clock() - found[0] < self.ttl_seconds:
                return found[1]
            sample = take_sample(self.engine, catalog, size=self.size)
            now = self.clock()
            self._samples = {
                v: kept
                for v, kept in self._samples.items()
                if v != version and now - kept[0] < self.ttl_seconds
            }
            self._samples[version] = (now, sample)
            return sample
