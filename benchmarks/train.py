"""Training benchmark: a k-means sweep over k=2..10 on generated customers.

Measures, in one run on the same rows, personamap's sweep (subsample refits that seed one Lloyd
run on all rows, silhouette on a fixed sample, then the scale-free choice of k) and the reference
project's way: for each k, ``KMeans(n_init=10)`` fitted twice (once to score, once to log the
model), the silhouette on all rows, and the k of the highest silhouette * 1000 / inertia. The
reference way cannot finish on the full size in reasonable time, so the two are compared at
``--compare-rows``; personamap's sweep alone is then timed at ``--rows`` against its 60 s goal.
Prints seconds, the ratio, each way's chosen k and its adjusted Rand index against the true
personas. Usage:

    .venv/bin/python benchmarks/train.py [--rows 100000] [--compare-rows 20000] [--seed 7]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score

from personamap.domain.discover import choose_k, sweep
from personamap.domain.preprocessing import SpecScaler
from personamap.domain.spec import load_spec
from personamap.domain.synthetic import generate_cohort, load_personas

KS = range(2, 11)
GOAL_SECONDS = 60.0
GOAL_RATIO = 10.0


@dataclass(frozen=True)
class Outcome:
    way: str
    rows: int
    seconds: float
    k: int
    ari: float


def customers(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Scaled customers and their true persona indices."""
    spec = load_spec("anonymised")
    cohort = generate_cohort(spec, load_personas(spec), "2025-01", n=rows, seed=seed)
    X = SpecScaler(spec).fit(cohort.frame).transform(cohort.frame)
    return X, np.asarray(cohort.persona)


def personamap_way(X: np.ndarray, truth: np.ndarray, seed: int) -> Outcome:
    started = time.perf_counter()
    result = sweep(X, KS, random_state=seed)
    k = choose_k(result)
    seconds = time.perf_counter() - started
    ari = adjusted_rand_score(truth, result.for_k(k).labels)
    return Outcome("personamap sweep", len(X), seconds, k, ari)


def reference_way(X: np.ndarray, truth: np.ndarray, seed: int) -> Outcome:
    started = time.perf_counter()
    scores: dict[int, float] = {}
    labels: dict[int, np.ndarray] = {}
    for k in KS:
        # Fitted once to score it...
        scored = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(X)
        silhouette = silhouette_score(X, scored.labels_)
        scores[k] = silhouette * 1000 / scored.inertia_
        # ...and again to log the model, as the reference project did.
        logged = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(X)
        labels[k] = logged.labels_
    k = max(scores, key=lambda candidate: scores[candidate])
    seconds = time.perf_counter() - started
    ari = adjusted_rand_score(truth, labels[k])
    return Outcome("reference (n_init=10 x2, full sil.)", len(X), seconds, k, ari)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--compare-rows", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    X, truth = customers(args.compare_rows, args.seed)
    print(f"comparing on {len(X):,} x {X.shape[1]} scaled customers, k={KS.start}..{KS.stop - 1}")
    reference = reference_way(X, truth, args.seed)
    print(f"  reference way: {reference.seconds:.1f} s")
    compared = personamap_way(X, truth, args.seed)
    print(f"  personamap:    {compared.seconds:.1f} s")

    X, truth = customers(args.rows, args.seed)
    print(f"sweeping {len(X):,} x {X.shape[1]} scaled customers with personamap")
    full = personamap_way(X, truth, args.seed)
    print(f"  personamap:    {full.seconds:.1f} s")

    ratio = reference.seconds / compared.seconds
    print(f"\ntrue personas: {len(np.unique(truth))}; ARI of the chosen k against them")
    print(f"{'way':<37} {'rows':>8} {'seconds':>8} {'x reference':>12} {'k':>3} {'ARI':>6}")
    for outcome, versus in ((reference, "1.0x"), (compared, f"{ratio:.1f}x"), (full, "-")):
        print(
            f"{outcome.way:<37} {outcome.rows:>8,} {outcome.seconds:>8.1f} {versus:>12} "
            f"{outcome.k:>3} {outcome.ari:>6.3f}"
        )
    print(
        f"\nat {compared.rows:,} rows: personamap is {ratio:.1f}x faster than the reference way "
        f"(goal >= {GOAL_RATIO:.0f}x: {'met' if ratio >= GOAL_RATIO else 'NOT met'})"
    )
    under = full.seconds < GOAL_SECONDS
    print(
        f"at {full.rows:,} rows: personamap's sweep takes {full.seconds:.1f} s "
        f"(goal < {GOAL_SECONDS:.0f} s: {'met' if under else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
