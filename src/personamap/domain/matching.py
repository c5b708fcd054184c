"""Stable persona identity: match a new catalog's personas to the current ones.

KMeans labels permute on every retrain, so persona ids must not be cluster labels. When a new
catalog is made, its centroids are matched to the current (production) centroids by the Hungarian
algorithm on Euclidean distances, with a distance limit: a matched new persona keeps the old
``persona_id`` (and the caller keeps its name), an unmatched new persona gets a fresh id, and
unmatched old personas are reported as vanished.

Both sets of centroids must be in one common scaled space. :func:`match_catalogs` takes care of
it for two :class:`~personamap.domain.assign.PersonaAssigner`: the new centroids are decoded into
feature units and re-encoded with the old catalog's scaler, so distances are measured the way the
production catalog measures them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from personamap.domain.assign import NAME_COLUMN, PersonaAssigner


@dataclass(frozen=True)
class Matching:
    """How the personas of a new catalog relate to the old ones.

    Attributes:
        ids: The id of each new persona, in new-centroid order (matched or fresh).
        mapping: New persona position -> old persona id, for the matched ones.
        new_ids: Fresh ids given to unmatched new personas, in new-centroid order.
        vanished_ids: Old ids that no new persona matched, in increasing order.
        distances: New persona position -> distance to its matched old centroid.
        max_distance: The distance limit used.
    """

    ids: tuple[int, ...]
    mapping: dict[int, int]
    new_ids: tuple[int, ...]
    vanished_ids: tuple[int, ...]
    distances: dict[int, float]
    max_distance: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable summary, for logging with the run."""
        return {
            "max_distance": self.max_distance if math.isfinite(self.max_distance) else None,
            "matched": [
                {"new_position": position, "persona_id": old, "distance": self.distances[position]}
                for position, old in sorted(self.mapping.items())
            ],
            "new_ids": list(self.new_ids),
            "vanished_ids": list(self.vanished_ids),
            "ids": list(self.ids),
        }


def default_max_distance(old_centroids: np.ndarray) -> float:
    """Half the smallest distance between two old centroids (``inf`` with a single persona).

    Within that limit a new centroid can be close to at most one old centroid, so a match never
    has to choose between two plausible old personas.
    """
    old = np.asarray(old_centroids, dtype=np.float64)
    if len(old) < 2:
        return float("inf")
    gaps = np.linalg.norm(old[:, None, :] - old[None, :, :], axis=2)
    return float(gaps[np.triu_indices(len(old), k=1)].min() / 2.0)


def match_personas(
    new_centroids: np.ndarray,
    old_centroids: np.ndarray,
    old_ids: Sequence[int],
    max_distance: float,
    *,
    next_id: int | None = None,
) -> Matching:
    """Match new centroids to old ones so that matched personas keep their ids.

    Among all one-to-one matchings using only pairs within ``max_distance``, the one with the
    most pairs is chosen, and among those the one with the smallest total distance.

    Args:
        new_centroids: New persona centroids, one row each, in the common scaled space.
        old_centroids: Current persona centroids, in the same space.
        old_ids: Ids of the current personas, in ``old_centroids`` order.
        max_distance: Largest distance at which a new persona still is an old one.
        next_id: Smallest id a fresh persona may get (e.g. one above every id ever issued, so a
            vanished id is never reused); fresh ids are at least ``max(old_ids) + 1`` anyway.

    Raises:
        ValueError: when shapes or ids are inconsistent or ``max_distance`` is negative.
    """
    new = np.asarray(new_centroids, dtype=np.float64)
    old = np.asarray(old_centroids, dtype=np.float64)
    ids = [int(i) for i in old_ids]
    if new.ndim != 2 or old.ndim != 2 or (len(old) and new.shape[1] != old.shape[1]):
        raise ValueError(
            "centroids must be 2-D with the same number of columns, "
            f"got {new.shape} and {old.shape}"
        )
    if len(ids) != len(old) or len(set(ids)) != len(ids):
        raise ValueError(f"need one distinct id per old centroid, got {ids} for {len(old)}")
    if not max_distance >= 0:
        raise ValueError(f"max_distance must be >= 0, got {max_distance}")

    mapping: dict[int, int] = {}
    distances: dict[int, float] = {}
    if len(new) and len(old):
        cost = np.linalg.norm(new[:, None, :] - old[None, :, :], axis=2)
        allowed = cost <= max_distance
        # An out-of-limit pair costs more than every allowed pair together, so the solver first
        # maximises the number of allowed pairs, then minimises their total distance.
        penalty = float(cost[allowed].sum()) + 1.0 if allowed.any() else 1.0
        rows, cols = linear_sum_assignment(np.where(allowed, cost, penalty))
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            if allowed[r, c]:
                mapping[r] = ids[c]
                distances[r] = float(cost[r, c])

    fresh = max([*ids, 0]) + 1 if next_id is None else max([*ids, 0, next_id - 1]) + 1
    assigned: list[int] = []
    new_ids: list[int] = []
    for position in range(len(new)):
        if position in mapping:
            assigned.append(mapping[position])
        else:
            assigned.append(fresh)
            new_ids.append(fresh)
            fresh += 1
    matched_old = set(mapping.values())
    return Matching(
        ids=tuple(assigned),
        mapping=mapping,
        new_ids=tuple(new_ids),
        vanished_ids=tuple(sorted(i for i in ids if i not in matched_old)),
        distances=distances,
        max_distance=float(max_distance),
    )


def match_catalogs(
    new: PersonaAssigner,
    old: PersonaAssigner,
    max_distance: float | None = None,
    *,
    next_id: int | None = None,
) -> Matching:
    """Match the personas of catalog ``new`` to those of catalog ``old`` in ``old``'s space.

    Args:
        new: The new (e.g. retrained) catalog.
        old: The current (e.g. production) catalog.
        max_distance: Distance limit in ``old``'s scaled space; by default
            :func:`default_max_distance` of the old centroids.
        next_id: See :func:`match_personas`.

    Raises:
        AssignmentError: when the catalogs do not share their features.
    """
    units = new.centroids_in_units().drop(columns=[NAME_COLUMN])
    new_centroids = old.scaler_.transform_centroids(units.reset_index(drop=True))
    limit = default_max_distance(old.centroids_) if max_distance is None else max_distance
    return match_personas(
        new_centroids, old.centroids_, old.persona_ids_.tolist(), limit, next_id=next_id
    )
