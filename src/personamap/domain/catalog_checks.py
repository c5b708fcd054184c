"""Quality checks a catalog must pass before it is promoted (unless a person overrides them)."""

from __future__ import annotations

import math
from collections.abc import Mapping

from personamap.domain.catalog import Check
from personamap.domain.discover import MIN_SHARE, MIN_STABILITY, WEAK_SILHOUETTE, KResult


def discovery_checks(
    chosen: KResult,
    *,
    min_share: float = MIN_SHARE,
    min_stability: float = MIN_STABILITY,
    min_silhouette: float = WEAK_SILHOUETTE,
) -> tuple[Check, ...]:
    """Checks of a discovered catalog: no tiny persona, reproducible, with real structure."""
    return (
        _at_least("smallest_share", chosen.smallest_share, min_share, "smallest persona share"),
        _at_least("stability", chosen.stability, min_stability, "stability (mean ARI of refits)"),
        _at_least("silhouette", chosen.silhouette, min_silhouette, "silhouette"),
    )


def import_checks(shares: Mapping[int, float], *, min_share: float) -> tuple[Check, ...]:
    """Checks of an imported catalog on its reference cohort: every persona has customers."""
    smallest_id = min(shares, key=lambda i: shares[i])
    return (
        _at_least(
            "smallest_share",
            shares[smallest_id],
            min_share,
            f"share of the reference cohort nearest to persona {smallest_id}",
        ),
    )


def _at_least(name: str, value: float, limit: float, what: str) -> Check:
    passed = math.isfinite(value) and value >= limit
    relation = ">=" if passed else "<"
    return Check(
        name=name,
        passed=passed,
        value=float(value),
        limit=float(limit),
        message=f"{what} {value:.3f} {relation} {limit:.3f}",
    )
