"""Assign customers to personas: nearest centroid in the scaled space, with confidence and fit.

A :class:`PersonaAssigner` holds a fitted :class:`~personamap.domain.preprocessing.SpecScaler`,
the persona centroids in scaled space, stable persona ids (ints >= 1) and names, and one fit
threshold per persona. For each customer it returns:

- ``persona_id`` / ``persona_name``: the nearest persona (Euclidean distance in scaled space;
  ties go to the persona listed first);
- ``distance``: the distance to that persona's centroid;
- ``confidence``: ``1 - d1 / d2``, the relative margin between the nearest (``d1``) and the
  second-nearest (``d2``) persona. It is 0 when the customer is equally close to two personas and
  approaches 1 when it sits on its persona's centroid; always 1 with a single persona;
- ``fit``: ``"poor"`` when ``distance`` exceeds the persona's threshold (the customer is not
  well described by any persona, although the nearest one is still named), else ``"good"``.

Fit thresholds. With reference data, a persona's threshold is the ``threshold_quantile`` (default
0.99) of the distances of its own reference members to its centroid, so about 1% of a
reference-like cohort is flagged ``poor``. A persona with fewer than ``min_members`` reference
members, where that quantile is too noisy, uses the pooled fallback ``sigma * chi.ppf(q, df)``:
if members scatter around their centroid like a Gaussian with spread ``sigma`` per dimension, the
distance follows ``sigma`` times a chi distribution with ``df`` degrees of freedom. ``df`` is the
number of features (numeric + categorical: one categorical mismatch costs one squared unit, see
``preprocessing``) and ``sigma`` is estimated from all reference members; with no reference data
at all ``sigma = 1``, i.e. one declared typical scale per feature.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy.stats import chi
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from personamap.domain.preprocessing import CATEGORICAL_WEIGHT, SpecScaler
from personamap.domain.spec import FeatureSpec
from personamap.errors import AssignmentError

ID_COLUMN = "persona_id"
NAME_COLUMN = "persona_name"
DESCRIPTION_COLUMN = "description"
ASSIGNMENT_COLUMNS = (ID_COLUMN, NAME_COLUMN, "distance", "confidence", "fit")
THRESHOLD_QUANTILE = 0.99
MIN_MEMBERS = 50


class MatrixAssignment(NamedTuple):
    """Assignment of an encoded matrix, as plain arrays (one entry per row)."""

    persona_index: np.ndarray
    """Position of the nearest persona in ``persona_ids_`` (intp)."""
    persona_id: np.ndarray
    """Id of the nearest persona (int64)."""
    distance: np.ndarray
    """Euclidean distance to the nearest centroid in scaled space (float64)."""
    confidence: np.ndarray
    """``1 - d1 / d2`` in [0, 1] (float64)."""
    good: np.ndarray
    """Whether the distance is within the persona's fit threshold (bool)."""


class RowAssignment(NamedTuple):
    """Assignment of one encoded row (the fields of :class:`MatrixAssignment` for one customer)."""

    persona_index: int
    persona_id: int
    distance: float
    confidence: float
    good: bool


