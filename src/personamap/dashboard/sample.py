"""A random sample of customers under a catalog: assigned, projected to 2-D, kept for a minute.

The map and the typical ranges of the persona pages are drawn from it. Taking one costs a page
sample of the customer table and assigning a couple of thousand customers, so it is kept per
catalog version and renewed in the background after ``ttl_seconds``.
"""

from __future__ import annotations

import logging
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
KEPT_VERSIONS = 4
logger = logging.getLogger(__name__)


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
        return pd.DataFrame(self.frame.loc[self.persona_id == persona_id])


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
    """The latest sample per catalog version, renewed in the background once stale.

    The first sample of a version is taken while its request waits; after ``ttl_seconds`` a
    request still gets the previous sample at once and a thread takes the next one, so the
    pages never wait for a sample again.

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
        self._renewing: set[int] = set()
        self._lock = threading.Lock()  # guards the two collections above
        self._first = threading.Lock()  # a version's first sample is taken once; others wait

    def get(self, version: int, catalog: PersonaCatalog) -> CustomerSample:
        """The sample of a catalog version (a stale one is renewed in the background)."""
        with self._lock:
            found = self._samples.get(version)
            if found is not None:
                taken, sample = found
                if self.clock() - taken >= self.ttl_seconds and version not in self._renewing:
                    self._renewing.add(version)
                    threading.Thread(
                        target=self._renew,
                        args=(version, catalog),
                        name="personamap-sample",
                        daemon=True,
                    ).start()
                return sample
        with self._first:
            with self._lock:
                found = self._samples.get(version)
            if found is not None:
                return found[1]
            return self._keep(version, take_sample(self.engine, catalog, size=self.size))

    def _renew(self, version: int, catalog: PersonaCatalog) -> None:
        try:
            self._keep(version, take_sample(self.engine, catalog, size=self.size))
        except Exception:  # the previous sample stays; the next stale request tries again
            logger.warning(
                "renewing the customer sample of version %d failed", version, exc_info=True
            )
        finally:
            with self._lock:
                self._renewing.discard(version)

    def _keep(self, version: int, sample: CustomerSample) -> CustomerSample:
        with self._lock:
            self._samples[version] = (self.clock(), sample)
            while len(self._samples) > KEPT_VERSIONS:  # the least recently taken go first
                oldest = min(self._samples, key=lambda v: self._samples[v][0])
                del self._samples[oldest]
        return sample
