"""Drift statistics: does the current cohort still look like the reference cohort?

Three views, each a test with an effect size, because at large n a p-value alone flags
differences too small to matter:

- **features**: numeric — two-sample Kolmogorov-Smirnov test and the Wasserstein distance in
  reference standard deviations; categorical — chi-square test and the population stability
  index (PSI) over the levels; both also report PSI (numeric: over reference deciles).
- **persona mix**: the shares of assigned personas — chi-square test and PSI.
- **fit quality**: the poor-fit rate (chi-square test of the 2x2 table and its absolute increase)
  and the distance-to-persona distribution (KS and Wasserstein in reference standard deviations).

A metric drifts when its p-value is below ``alpha / m`` (Bonferroni over the ``m`` tests of the
report) **and** its effect size reaches the policy's threshold. The cohort drifts when the persona
mix drifts, or fit quality drifts, or at least ``min_drifted_share`` of the features drift.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from personamap.domain.spec import CategoricalFeature, FeatureSpec, NumericFeature

Kind = Literal["feature", "persona_mix", "fit"]
_EPSILON = 1e-4  # floor of a bin share in PSI, so an empty bin does not give infinity
_DECILES = np.linspace(0.1, 0.9, 9)


@dataclass(frozen=True)
class DriftPolicy:
    """Thresholds of the drift verdict (all configurable).

    Attributes:
        alpha: Family-wise significance level, split over the tests (Bonferroni).
        min_wasserstein: Smallest Wasserstein distance, in reference standard deviations, that
            counts for a numeric feature or the distance distribution.
        min_psi: Smallest PSI that counts for a categorical feature or the persona mix
            (0.1 is the customary "moderate shift").
        min_poor_fit_increase: Smallest absolute increase of the poor-fit rate that counts.
        min_drifted_share: Share of features that must drift for feature drift alone to
            flag the cohort.
    """

    alpha: float = 0.01
    min_wasserstein: float = 0.1
    min_psi: float = 0.1
    min_poor_fit_increase: float = 0.03
    min_drifted_share: float = 0.2

    def __post_init__(self) -> None:
        for name in ("alpha", "min_drifted_share"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ValueError(f"drift policy: {name} must be in (0, 1], got {value}")
        for name in ("min_wasserstein", "min_psi", "min_poor_fit_increase"):
            if getattr(self, name) < 0:
                raise ValueError(f"drift policy: {name} must be 0 or more")


@dataclass(frozen=True)
class DriftMetric:
    """One test of one view, with its effect size and whether it drifted."""

    kind: Kind
    name: str
    test: str
    statistic: float
    p_value: float
    effect_name: str
    effect: float
    threshold: float
    psi: float
    drifted: bool


@dataclass(frozen=True)
class DriftReport:
    """The comparison of a current cohort with the reference cohort."""

    reference: str
    current: str
    n_reference: int
    n_current: int
    metrics: tuple[DriftMetric, ...]
    policy: DriftPolicy
    reference_mix: dict[int, float] = field(default_factory=dict)
    current_mix: dict[int, float] = field(default_factory=dict)
    reference_poor_fit: float = float("nan")
    current_poor_fit: float = float("nan")

    @property
    def drifted_features(self) -> tuple[str, ...]:
        """Names of the features that drifted."""
        return tuple(m.name for m in self.metrics if m.kind == "feature" and m.drifted)

    @property
    def feature_drift_share(self) -> float:
        """Share of the features that drifted."""
        features = [m for m in self.metrics if m.kind == "feature"]
        return sum(m.drifted for m in features) / len(features) if features else 0.0

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why the cohort drifted (empty when it did not)."""
        reasons = []
        if self.feature_drift_share >= self.policy.min_drifted_share:
            reasons.append(
                f"{len(self.drifted_features)} of "
                f"{sum(m.kind == 'feature' for m in self.metrics)} features drifted "
                f"({', '.join(self.drifted_features)})"
            )
        for metric in self.metrics:
            if metric.kind != "feature" and metric.drifted:
                reasons.append(
                    f"{metric.name}: {metric.effect_name} {metric.effect:.3f} "
                    f"(threshold {metric.threshold:g}, p={metric.p_value:.2g})"
                )
        return tuple(reasons)

    @property
    def drifted(self) -> bool:
        """The dataset-level verdict."""
        return bool(self.reasons)


