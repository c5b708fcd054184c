"""A 2-D picture of the scaled feature space: principal components of customers and centroids.

Pure numpy. The components are fitted on a sample of customers together with the centroids, so
the picture shows the personas where most of the customers' variation is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Projection:
    """Customers and centroids on the first two principal components.

    Attributes:
        customers: One row (x, y) per customer.
        centroids: One row (x, y) per centroid.
        explained: Share of the variance each of the two components explains.
    """

    customers: np.ndarray
    centroids: np.ndarray
    explained: tuple[float, float]


def project(customers: np.ndarray, centroids: np.ndarray) -> Projection:
    """Fit two principal components on customers and centroids, and project both.

    Args:
        customers: Encoded customers (rows) in the catalog's scaled space; may be empty.
        centroids: The centroids in the same space.

    Raises:
        ValueError: when the two have different widths.
    """
    customers = np.asarray(customers, dtype=np.float64).reshape(-1, centroids.shape[1])
    centroids = np.asarray(centroids, dtype=np.float64)
    if customers.shape[1] != centroids.shape[1]:
        raise ValueError(
            f"customers have {customers.shape[1]} columns, centroids {centroids.shape[1]}"
        )
    both = np.vstack([customers, centroids])
    centre = both.mean(axis=0)
    _, singular, components = np.linalg.svd(both - centre, full_matrices=False)
    basis = np.zeros((both.shape[1], 2))
    found = min(2, components.shape[0])
    basis[:, :found] = components[:found].T
    # SVD signs are arbitrary: fix them so the picture does not flip between refreshes.
    for j in range(found):
        if basis[np.argmax(np.abs(basis[:, j])), j] < 0:
            basis[:, j] *= -1
    variance = singular**2
    total = float(variance.sum())
    explained = [float(v / total) if total > 0 else 0.0 for v in variance[:2]]
    explained += [0.0] * (2 - len(explained))
    return Projection(
        customers=(customers - centre) @ basis,
        centroids=(centroids - centre) @ basis,
        explained=(explained[0], explained[1]),
    )
