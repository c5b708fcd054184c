"""Discovery sweeps k, measures each clustering, and chooses k by a scale-free rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.datasets import load_wine, make_blobs
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.preprocessing import StandardScaler

from personamap.domain.discover import METRICS, KResult, SweepResult, choose_k, sweep
from personamap.domain.preprocessing import SpecScaler
from personamap.domain.spec import load_spec
from personamap.domain.synthetic import DEMO_SEED, generate_cohort, load_personas
from personamap.errors import DiscoveryError

pytestmark = pytest.mark.unit


def scaled_cohort(spec_name: str, n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    spec = load_spec(spec_name)
    cohort = generate_cohort(spec, load_personas(spec), "2025-01", n=n, seed=DEMO_SEED)
    return SpecScaler(spec).fit(cohort.frame).transform(cohort.frame), cohort.persona


@pytest.fixture(scope="module")
def anonymised_sweep() -> tuple[SweepResult, np.ndarray]:
    X, truth = scaled_cohort("anonymised")
    return sweep(X, random_state=0), truth


def fake(k: int, silhouette: float, ch: float, stability: float, share: float) -> KResult:
    return KResult(
        k=k,
        inertia=1.0,
        silhouette=silhouette,
        calinski_harabasz=ch,
        davies_bouldin=1.0,
        stability=stability,
        smallest_share=share,
        centroids=np.zeros((k, 2)),
        labels=np.zeros(10, dtype=np.intp),
    )


def test_automatic_k_recovers_the_anonymised_personas(
    anonymised_sweep: tuple[SweepResult, np.ndarray],
) -> None:
    result, truth = anonymised_sweep
    k = choose_k(result)
    assert k == 3
    assert adjusted_rand_score(truth, result.for_k(k).labels) >= 0.95


def test_automatic_k_recovers_the_survey_personas() -> None:
    X, truth = scaled_cohort("survey")
    result = sweep(X, random_state=0)
    k = choose_k(result)
    assert k == 5
    assert adjusted_rand_score(truth, result.for_k(k).labels) >= 0.90


def test_automatic_k_recovers_the_wine_cultivars_without_their_labels() -> None:
    X, cultivar = load_wine(return_X_y=True)
    result = sweep(StandardScaler().fit_transform(X), random_state=0)
    k = choose_k(result)
    assert adjusted_rand_score(cultivar, result.for_k(k).labels) >= 0.85


def test_sweep_reports_every_metric_for_every_k(
    anonymised_sweep: tuple[SweepResult, np.ndarray],
) -> None:
    result, truth = anonymised_sweep
    frame = result.metrics_frame()
    assert list(frame.index) == list(range(2, 11)) == list(result.ks)
    assert list(frame.columns) == list(METRICS)
    assert frame.notna().all().all()
    assert frame["inertia"].is_monotonic_decreasing
    assert frame["stability"].between(-1, 1).all()
    for k_result in result:
        assert k_result.centroids.shape == (k_result.k, 10)
        assert k_result.labels.shape == truth.shape
        shares = np.bincount(k_result.labels, minlength=k_result.k) / len(truth)
        assert k_result.smallest_share == pytest.approx(shares.min())


def test_silhouette_is_exact_below_the_sample_size() -> None:
    X, _ = make_blobs(600, 4, centers=3, random_state=1)
    result = sweep(X, ks=[2, 3, 4], random_state=0)
    assert result.silhouette_sample_size == 600
    for k_result in result:
        expected = silhouette_score(X, k_result.labels)
        assert k_result.silhouette == pytest.approx(expected, abs=1e-5)


def test_silhouette_uses_a_seeded_sample_for_large_n() -> None:
    X, _ = make_blobs(3000, 4, centers=3, random_state=1)
    result = sweep(X, ks=[3], random_state=0, silhouette_size=1000)
    assert result.silhouette_sample_size == 1000
    assert result.for_k(3).silhouette == pytest.approx(
        silhouette_score(X, result.for_k(3).labels), abs=0.03
    )


def test_the_same_random_state_gives_the_same_sweep() -> None:
    X, _ = make_blobs(800, 5, centers=4, random_state=2)
    first = sweep(X, ks=range(2, 6), random_state=3)
    second = sweep(X, ks=range(2, 6), random_state=3)
    assert first.metrics_frame().equals(second.metrics_frame())
    for a, b in zip(first, second, strict=True):
        assert (a.labels == b.labels).all()


def test_choose_k_never_picks_a_persona_below_the_minimum_share() -> None:
    results = [
        fake(2, 0.30, 100.0, 1.0, 0.40),
        fake(3, 0.50, 300.0, 1.0, 0.02),
        fake(4, 0.40, 200.0, 1.0, 0.10),
    ]
    assert choose_k(results, min_share=0.05) == 4
    assert choose_k(results, min_share=0.01) == 3
    assert choose_k(results, min_share=0.2) == 2
    with pytest.raises(DiscoveryError, match=r"min_share=0\.5"):
        choose_k(results, min_share=0.5)


def test_choose_k_on_a_real_sweep_respects_every_minimum_share(
    anonymised_sweep: tuple[SweepResult, np.ndarray],
) -> None:
    result, _ = anonymised_sweep
    for min_share in (0.0, 0.05, 0.1, 0.2, 0.3, 0.45):
        try:
            k = choose_k(result, min_share=min_share)
        except DiscoveryError:
            assert all(r.smallest_share < min_share for r in result)
        else:
            assert result.for_k(k).smallest_share >= min_share


def test_choose_k_prefers_stable_k_and_warns_when_none_is() -> None:
    results = [fake(2, 0.3, 100.0, 0.95, 0.4), fake(3, 0.5, 300.0, 0.5, 0.3)]
    assert choose_k(results) == 2
    shaky = [fake(2, 0.3, 100.0, 0.5, 0.4), fake(3, 0.5, 300.0, 0.6, 0.3)]
    with pytest.warns(UserWarning, match="stability"):
        assert choose_k(shaky) == 3


def test_choose_k_ranks_by_calinski_harabasz_then_smaller_k() -> None:
    results = [fake(4, 0.41, 600.0, 1.0, 0.15), fake(5, 0.40, 650.0, 1.0, 0.15)]
    assert choose_k(results) == 5
    tied = [fake(3, 0.4, 500.0, 1.0, 0.2), fake(4, 0.4, 500.0, 1.0, 0.2)]
    assert choose_k(tied) == 3


def test_choose_k_warns_when_structure_is_weak() -> None:
    with pytest.warns(UserWarning, match="no substantial persona structure"):
        assert choose_k([fake(2, 0.1, 10.0, 1.0, 0.5)]) == 2


def test_degenerate_data_warns_instead_of_crashing() -> None:
    X = np.repeat([[0.0, 0.0], [1.0, 1.0]], 20, axis=0)
    with pytest.warns(UserWarning, match="k=3: only 2 non-empty personas"):
        result = sweep(X, ks=[2, 3], random_state=0)
    assert result.for_k(2).smallest_share == pytest.approx(0.5)
    assert result.for_k(3).smallest_share == 0.0
    assert math.isfinite(result.for_k(3).silhouette)
    assert choose_k(result) == 2


def test_k_that_cannot_be_fitted_is_skipped_with_a_warning() -> None:
    X, _ = make_blobs(10, 2, centers=2, random_state=0)
    with pytest.warns(UserWarning, match="skipping"):
        result = sweep(X, ks=[2, 9, 12], random_state=0)
    assert result.ks == (2,)


def test_invalid_input_is_refused() -> None:
    with pytest.raises(DiscoveryError, match="non-finite"):
        sweep(np.array([[0.0], [np.nan], [1.0]]), random_state=0)
    with pytest.raises(DiscoveryError, match="at least 2"):
        sweep(np.zeros((10, 2)), ks=[1, 2], random_state=0)