def psi(reference_shares: np.ndarray, current_shares: np.ndarray) -> float:
    """Population stability index between two share vectors over the same bins."""
    ref = np.clip(np.asarray(reference_shares, dtype=np.float64), _EPSILON, None)
    cur = np.clip(np.asarray(current_shares, dtype=np.float64), _EPSILON, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else counts.astype(np.float64)


def _chi_square(reference_counts: np.ndarray, current_counts: np.ndarray) -> tuple[float, float]:
    table = np.vstack([reference_counts, current_counts]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]  # a level seen in neither cohort carries no evidence
    if table.shape[1] < 2:
        return 0.0, 1.0
    statistic, p_value, _, _ = stats.chi2_contingency(table, correction=False)
    return float(statistic), float(p_value)


def ks_wasserstein(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Two-sample KS statistic and Wasserstein-1 distance from one merge of the samples.

    The same values scipy's ``ks_2samp`` and ``wasserstein_distance`` give (a test checks it),
    at the cost of one sort instead of five: the two empirical CDFs are read off the merged,
    sorted sample by cumulative counts.
    """
    n, m = len(reference), len(current)
    merged = np.concatenate([reference, current])
    order = np.argsort(merged, kind="stable")
    values = merged[order]
    from_reference = order < n
    cdf_reference = np.cumsum(from_reference) / n
    cdf_current = np.cumsum(~from_reference) / m
    gap = np.abs(cdf_reference - cdf_current)
    # Tied values: the CDFs are only defined after the last of a run of equal values.
    run_ends = np.append(values[1:] != values[:-1], True)
    statistic = float(gap[run_ends].max())
    distance = float(np.sum(gap[:-1] * np.diff(values)))
    return statistic, distance


def ks_p_value(statistic: float, n: int, m: int) -> float:
    """Asymptotic two-sided p-value of the two-sample KS statistic (as scipy's ``asymp``)."""
    return float(stats.kstwo.sf(statistic, round(n * m / (n + m))))


def _numeric(
    kind: Kind,
    name: str,
    reference: np.ndarray,
    current: np.ndarray,
    threshold: float,
    alpha: float,
) -> DriftMetric:
    statistic, distance = ks_wasserstein(reference, current)
    p_value = ks_p_value(statistic, len(reference), len(current))
    scale = float(np.std(reference))
    effect = distance / (scale if scale > 0 else 1.0)
    edges = np.unique(np.quantile(reference, _DECILES))
    ref_counts = np.bincount(
        np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1
    )
    cur_counts = np.bincount(
        np.searchsorted(edges, current, side="right"), minlength=len(edges) + 1
    )
    return DriftMetric(
        kind=kind,
        name=name,
        test="ks",
        statistic=statistic,
        p_value=p_value,
        effect_name="wasserstein_sd",
        effect=effect,
        threshold=threshold,
        psi=psi(_shares(ref_counts), _shares(cur_counts)),
        drifted=bool(p_value < alpha and effect >= threshold),
    )


def _categorical(
    kind: Kind,
    name: str,
    reference_counts: np.ndarray,
    current_counts: np.ndarray,
    threshold: float,
    alpha: float,
) -> DriftMetric:
    statistic, p_value = _chi_square(reference_counts, current_counts)
    index = psi(_shares(reference_counts), _shares(current_counts))
    return DriftMetric(
        kind=kind,
        name=name,
        test="chi2",
        statistic=statistic,
        p_value=p_value,
        effect_name="psi",
        effect=index,
        threshold=threshold,
        psi=index,
        drifted=bool(p_value < alpha and index >= threshold),
    )


def _level_counts(feature: CategoricalFeature, values: pd.Series) -> np.ndarray:
    codes = pd.Categorical(values, categories=feature.levels).codes
    return np.bincount(codes[codes >= 0], minlength=len(feature.levels))


def drift_report(
    spec: FeatureSpec,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    reference_assignments: pd.DataFrame,
    current_assignments: pd.DataFrame,
    persona_ids: Sequence[int],
    policy: DriftPolicy | None = None,
    labels: tuple[str, str] = ("reference", "current"),
) -> DriftReport:
    """Compare ``current`` with ``reference`` (features, persona mix, fit quality).

    Args:
        spec: The feature spec.
        reference: Reference customers (typed, every feature).
        current: Current customers.
        reference_assignments: Assignments of ``reference`` (``persona_id``, ``distance``,
            ``fit``), under the same catalog as ``current_assignments``.
        current_assignments: Assignments of ``current``.
        persona_ids: The catalog's persona ids (so a persona nobody got still counts).
        policy: Thresholds; defaults to :class:`DriftPolicy`.
        labels: Names of the two cohorts (e.g. their months).
    """
    policy = policy or DriftPolicy()
    if reference.empty or current.empty:
        raise ValueError("drift needs customers in both cohorts")
    m = len(spec.features) + 3  # features, persona mix, poor-fit rate, distances
    alpha = policy.alpha / m

    def feature_metric(feature: NumericFeature | CategoricalFeature) -> DriftMetric:
        if isinstance(feature, CategoricalFeature):
            return _categorical(
                "feature",
                feature.name,
                _level_counts(feature, reference[feature.name]),
                _level_counts(feature, current[feature.name]),
                policy.min_psi,
                alpha,
            )
        return _numeric(
            "feature",
            feature.name,
            reference[feature.name].to_numpy(np.float64),
            current[feature.name].to_numpy(np.float64),
            policy.min_wasserstein,
            alpha,
        )

    # numpy sorts release the GIL: features are compared side by side on every core.
    with ThreadPoolExecutor(max_workers=min(len(spec.features), os.cpu_count() or 1)) as pool:
        metrics = list(pool.map(feature_metric, spec.features))

    ids = list(persona_ids)
    ref_mix = _persona_counts(reference_assignments["persona_id"], ids)
    cur_mix = _persona_counts(current_assignments["persona_id"], ids)
    metrics.append(
        _categorical("persona_mix", "persona_mix", ref_mix, cur_mix, policy.min_psi, alpha)
    )

    ref_poor = int((reference_assignments["fit"] == "poor").sum())
    cur_poor = int((current_assignments["fit"] == "poor").sum())
    n_ref, n_cur = len(reference_assignments), len(current_assignments)
    statistic, p_value = _chi_square(
        np.array([n_ref - ref_poor, ref_poor]), np.array([n_cur - cur_poor, cur_poor])
    )
    increase = cur_poor / n_cur - ref_poor / n_ref
    metrics.append(
        DriftMetric(
            kind="fit",
            name="poor_fit_rate",
            test="chi2",
            statistic=statistic,
            p_value=p_value,
            effect_name="increase",
            effect=float(increase),
            threshold=policy.min_poor_fit_increase,
            psi=psi(
                np.array([1 - ref_poor / n_ref, ref_poor / n_ref]),
                np.array([1 - cur_poor / n_cur, cur_poor / n_cur]),
            ),
            drifted=bool(p_value < alpha and increase >= policy.min_poor_fit_increase),
        )
    )
    metrics.append(
        _numeric(
            "fit",
            "distance",
            reference_assignments["distance"].to_numpy(np.float64),
            current_assignments["distance"].to_numpy(np.float64),
            policy.min_wasserstein,
            alpha,
        )
    )
    return DriftReport(
        reference=labels[0],
        current=labels[1],
        n_reference=len(reference),
        n_current=len(current),
        metrics=tuple(metrics),
        policy=policy,
        reference_mix=dict(zip(ids, _shares(ref_mix).tolist(), strict=True)),
        current_mix=dict(zip(ids, _shares(cur_mix).tolist(), strict=True)),
        reference_poor_fit=ref_poor / n_ref,
        current_poor_fit=cur_poor / n_cur,
    )


def _persona_counts(persona_ids: pd.Series, ids: list[int]) -> np.ndarray:
    position = {persona_id: i for i, persona_id in enumerate(ids)}
    codes = persona_ids.map(position).to_numpy()
    return np.bincount(codes.astype(np.int64), minlength=len(ids))
