"""Preprocessing from the feature spec: scaled numeric features and weighted one-hot categoricals.

Persona assignment, discovery and matching all measure Euclidean distance in one *scaled space*
built here. Numeric features are standardized, ``(value - center) / scale``, with center and scale
learned from a reference cohort (mean and standard deviation) or, when there is none, taken from
the spec (midpoint of the valid range and the declared ``typical_scale``). Each categorical feature
is one-hot encoded and multiplied by ``categorical_weight``.

Why the default weight is ``1 / sqrt(2)``: two different levels of one categorical feature differ
in two one-hot coordinates, so a mismatch costs ``2 * weight**2`` in squared distance. With
``weight = 1 / sqrt(2)`` a mismatch on one categorical feature costs exactly as much as one standard
deviation on one numeric feature, so neither kind of feature dominates by construction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from personamap.domain.spec import FeatureSpec
from personamap.errors import AssignmentError

CATEGORICAL_WEIGHT = 1.0 / math.sqrt(2.0)
LEVEL_SEPARATOR = "="
_SHOWN = 5


def level_column(feature: str, level: str) -> str:
    """Name of the encoded column for one level of a categorical feature, e.g. ``region=north``."""
    return f"{feature}{LEVEL_SEPARATOR}{level}"


def _rows(index: pd.Index, mask: np.ndarray) -> str:
    labels = [str(label) for label in index[mask][:_SHOWN]]
    more = int(mask.sum()) - len(labels)
    return ", ".join(labels) + (f" and {more} more" if more > 0 else "")


class SpecScaler(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Encode customer frames into the scaled space the personas live in.

    Args:
        spec: The feature spec that declares the features.
        categorical_weight: Multiplier of the one-hot columns; the default makes a mismatch on one
            categorical feature cost the same squared distance as one standard deviation on one
            numeric feature (see the module docstring).

    Attributes:
        center_: Per numeric feature, the value mapped to 0.
        scale_: Per numeric feature, the value mapped to 1 (never 0).
        source_: ``"reference"`` when learned from data, ``"spec"`` when taken from the spec.
        feature_names_in_: The spec's feature names, in declared order.
        feature_names_out_: Names of the encoded columns (numeric names, then ``feature=level``).
    """

    def __init__(self, spec: FeatureSpec, categorical_weight: float = CATEGORICAL_WEIGHT) -> None:
        self.spec = spec
        self.categorical_weight = categorical_weight

    # -- fitting ---------------------------------------------------------------------------

    def fit(self, X: pd.DataFrame, y: Any = None) -> Self:
        """Learn center (mean) and scale (standard deviation) of each numeric feature.

        A feature that is constant in ``X`` keeps the spec's ``typical_scale`` as scale, so it
        neither divides by zero nor blows up distances.

        Raises:
            AssignmentError: when a feature is missing, unknown or has invalid values.
        """
        self._check_weight()
        numeric, _ = self._encode_inputs(X)
        if len(numeric) == 0:
            raise AssignmentError("cannot fit the scaler on an empty reference frame")
        center = numeric.mean(axis=0)
        scale = numeric.std(axis=0)
        declared = np.array([f.typical_scale for f in self.spec.numeric], dtype=np.float64)
        tiny = ~(scale > 1e-12 * np.maximum(1.0, np.abs(center)))
        scale[tiny] = declared[tiny]
        self._set_fitted(center, scale, source="reference")
        return self

    def fit_from_spec(self) -> Self:
        """Take center (range midpoint) and scale (``typical_scale``) from the spec; no data."""
        self._check_weight()
        center = np.array([(f.min + f.max) / 2.0 for f in self.spec.numeric], dtype=np.float64)
        scale = np.array([f.typical_scale for f in self.spec.numeric], dtype=np.float64)
        self._set_fitted(center, scale, source="spec")
        return self

    def _check_weight(self) -> None:
        if not (math.isfinite(self.categorical_weight) and self.categorical_weight > 0):
            raise ValueError(
                f"categorical_weight must be a positive number, got {self.categorical_weight!r}"
            )

    def _set_fitted(self, center: np.ndarray, scale: np.ndarray, *, source: str) -> None:
        self.center_ = center
        self.scale_ = scale
        self.source_ = source
        self.feature_names_in_ = np.array(self.spec.feature_names, dtype=object)
        self.n_features_in_ = len(self.spec.feature_names)
        names = [f.name for f in self.spec.numeric]
        for feature in self.spec.categorical:
            names.extend(level_column(feature.name, level) for level in feature.levels)
        self.feature_names_out_ = tuple(names)
        self.n_features_out_ = len(names)

    # -- serialisation ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The fitted state as JSON-serialisable data (the spec is stored by the caller)."""
        check_is_fitted(self, "scale_")
        return {
            "categorical_weight": float(self.categorical_weight),
            "center": [float(v) for v in self.center_],
            "scale": [float(v) for v in self.scale_],
            "source": self.source_,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], spec: FeatureSpec) -> SpecScaler:
        """Rebuild a fitted scaler written by :meth:`to_dict` for ``spec``.

        Raises:
            ValueError: when the data does not fit the spec's numeric features.
        """
        scaler = cls(spec, categorical_weight=float(data["categorical_weight"]))
        scaler._check_weight()
        center = np.asarray(data["center"], dtype=np.float64)
        scale = np.asarray(data["scale"], dtype=np.float64)
        n = len(spec.numeric)
        if center.shape != (n,) or scale.shape != (n,) or not (scale > 0).all():
            raise ValueError(
                f"scaler data needs {n} centers and {n} positive scales for spec {spec.name!r}, "
                f"got {center.size} and {scale.size}"
            )
        scaler._set_fitted(center, scale, source=str(data["source"]))
        return scaler

    # -- encoding --------------------------------------------------------------------------

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Encode customer records into the scaled space.

        ``X`` must have every feature of the spec; the spec's id and timestamp columns may be
        present and are ignored; any other column is refused.

        Returns:
            A float64 array, one row per customer, columns as in ``feature_names_out_``.

        Raises:
            AssignmentError: naming a missing or unknown column, or a feature with invalid values.
        """
        check_is_fitted(self, "scale_")
        numeric, codes = self._encode_inputs(X)
        out = np.zeros((len(numeric), self.n_features_out_), dtype=np.float64)
        n_numeric = len(self.spec.numeric)
        out[:, :n_numeric] = (numeric - self.center_) / self.scale_
        offset = n_numeric
        rows = np.arange(len(numeric))
        for feature, code in zip(self.spec.categorical, codes, strict=True):
            out[rows, offset + code] = self.categorical_weight
            offset += len(feature.levels)
        return out

    def _encode_inputs(self, X: pd.DataFrame) -> tuple[np.ndarray, list[np.ndarray]]:
        """Check columns and values; return numeric values and categorical level codes."""
        if not isinstance(X, pd.DataFrame):
            raise AssignmentError(
                f"expected a DataFrame with columns {list(self.spec.feature_names)}, "
                f"got {type(X).__name__}"
            )
        columns = [str(c) for c in X.columns]
        missing = [name for name in self.spec.feature_names if name not in columns]
        unknown = [c for c in columns if c not in self.spec.columns]
        problems = []
        if missing:
            problems.append(f"missing feature(s) {missing}")
        if unknown:
            problems.append(f"unknown feature(s) {unknown}")
        if problems:
            raise AssignmentError(
                f"customer records do not match feature spec {self.spec.name!r}: "
                f"{'; '.join(problems)} (expected {list(self.spec.feature_names)})"
            )
        numeric = np.empty((len(X), len(self.spec.numeric)), dtype=np.float64)
        for j, feature in enumerate(self.spec.numeric):
            numeric[:, j] = _numeric_values(feature.name, X[feature.name])
        codes = [_level_codes(f.name, f.levels, X[f.name]) for f in self.spec.categorical]
        return numeric, codes

    def transform_centroids(self, centroids: pd.DataFrame) -> np.ndarray:
        """Encode persona centroids given in feature units into the scaled space.

        Numeric features are means in their units. A categorical feature is given either as one
        column holding a level (the persona's typical level) or as ``feature=level`` columns holding
        level probabilities (absent levels count as 0; each feature's probabilities must sum to 1).

        Raises:
            AssignmentError: naming a missing or unknown column, or invalid values.
        """
        check_is_fitted(self, "scale_")
        if not isinstance(centroids, pd.DataFrame):
            raise AssignmentError(
                f"expected a DataFrame of centroids, got {type(centroids).__name__}"
            )
        columns = [str(c) for c in centroids.columns]
        n = len(centroids)
        out = np.zeros((n, self.n_features_out_), dtype=np.float64)
        known: set[str] = set()
        missing = []
        n_numeric = len(self.spec.numeric)
        for j, feature in enumerate(self.spec.numeric):
            known.add(feature.name)
            if feature.name not in columns:
                missing.append(feature.name)
                continue
            values = _numeric_values(feature.name, centroids[feature.name])
            out[:, j] = (values - self.center_[j]) / self.scale_[j]
        offset = n_numeric
        for cat in self.spec.categorical:
            width = len(cat.levels)
            prob_columns = [level_column(cat.name, level) for level in cat.levels]
            known.update([cat.name, *prob_columns])
            given = [c for c in prob_columns if c in columns]
            prefix = cat.name + LEVEL_SEPARATOR
            stray = [c for c in columns if c.startswith(prefix) and c not in prob_columns]
            if stray:
                raise AssignmentError(
                    f"{cat.name}: unknown level column(s) {stray}; levels are {list(cat.levels)}"
                )
            if cat.name in columns and given:
                raise AssignmentError(
                    f"{cat.name}: give either a level column {cat.name!r} or probability "
                    f"columns {prob_columns}, not both"
                )
            if cat.name in columns:
                code = _level_codes(cat.name, cat.levels, centroids[cat.name])
                out[np.arange(n), offset + code] = self.categorical_weight
            elif given:
                probs = np.zeros((n, width), dtype=np.float64)
                for i, column in enumerate(prob_columns):
                    if column in columns:
                        probs[:, i] = _numeric_values(column, centroids[column])
                _check_probabilities(cat.name, probs, centroids.index)
                out[:, offset : offset + width] = (
                    self.categorical_weight * probs / probs.sum(axis=1, keepdims=True)
                )
            else:
                missing.append(cat.name)
            offset += width
        unknown = [c for c in columns if c not in known]
        if missing or unknown:
            problems = [f"missing feature(s) {missing}"] if missing else []
            problems += [f"unknown column(s) {unknown}"] if unknown else []
            raise AssignmentError(
                f"centroids do not match feature spec {self.spec.name!r}: {'; '.join(problems)}"
            )
        return out

    # -- decoding --------------------------------------------------------------------------

    def inverse_transform(self, X: np.ndarray) -> pd.DataFrame:
        """Decode points of the scaled space (e.g. centroids) into feature units.

        Numeric features are unscaled; each categorical feature gets its most probable level
        (see :meth:`level_probabilities` for the full distribution).
        """
        check_is_fitted(self, "scale_")
        matrix = self._check_encoded(X)
        n_numeric = len(self.spec.numeric)
        data: dict[str, Any] = {
            f.name: matrix[:, j] * self.scale_[j] + self.center_[j]
            for j, f in enumerate(self.spec.numeric)
        }
        offset = n_numeric
        for feature in self.spec.categorical:
            block = matrix[:, offset : offset + len(feature.levels)]
            levels = np.array(feature.levels, dtype=object)
            data[feature.name] = levels[np.argmax(block, axis=1)]
            offset += len(feature.levels)
        return pd.DataFrame(data, columns=list(self.spec.feature_names))

    def level_probabilities(self, X: np.ndarray) -> pd.DataFrame:
        """Level probabilities of each categorical feature at points of the scaled space.

        The one-hot block of a centroid is ``weight * (level shares)``; dividing by the weight,
        clipping at 0 and renormalising recovers the shares. Columns are ``feature=level``.
        """
        check_is_fitted(self, "scale_")
        matrix = self._check_encoded(X)
        data: dict[str, np.ndarray] = {}
        offset = len(self.spec.numeric)
        for feature in self.spec.categorical:
            width = len(feature.levels)
            block = np.clip(matrix[:, offset : offset + width], 0.0, None)
            total = block.sum(axis=1, keepdims=True)
            shares = np.divide(block, total, out=np.full_like(block, 1.0 / width), where=total > 0)
            for i, level in enumerate(feature.levels):
                data[level_column(feature.name, level)] = shares[:, i]
            offset += width
        return pd.DataFrame(data, columns=list(data))

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> np.ndarray:
        """Names of the encoded columns (scikit-learn's feature-name protocol)."""
        check_is_fitted(self, "scale_")
        return np.array(self.feature_names_out_, dtype=object)

    def _check_encoded(self, X: np.ndarray) -> np.ndarray:
        matrix = np.asarray(X, dtype=np.float64)
        if matrix.ndim == 1:
            matrix = matrix.reshape(1, -1)
        if matrix.ndim != 2 or matrix.shape[1] != self.n_features_out_:
            raise ValueError(
                f"expected points with {self.n_features_out_} encoded columns "
                f"{list(self.feature_names_out_)}, got shape {matrix.shape}"
            )
        return matrix


def _numeric_values(name: str, column: pd.Series) -> np.ndarray:
    """The column as finite float64 values, or an error naming the feature and the bad rows."""
    try:
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        coerced = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.isnan(coerced) & column.notna().to_numpy()
        first = column[bad].iloc[0]
        raise AssignmentError(
            f"{name}: {first!r} is not a number (row(s) {_rows(column.index, bad)})"
        ) from None
    bad = ~np.isfinite(values)
    if bad.any():
        raise AssignmentError(
            f"{name}: missing or non-finite value (row(s) {_rows(column.index, bad)})"
        )
    return values


def _level_codes(name: str, levels: tuple[str, ...], column: pd.Series) -> np.ndarray:
    """Position of each value among ``levels``, or an error naming the feature and bad values."""
    codes = pd.Index(levels, dtype=object).get_indexer(pd.Index(column.to_numpy(dtype=object)))
    bad = codes < 0
    if bad.any():
        first = column[bad].iloc[0]
        shown = (
            "missing value" if pd.isna(first) else f"{first!r} is not one of {', '.join(levels)}"
        )
        raise AssignmentError(f"{name}: {shown} (row(s) {_rows(column.index, bad)})")
    return np.asarray(codes, dtype=np.intp)


def _check_probabilities(name: str, probs: np.ndarray, index: pd.Index) -> None:
    bad = (probs < -1e-9).any(axis=1) | (np.abs(probs.sum(axis=1) - 1.0) > 1e-3)
    if bad.any():
        raise AssignmentError(
            f"{name}: level probabilities must be non-negative and sum to 1 "
            f"(row(s) {_rows(index, bad)})"
        )
