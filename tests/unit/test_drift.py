"""Drift statistics flag each drift scenario in its month, and never the months without drift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from personamap.domain.assign import PersonaAssigner
from personamap.domain.drift import DriftPolicy, drift_report, psi
from personamap.domain.spec import FeatureSpec, load_spec
from personamap.domain.synthetic import DriftScenario, generate_cohort, load_personas
from personamap.domain.validation import validate_frame

pytestmark = pytest.mark.unit
MONTHS = ("2025-02", "2025-03", "2025-04", "2025-05")


def _catalog(spec: FeatureSpec, reference: pd.DataFrame) -> PersonaAssigner:
    personas = load_personas(spec)
    centroids = pd.DataFrame(
        [
            {
                **{f: v.mean for f, v in p.numeric.items()},
                **{f: max(levels, key=levels.__getitem__) for f, levels in p.categorical.items()},
            }
            for p in personas.personas
        ]
    )
    return PersonaAssigner.from_centroids(centroids, spec, reference=reference)


@pytest.mark.parametrize("n", [500, 50_000])
@pytest.mark.parametrize("spec_name", ["anonymised", "survey"])
@pytest.mark.parametrize("kind", ["shift", "spread", "emerging", "mix"])
def test_the_drifted_month_is_flagged_and_no_other(spec_name: str, kind: str, n: int) -> None:
    spec = load_spec(spec_name)
    personas = load_personas(spec)
    reference = validate_frame(spec, generate_cohort(spec, personas, "2025-01", n=n).frame).valid
    assigner = _catalog(spec, reference)
    reference_assigned = assigner.assign(reference)
    verdicts = {}
    for month in MONTHS:
        drift = DriftScenario(kind) if month == "2025-03" else None
        cohort = generate_cohort(spec, personas, month, n=n, drift=drift)
        current = validate_frame(spec, cohort.frame).valid
        report = drift_report(
            spec,
            reference,
            current,
            reference_assignments=reference_assigned,
            current_assignments=assigner.assign(current),
            persona_ids=assigner.persona_ids_.tolist(),
            labels=("2025-01", month),
        )
        verdicts[month] = report.drifted
    assert verdicts == {"2025-02": False, "2025-03": True, "2025-04": False, "2025-05": False}


def test_a_trivial_shift_at_large_n_is_significant_but_not_drift() -> None:
    """At 200,000 customers a 0.03 SD shift has a tiny p-value; the effect size keeps it quiet."""
    spec = load_spec("anonymised")
    rng = np.random.default_rng(0)
    reference = pd.DataFrame(rng.normal(size=(200_000, 10)), columns=list(spec.feature_names))
    current = pd.DataFrame(rng.normal(size=(200_000, 10)) + 0.03, columns=list(spec.feature_names))
    assignments = pd.DataFrame(
        {"persona_id": 1, "distance": 1.0, "fit": "good"}, index=reference.index
    )
    report = drift_report(
        spec,
        reference,
        current,
        reference_assignments=assignments,
        current_assignments=assignments,
        persona_ids=[1],
    )
    features = [m for m in report.metrics if m.kind == "feature"]
    assert all(m.p_value < 1e-6 for m in features)
    assert not any(m.drifted for m in features)
    assert not report.drifted


def test_psi_is_zero_for_equal_shares_and_grows_with_the_shift() -> None:
    base = np.array([0.25, 0.25, 0.5])
    assert psi(base, base) == pytest.approx(0.0)
    assert 0 < psi(base, np.array([0.2, 0.3, 0.5])) < psi(base, np.array([0.1, 0.4, 0.5]))
    assert np.isfinite(psi(base, np.array([0.0, 0.5, 0.5])))  # an empty bin is not infinite


@pytest.mark.parametrize(
    ("field", "value"),
    [("alpha", 0.0), ("alpha", 1.5), ("min_psi", -0.1), ("min_drifted_share", 0.0)],
)
def test_a_bad_policy_is_refused_naming_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        DriftPolicy(**{field: value})


@pytest.mark.parametrize("integers", [False, True])
def test_one_merge_gives_scipys_ks_and_wasserstein(integers: bool) -> None:
    from scipy import stats

    from personamap.domain.drift import ks_p_value, ks_wasserstein

    rng = np.random.default_rng(7)
    if integers:  # many ties, as on a 1-5 scale
        a, b = (
            rng.integers(1, 6, 3000).astype(float),
            rng.integers(1, 6, 2000).astype(float) + (rng.random(2000) < 0.1),
        )
    else:
        a, b = rng.normal(size=5000), rng.normal(0.05, 1.1, size=4000)
    statistic, distance = ks_wasserstein(a, b)
    expected = stats.ks_2samp(a, b, method="asymp")
    assert statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert ks_p_value(statistic, len(a), len(b)) == pytest.approx(expected.pvalue, rel=1e-9)
    assert distance == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-9)