class PersonaAssigner(BaseEstimator):  # type: ignore[misc]
    """Nearest-persona assignment with confidence and fit, vectorised.

    Build one with :meth:`from_centroids` (vendor centroids in feature units) or
    :meth:`from_clustering` (centroids already in scaled space).

    Args:
        threshold_quantile: Quantile of the members' reference distances used as fit threshold.
        min_members: Fewest reference members for a persona's own quantile; below it the pooled
            chi fallback is used.

    Attributes:
        scaler_: The fitted scaler defining the scaled space.
        centroids_: Persona centroids in scaled space, one row per persona.
        persona_ids_: Stable persona ids (int64, >= 1), in centroid order.
        persona_names_: Persona names, in centroid order.
        thresholds_: Fit threshold per persona (a distance in scaled space).
        threshold_sources_: Per persona, ``"members"``, ``"pooled"`` or ``"chi"``.
    """

    def __init__(
        self, threshold_quantile: float = THRESHOLD_QUANTILE, min_members: int = MIN_MEMBERS
    ) -> None:
        self.threshold_quantile = threshold_quantile
        self.min_members = min_members

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def from_centroids(
        cls,
        centroids: pd.DataFrame,
        spec: FeatureSpec,
        *,
        reference: pd.DataFrame | None = None,
        persona_ids: Sequence[int] | None = None,
        persona_names: Sequence[str] | None = None,
        categorical_weight: float = CATEGORICAL_WEIGHT,
        threshold_quantile: float = THRESHOLD_QUANTILE,
        min_members: int = MIN_MEMBERS,
    ) -> PersonaAssigner:
        """Import personas whose centroids are given in feature units (e.g. by a vendor).

        Args:
            centroids: One row per persona: numeric means, and per categorical feature either a
                level column or ``feature=level`` probability columns. Optional ``persona_id``,
                ``persona_name`` and ``description`` columns are used for ids and names (the
                description is ignored here).
            spec: The feature spec.
            reference: A reference cohort; when given, it defines the scaling and the fit
                thresholds (its customers join their nearest persona). Else the spec's scales and
                the chi fallback are used.
            persona_ids: Ids in row order (default: the ``persona_id`` column, else 1..k).
            persona_names: Names in row order (default: the ``persona_name`` column, else
                "Persona <id>").
            categorical_weight: See :class:`SpecScaler`.
            threshold_quantile: See the class.
            min_members: See the class.

        Raises:
            AssignmentError: naming a missing or unknown column or an invalid value.
        """
        scaler = SpecScaler(spec, categorical_weight=categorical_weight)
        scaler = scaler.fit(reference) if reference is not None else scaler.fit_from_spec()
        meta = [c for c in (ID_COLUMN, NAME_COLUMN, DESCRIPTION_COLUMN) if c in centroids.columns]
        encoded = scaler.transform_centroids(centroids.drop(columns=meta))
        if persona_ids is None and ID_COLUMN in centroids.columns:
            persona_ids = [int(i) for i in centroids[ID_COLUMN]]
        if persona_names is None and NAME_COLUMN in centroids.columns:
            persona_names = [str(n) for n in centroids[NAME_COLUMN]]
        assigner = cls(threshold_quantile=threshold_quantile, min_members=min_members)
        reference_scaled = scaler.transform(reference) if reference is not None else None
        assigner._set_personas(scaler, encoded, persona_ids, persona_names, reference_scaled, None)
        return assigner

    @classmethod
    def from_clustering(
        cls,
        scaler: SpecScaler,
        centroids: np.ndarray,
        *,
        X: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        persona_ids: Sequence[int] | None = None,
        persona_names: Sequence[str] | None = None,
        threshold_quantile: float = THRESHOLD_QUANTILE,
        min_members: int = MIN_MEMBERS,
    ) -> PersonaAssigner:
        """Build from a clustering done in the scaler's space (e.g. a discovery sweep).

        Args:
            scaler: The fitted scaler the clustering ran in.
            centroids: Centroids in scaled space, one row per persona.
            X: The scaled training data, for the fit thresholds (optional).
            labels: Position of each row of ``X`` among ``centroids`` (default: nearest centroid).
            persona_ids: Ids in centroid order (default 1..k).
            persona_names: Names in centroid order (default "Persona <id>").
            threshold_quantile: See the class.
            min_members: See the class.
        """
        check_is_fitted(scaler, "scale_")
        assigner = cls(threshold_quantile=threshold_quantile, min_members=min_members)
        reference = None if X is None else np.asarray(X, dtype=np.float64)
        assigner._set_personas(scaler, centroids, persona_ids, persona_names, reference, labels)
        return assigner

    def with_identity(
        self, persona_ids: Sequence[int], persona_names: Sequence[str] | None = None
    ) -> PersonaAssigner:
        """A copy with new ids (and names) in centroid order, e.g. after matching to production."""
        self._check_built()
        names = self.persona_names_ if persona_names is None else persona_names
        ids, names = _check_identity(np.asarray(persona_ids), names, len(self.centroids_))
        copy = self.__class__(**self.get_params())
        copy.__dict__.update(self.__dict__)
        copy.persona_ids_, copy.persona_names_ = ids, names
        return copy

    def to_dict(self) -> dict[str, Any]:
        """All state as JSON-serialisable data; :meth:`from_dict` reads it back exactly."""
        self._check_built()
        return {
            "threshold_quantile": float(self.threshold_quantile),
            "min_members": int(self.min_members),
            "scaler": self.scaler_.to_dict(),
            "centroids": self.centroids_.tolist(),
            "persona_ids": self.persona_ids_.tolist(),
            "persona_names": list(self.persona_names_),
            "thresholds": self.thresholds_.tolist(),
            "threshold_sources": list(self.threshold_sources_),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], spec: FeatureSpec) -> PersonaAssigner:
        """Rebuild an assigner written by :meth:`to_dict` for ``spec``.

        Raises:
            ValueError: when the data is inconsistent with itself or with the spec.
        """
        assigner = cls(
            threshold_quantile=float(data["threshold_quantile"]),
            min_members=int(data["min_members"]),
        )
        scaler = SpecScaler.from_dict(data["scaler"], spec)
        assigner._set_personas(
            scaler,
            np.asarray(data["centroids"]),
            data["persona_ids"],
            data["persona_names"],
            None,
            None,
        )
        thresholds = np.asarray(data["thresholds"], dtype=np.float64)
        sources = tuple(str(s) for s in data["threshold_sources"])
        k = len(assigner.centroids_)
        if thresholds.shape != (k,) or len(sources) != k or not (thresholds >= 0).all():
            raise ValueError(f"assigner data needs {k} non-negative thresholds and sources")
        assigner.thresholds_, assigner.threshold_sources_ = thresholds, sources
        return assigner

    def _set_personas(
        self,
        scaler: SpecScaler,
        centroids: np.ndarray,
        persona_ids: Sequence[int] | None,
        persona_names: Sequence[str] | None,
        reference: np.ndarray | None,
        labels: np.ndarray | None,
    ) -> None:
        if not 0.0 < self.threshold_quantile < 1.0:
            raise ValueError(f"threshold_quantile must be in (0, 1), got {self.threshold_quantile}")
        if self.min_members < 2:
            raise ValueError(f"min_members must be at least 2, got {self.min_members}")
        matrix = np.array(centroids, dtype=np.float64, copy=True)
        if matrix.ndim != 2 or matrix.shape[1] != scaler.n_features_out_ or len(matrix) == 0:
            raise ValueError(
                f"expected centroids with {scaler.n_features_out_} encoded columns, "
                f"got shape {matrix.shape}"
            )
        if not np.isfinite(matrix).all():
            raise ValueError("centroids contain non-finite values")
        k = len(matrix)
        ids = np.arange(1, k + 1) if persona_ids is None else np.asarray(persona_ids)
        names = [f"Persona {int(i)}" for i in ids] if persona_names is None else persona_names
        self.persona_ids_, self.persona_names_ = _check_identity(ids, names, k)
        self.scaler_ = scaler
        self.centroids_ = matrix
        self._centroid_sq_norms = np.einsum("ij,ij->i", matrix, matrix)
        self.n_features_in_ = scaler.n_features_in_
        self.feature_names_in_ = scaler.feature_names_in_
        self._set_thresholds(reference, labels)

    def _set_thresholds(self, reference: np.ndarray | None, labels: np.ndarray | None) -> None:
        k = len(self.centroids_)
        spec = self.scaler_.spec
        df = len(spec.numeric) + len(spec.categorical)
        q = self.threshold_quantile
        if reference is None or len(reference) == 0:
            self.thresholds_ = np.full(k, float(chi.ppf(q, df)))
            self.threshold_sources_ = ("chi",) * k
            return
        reference = self._check_matrix(reference)
        if labels is None:
            labels = self._nearest_two(reference)[0]
        labels = np.asarray(labels)
        if labels.shape != (len(reference),) or labels.min() < 0 or labels.max() >= k:
            raise ValueError(
                f"labels must give, for each of the {len(reference)} rows, a persona position "
                f"in 0..{k - 1}"
            )
        distance = np.linalg.norm(reference - self.centroids_[labels], axis=1)
        sigma = float(np.sqrt(np.mean(distance**2) / df))
        pooled = sigma * float(chi.ppf(q, df))
        thresholds = np.full(k, pooled)
        sources = ["pooled"] * k
        for j in range(k):
            members = distance[labels == j]
            if len(members) >= self.min_members:
                thresholds[j] = float(np.quantile(members, q))
                sources[j] = "members"
        self.thresholds_ = thresholds
        self.threshold_sources_ = tuple(sources)

    # -- assignment ------------------------------------------------------------------------

    def assign(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Assign each customer of ``frame`` to its nearest persona.

        Returns:
            A frame with ``frame``'s index and columns ``persona_id``, ``persona_name``,
            ``distance``, ``confidence``, ``fit`` (see the module docstring).

        Raises:
            AssignmentError: naming a missing or unknown feature or an invalid value.
        """
        self._check_built()
        result = self.assign_matrix(self.scaler_.transform(frame))
        names = np.asarray(self.persona_names_, dtype=object)[result.persona_index]
        return pd.DataFrame(
            {
                ID_COLUMN: result.persona_id,
                NAME_COLUMN: names,
                "distance": result.distance,
                "confidence": result.confidence,
                "fit": np.where(result.good, "good", "poor").astype(object),
            },
            index=frame.index,
        )

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Persona id of each customer (scikit-learn's ``predict``)."""
        self._check_built()
        return self.assign_matrix(self.scaler_.transform(frame)).persona_id

    def assign_matrix(self, X: np.ndarray) -> MatrixAssignment:
        """Assign rows already encoded by ``scaler_.transform`` (hot path, no pandas).

        Uses ``|x - c|^2 = |x|^2 - 2 x.c + |c|^2`` with precomputed centroid norms (one matrix
        product) and a partial sort for the best two personas.

        Raises:
            ValueError: when ``X`` has the wrong number of columns or non-finite values.
        """
        self._check_built()
        best, d1, d2 = self._nearest_two(self._check_matrix(X))
        # Plain ufuncs (np.clip and np.ones_like cost more than the arithmetic for one customer).
        apart = d2 > 0
        ratio = np.where(apart, d1 / np.where(apart, d2, 1.0), 1.0)
        return MatrixAssignment(
            persona_index=best,
            persona_id=self.persona_ids_[best],
            distance=d1,
            confidence=np.minimum(np.maximum(1.0 - ratio, 0.0), 1.0),
            good=d1 <= self.thresholds_[best],
        )

    def row_assigner(self) -> RowAssigner:
        """An assigner of one encoded row at a time, in plain Python (see :class:`RowAssigner`)."""
        self._check_built()
        return RowAssigner(
            self.centroids_.tolist(), self.persona_ids_.tolist(), self.thresholds_.tolist()
        )

    def _nearest_two(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Nearest persona, its distance, and the distance to the second nearest (inf if none)."""
        n, k = len(X), len(self.centroids_)
        sq = X @ self.centroids_.T
        sq *= -2.0
        sq += self._centroid_sq_norms
        sq += np.einsum("ij,ij->i", X, X)[:, None]
        np.maximum(sq, 0.0, out=sq)
        if k == 1:
            return np.zeros(n, dtype=np.intp), np.sqrt(sq[:, 0]), np.full(n, np.inf)
        # argmin takes the first of equal values: ties go to the persona listed first. Masking
        # the nearest leaves the second nearest as the minimum (equal to the first on a tie).
        # Four O(n k) operations, no sort: cheap for one customer and for millions.
        rows = np.arange(n)
        best = sq.argmin(axis=1)
        nearest = np.sqrt(sq[rows, best])
        sq[rows, best] = np.inf
        return best, nearest, np.sqrt(sq.min(axis=1))

    def _check_built(self) -> None:
        if not hasattr(self, "centroids_"):
            raise NotFittedError(
                "this PersonaAssigner has no personas yet; build it with "
                "PersonaAssigner.from_centroids or PersonaAssigner.from_clustering"
            )

    def _check_matrix(self, X: np.ndarray) -> np.ndarray:
        matrix = np.asarray(X, dtype=np.float64)
        width = self.centroids_.shape[1]
        if matrix.ndim != 2 or matrix.shape[1] != width:
            raise ValueError(
                f"expected an encoded matrix with {width} columns "
                f"{list(self.scaler_.feature_names_out_)}, got shape {matrix.shape}"
            )
        if not np.isfinite(matrix).all():
            rows = np.flatnonzero(~np.isfinite(matrix).all(axis=1))[:5].tolist()
            raise ValueError(f"encoded matrix has non-finite values in row(s) {rows}")
        return matrix

    # -- inspection ------------------------------------------------------------------------

    def centroids_in_units(self) -> pd.DataFrame:
        """Centroids in feature units: numeric means and ``feature=level`` level probabilities.

        Indexed by ``persona_id``, with a ``persona_name`` column; the frame is accepted back by
        :meth:`SpecScaler.transform_centroids`, so catalogs can be compared in one scaled space.
        """
        self._check_built()
        numeric = self.scaler_.inverse_transform(self.centroids_)[
            [f.name for f in self.scaler_.spec.numeric]
        ]
        levels = self.scaler_.level_probabilities(self.centroids_)
        frame = pd.concat([numeric, levels], axis=1)
        frame.insert(0, NAME_COLUMN, list(self.persona_names_))
        frame.index = pd.Index(self.persona_ids_, name=ID_COLUMN)
        return frame


class RowAssigner:
    """Assigns one encoded row at a time, by the rules of :meth:`PersonaAssigner.assign_matrix`.

    For a single customer, numpy's fixed cost per call (a dozen calls for one row) is far above
    the arithmetic: k distances over a few dozen columns. This does the same in plain Python with
    ``math.dist`` (C) per centroid, about ten times faster for one row; a matrix of many rows
    belongs to ``assign_matrix``. Distances agree with it to rounding (``assign_matrix`` expands
    the square); ties go to the persona listed first, as there.

    Args:
        centroids: Centroids in scaled space, one row per persona.
        persona_ids: Persona id per centroid.
        thresholds: Fit threshold per persona.
    """

    def __init__(
        self,
        centroids: Sequence[Sequence[float]],
        persona_ids: Sequence[int],
        thresholds: Sequence[float],
    ) -> None:
        if not centroids or not len(centroids) == len(persona_ids) == len(thresholds):
            raise ValueError("a RowAssigner needs centroids, each with an id and a threshold")
        self._centroids = [tuple(float(v) for v in row) for row in centroids]
        self._ids = [int(i) for i in persona_ids]
        self._thresholds = [float(t) for t in thresholds]

    def assign(self, row: Sequence[float]) -> RowAssignment:
        """The nearest persona of one encoded row, with distance, confidence and fit.

        Raises:
            ValueError: the row has the wrong number of columns.
        """
        distances = [math.dist(row, centroid) for centroid in self._centroids]
        nearest = min(distances)
        best = distances.index(nearest)  # the first of equal distances
        distances[best] = math.inf
        second = min(distances)  # inf with one persona: confidence 1
        ratio = nearest / second if second > 0 else 1.0
        return RowAssignment(
            persona_index=best,
            persona_id=self._ids[best],
            distance=nearest,
            confidence=min(max(1.0 - ratio, 0.0), 1.0),
            good=nearest <= self._thresholds[best],
        )


def _check_identity(
    ids: np.ndarray, names: Sequence[str], k: int
) -> tuple[np.ndarray, tuple[str, ...]]:
    if ids.shape != (k,) or len(names) != k:
        raise AssignmentError(
            f"expected {k} persona ids and names, got {ids.size} ids and {len(names)} names"
        )
    if not np.issubdtype(ids.dtype, np.integer) or (ids < 1).any():
        raise AssignmentError(f"persona ids must be integers >= 1, got {ids.tolist()}")
    if len(set(ids.tolist())) != k:
        raise AssignmentError(f"persona ids repeat: {ids.tolist()}")
    clean = tuple(str(n).strip() for n in names)
    if any(not n for n in clean):
        raise AssignmentError(f"persona names must not be empty, got {list(names)}")
    return ids.astype(np.int64), clean
