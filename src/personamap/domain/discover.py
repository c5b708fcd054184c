"""Discover personas: a k-means sweep over candidate k, its quality metrics, and the choice of k.

:func:`sweep` clusters scaled customers for each k and measures:

- ``inertia``: within-persona sum of squared distances on all rows;
- ``silhouette``: mean silhouette on one seeded sample of at most ``silhouette_size`` rows (exact
  when n is smaller); the sample's distance matrix is computed once and reused for every k;
- ``calinski_harabasz`` and ``davies_bouldin``: on all rows (both are linear in n);
- ``stability``: mean adjusted Rand index between every pair of refits on independent random
  subsamples, compared on the common evaluation sample (1 = the same personas whatever the data
  and the initialisation; a k that exists only in one sample or one local optimum scores low);
- ``smallest_share``: share of all rows in the smallest persona.

How it stays fast: each refit runs k-means++ on a subsample of at most ``subsample_size`` rows;
the refit with the lowest inertia on all rows then seeds one Lloyd run on all rows, which
converges in a few iterations. So the refits serve both as stability samples and as the restarts
that ``n_init`` would otherwise spend on the full data.

:func:`choose_k` then applies a documented, scale-free rule (see its docstring).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial.distance import cdist
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score, calinski_harabasz_score, davies_bouldin_score
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from personamap.errors import DiscoveryError

MIN_SHARE = 0.05
MIN_STABILITY = 0.8
WEAK_SILHOUETTE = 0.25
METRICS = (
    "inertia",
    "silhouette",
    "calinski_harabasz",
    "davies_bouldin",
    "stability",
    "smallest_share",
)


@dataclass(frozen=True, eq=False)
class KResult:
    """The clustering found for one k and its metrics.

    ``centroids`` are in the scaled space of the input; ``labels`` give, for every input row, the
    position of its centroid.
    """

    k: int
    inertia: float
    silhouette: float
    calinski_harabasz: float
    davies_bouldin: float
    stability: float
    smallest_share: float
    centroids: np.ndarray
    labels: np.ndarray

    def metrics(self) -> dict[str, float]:
        """The metrics as a flat mapping (e.g. for experiment tracking)."""
        return {name: float(getattr(self, name)) for name in METRICS}


@dataclass(frozen=True, eq=False)
class SweepResult:
    """The outcome of a sweep: one :class:`KResult` per k, in increasing k."""

    results: tuple[KResult, ...]
    n_samples: int
    silhouette_sample_size: int

    def __iter__(self) -> Iterator[KResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    @property
    def ks(self) -> tuple[int, ...]:
        """The k values swept."""
        return tuple(r.k for r in self.results)

    def for_k(self, k: int) -> KResult:
        """The result for ``k``."""
        for result in self.results:
            if result.k == k:
                return result
        raise KeyError(f"k={k} was not swept; swept {list(self.ks)}")

    def metrics_frame(self) -> pd.DataFrame:
        """Metrics per k as a frame indexed by ``k``."""
        rows = [{"k": r.k, **r.metrics()} for r in self.results]
        return pd.DataFrame(rows, columns=["k", *METRICS]).set_index("k")


def sweep(
    X: np.ndarray,
    ks: Iterable[int] = range(2, 11),
    *,
    random_state: int | np.random.RandomState | None = None,
    n_refits: int = 5,
    refit_n_init: int = 3,
    subsample_size: int = 10_000,
    silhouette_size: int = 5_000,
    max_iter: int = 300,
    n_threads: int | None = 1,
) -> SweepResult:
    """Cluster the scaled customers ``X`` for each k in ``ks`` and measure each clustering.

    Args:
        X: Customers in scaled space, one row each.
        ks: Candidate numbers of personas (each >= 2).
        random_state: Seed or RandomState; the only source of randomness.
        n_refits: Subsample refits per k (>= 2): stability pairs and restarts.
        refit_n_init: k-means++ restarts within each refit.
        subsample_size: Rows per refit (80% of the rows when there are fewer).
        silhouette_size: Rows of the seeded sample for silhouette and stability.
        max_iter: Maximum Lloyd iterations per k-means run.
        n_threads: Threads for k-means and linear algebra (``None``: the libraries' default).
            One by default: most fits run on small subsamples, where OpenMP synchronisation
            costs more than it saves, badly so on a machine shared with other work.

    Returns:
        The per-k results; a k that cannot be fitted (k not below the subsample size) is
        skipped with a warning.

    Raises:
        DiscoveryError: when ``X`` or the arguments are invalid or no k can be fitted.
    """
    X = _check_data(X)
    n = len(X)
    if n_refits < 2 or refit_n_init < 1 or subsample_size < 2 or silhouette_size < 2:
        raise DiscoveryError(
            "need n_refits >= 2, refit_n_init >= 1, subsample_size >= 2 and silhouette_size >= 2"
        )
    candidates = sorted({int(k) for k in ks})
    if not candidates or candidates[0] < 2:
        raise DiscoveryError(f"every k must be at least 2, got {candidates}")
    rng = check_random_state(random_state)
    m = min(subsample_size, n) if n > subsample_size else max(2, int(0.8 * n))
    fittable = [k for k in candidates if k < m]
    if len(fittable) < len(candidates):
        warnings.warn(
            f"skipping k={[k for k in candidates if k >= m]}: not below the {m} rows of a "
            f"subsample ({n} rows in all)",
            stacklevel=2,
        )
    if not fittable:
        raise DiscoveryError(f"no k in {candidates} can be fitted on {n} rows")

    evaluation = (
        np.sort(rng.choice(n, size=silhouette_size, replace=False))
        if n > silhouette_size
        else np.arange(n)
    )
    distances = _pairwise_distances(X[evaluation])
    subsamples = [np.sort(rng.choice(n, size=m, replace=False)) for _ in range(n_refits)]
    results = []
    with threadpool_limits(limits=n_threads):
        for k in fittable:
            seeds = rng.randint(np.iinfo(np.int32).max, size=n_refits + 1)
            results.append(
                _fit_k(X, k, evaluation, distances, subsamples, seeds, refit_n_init, max_iter)
            )
    return SweepResult(results=tuple(results), n_samples=n, silhouette_sample_size=len(evaluation))


def choose_k(
    results: SweepResult | Sequence[KResult],
    *,
    min_share: float = MIN_SHARE,
    min_stability: float = MIN_STABILITY,
) -> int:
    """Choose the number of personas by a scale-free rule.

    The rule:

    1. Only k whose smallest persona holds at least ``min_share`` of the customers, and whose
       silhouette is defined, are eligible; a persona below ``min_share`` is never chosen.
    2. Among eligible k, keep those whose stability (mean adjusted Rand index between refits on
       independent subsamples) is at least ``min_stability``: their personas are reproducible,
       not an artefact of one sample or one initialisation. If none is, warn and keep the most
       stable eligible k (and any within 0.01 of it).
    3. Choose the highest Calinski-Harabasz index among those kept (ties: smaller k). It was
       the most reliable of 30 stopping rules in Milligan & Cooper's classic comparison (1985),
       and here it recovers the generating personas where the silhouette, which tends to merge
       two close personas, does not. Warn when the chosen k has a silhouette below 0.25, the
       level under which Kaufman & Rousseeuw find no substantial structure.

    Scale-free: shares, Rand indices and silhouettes do not depend on the number of rows or the
    units of the features, and the Calinski-Harabasz index is only compared between the k of one
    sweep, on the same rows, so its growth with n cancels out; its ranking of k is unchanged by
    rescaling the data. (Contrast silhouette * 1000 / inertia, whose value changes with the
    sample size and was compared across runs.) Never compare these metrics across sweeps.

    Raises:
        DiscoveryError: when no k is eligible (e.g. every k has a persona below ``min_share``).
    """
    items = list(results)
    if not 0.0 <= min_share < 1.0:
        raise DiscoveryError(f"min_share must be in [0, 1), got {min_share}")
    eligible = [r for r in items if r.smallest_share >= min_share and math.isfinite(r.silhouette)]
    if not eligible:
        shares = {r.k: round(r.smallest_share, 4) for r in items}
        raise DiscoveryError(
            f"no k has every persona at or above min_share={min_share} (smallest share per k: "
            f"{shares}); lower the minimum share or sweep smaller k"
        )
    kept = [r for r in eligible if r.stability >= min_stability]
    if not kept:
        best = max(r.stability for r in eligible)
        kept = [r for r in eligible if r.stability >= best - 0.01]
        warnings.warn(
            f"no eligible k reaches stability {min_stability} (best {best:.3f}); choosing among "
            f"the most stable k {[r.k for r in kept]}",
            stacklevel=2,
        )
    chosen = min(kept, key=lambda r: (-_or(r.calinski_harabasz, -math.inf), r.k))
    if chosen.silhouette < WEAK_SILHOUETTE:
        warnings.warn(
            f"k={chosen.k} chosen, but its silhouette {chosen.silhouette:.3f} is below "
            f"{WEAK_SILHOUETTE}: the customers show no substantial persona structure",
            stacklevel=2,
        )
    return chosen.k


def _or(value: float, default: float) -> float:
    return value if math.isfinite(value) else default


def _check_data(X: Any) -> np.ndarray:
    try:
        matrix = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DiscoveryError(f"customers must be a numeric matrix: {exc}") from None
    if matrix.ndim != 2 or len(matrix) < 3 or matrix.shape[1] < 1:
        raise DiscoveryError(f"need a 2-D matrix with at least 3 rows, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise DiscoveryError("customers contain missing or non-finite values")
    return matrix


def _pairwise_distances(X: np.ndarray, chunk: int = 1_000) -> np.ndarray:
    """Euclidean distance matrix, computed in float64 chunks and stored as float32."""
    out = np.empty((len(X), len(X)), dtype=np.float32)
    for start in range(0, len(X), chunk):
        out[start : start + chunk] = cdist(X[start : start + chunk], X)
    return out


def _nearest(X: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position of the nearest center and the squared distance to it, per row."""
    sq = X @ centers.T
    sq *= -2.0
    sq += np.einsum("ij,ij->i", centers, centers)
    sq += np.einsum("ij,ij->i", X, X)[:, None]
    labels = sq.argmin(axis=1)
    return labels, np.maximum(np.take_along_axis(sq, labels[:, None], axis=1)[:, 0], 0.0)


def _silhouette(distances: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Mean silhouette from a precomputed distance matrix (same definition as scikit-learn)."""
    n = len(labels)
    counts = np.bincount(labels, minlength=k)
    if np.count_nonzero(counts) < 2 or np.count_nonzero(counts) > n - 1:
        return math.nan
    onehot = np.zeros((n, k), dtype=np.float32)
    onehot[np.arange(n), labels] = 1.0
    sums = (distances @ onehot).astype(np.float64)
    own = counts[labels]
    a = sums[np.arange(n), labels] / np.maximum(own - 1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        means = sums / counts
    means[:, counts == 0] = np.inf
    means[np.arange(n), labels] = np.inf
    b = means.min(axis=1)
    denominator = np.maximum(a, b)
    s = np.divide(b - a, denominator, out=np.zeros(n), where=denominator > 0)
    s[own == 1] = 0.0
    return float(s.mean())


def _fit_k(
    X: np.ndarray,
    k: int,
    evaluation: np.ndarray,
    distances: np.ndarray,
    subsamples: list[np.ndarray],
    seeds: np.ndarray,
    refit_n_init: int,
    max_iter: int,
) -> KResult:
    with warnings.catch_warnings():
        # Too few distinct points for k is reported once, below, in persona terms.
        warnings.simplefilter("ignore", ConvergenceWarning)
        refits = [
            KMeans(k, n_init=refit_n_init, max_iter=max_iter, random_state=int(seed))
            .fit(X[rows])
            .cluster_centers_
            for rows, seed in zip(subsamples, seeds[:-1], strict=True)
        ]
        start = min(refits, key=lambda centers: float(_nearest(X, centers)[1].sum()))
        final = KMeans(k, init=start, n_init=1, max_iter=max_iter, random_state=int(seeds[-1]))
        final.fit(X)
    X_eval = X[evaluation]
    eval_labels = [_nearest(X_eval, centers)[0] for centers in refits]
    stability = float(np.mean([adjusted_rand_score(a, b) for a, b in combinations(eval_labels, 2)]))
    labels = np.asarray(final.labels_, dtype=np.intp)
    counts = np.bincount(labels, minlength=k)
    n_found = int(np.count_nonzero(counts))
    if n_found < k:
        warnings.warn(
            f"k={k}: only {n_found} non-empty personas found; the data has fewer distinct groups",
            stacklevel=3,
        )
    silhouette = _silhouette(distances, labels[evaluation], k)
    if math.isnan(silhouette):
        warnings.warn(f"k={k}: silhouette undefined (fewer than 2 personas)", stacklevel=3)
    several = n_found >= 2
    return KResult(
        k=k,
        inertia=float(final.inertia_),
        silhouette=silhouette,
        calinski_harabasz=float(calinski_harabasz_score(X, labels)) if several else math.nan,
        davies_bouldin=float(davies_bouldin_score(X, labels)) if several else math.nan,
        stability=stability,
        smallest_share=float(counts.min() / len(X)),
        centroids=np.asarray(final.cluster_centers_, dtype=np.float64),
        labels=labels,
    )
