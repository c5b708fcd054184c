"""Synthetic cohorts are reproducible, valid, month-stamped samples of known personas, and drift."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency, ks_2samp
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from personamap.domain.cohort import month_bounds
from personamap.domain.spec import FeatureSpec, load_spec
from personamap.domain.synthetic import (
    DEMO_DRIFT,
    DEMO_MONTHS,
    DEMO_N_PER_MONTH,
    DEMO_SEED,
    TIME_ZONES,
    Cohort,
    DriftScenario,
    PersonaDefinition,
    generate_cohort,
    generate_cohorts,
    load_personas,
    months_between,
    parse_drift,
    parse_personas,
)
from personamap.domain.validation import validate_frame
from personamap.errors import SpecError

pytestmark = pytest.mark.unit

ALPHA = 0.01
SPECS = ("anonymised", "survey")


@pytest.fixture(scope="module", params=SPECS)
def spec(request: pytest.FixtureRequest) -> FeatureSpec:
    return load_spec(request.param)


@pytest.fixture(scope="module")
def personas(spec: FeatureSpec) -> PersonaDefinition:
    return load_personas(spec)


@pytest.fixture(scope="module")
def anonymised() -> FeatureSpec:
    return load_spec("anonymised")


@pytest.fixture(scope="module")
def survey() -> FeatureSpec:
    return load_spec("survey")


def _numeric(spec: FeatureSpec, frame: pd.DataFrame) -> pd.DataFrame:
    return frame[[f.name for f in spec.numeric]].astype(float)


def _ks_flags(spec: FeatureSpec, reference: Cohort, current: Cohort) -> bool:
    """Any numeric feature differs, by Kolmogorov-Smirnov with Bonferroni correction."""
    names = [f.name for f in spec.numeric]
    p_values = [
        ks_2samp(reference.frame[n], current.frame[n], method="asymp").pvalue for n in names
    ]
    return min(p_values) < ALPHA / len(names)


def _chi2_flags(reference: Cohort, current: Cohort) -> bool:
    """The true persona counts differ, by a chi-square test of the contingency table."""
    k = max(len(reference.personas.personas), len(current.personas.personas))
    table = np.array([np.bincount(c.persona, minlength=k) for c in (reference, current)])
    return bool(chi2_contingency(table[:, table.sum(axis=0) > 0]).pvalue < ALPHA)


# -- persona definitions -----------------------------------------------------------------------

VALID = """
spec = "anonymised"
[[personas]]
name = "A"
share = 0.6
[personas.numeric]
{a_features}
[[personas]]
name = "B"
share = 0.4
[personas.numeric]
{b_features}
"""


def _definition(**changes: str) -> str:
    a = {f"x{i}": "{ mean = -5.0, spread = 1.0 }" for i in range(1, 11)}
    b = {f"x{i}": "{ mean = 5.0, spread = 1.0 }" for i in range(1, 11)}
    a.update(changes)
    return VALID.format(
        a_features="\n".join(f"{k} = {v}" for k, v in a.items()),
        b_features="\n".join(f"{k} = {v}" for k, v in b.items()),
    )


def test_shipped_definitions_name_their_personas(survey: FeatureSpec) -> None:
    assert len(load_personas(load_spec("anonymised")).personas) == 3
    names = load_personas(survey).names
    assert len(names) == 5
    assert {"Sustainable Steve", "Eco-conscious Haley"} <= set(names)


def test_a_valid_user_definition_loads_from_a_file(anonymised: FeatureSpec, tmp_path: Path) -> None:
    path = tmp_path / "mine.personas.toml"
    path.write_text(_definition(), encoding="utf-8")
    definition = load_personas(anonymised, path)
    assert definition.names == ("A", "B")
    assert definition.personas[1].numeric["x3"].mean == 5.0


def test_a_missing_definition_file_is_refused(anonymised: FeatureSpec, tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="neither a shipped definition"):
        load_personas(anonymised, tmp_path / "nope.toml")


def test_shares_that_do_not_sum_to_one_are_refused(anonymised: FeatureSpec) -> None:
    text = _definition().replace("share = 0.4", "share = 0.3")
    with pytest.raises(SpecError, match=r"shares sum to 0\.9, not 1: 'A' 0\.6, 'B' 0\.3"):
        parse_personas(text, anonymised)


def test_an_unknown_feature_is_refused_by_name(anonymised: FeatureSpec) -> None:
    with pytest.raises(SpecError, match="unknown feature 'x11'"):
        parse_personas(_definition(x11="{ mean = 0.0, spread = 1.0 }"), anonymised)


def test_a_missing_feature_is_refused_by_name(anonymised: FeatureSpec) -> None:
    text = _definition().replace("x7 = { mean = -5.0, spread = 1.0 }\n", "")
    with pytest.raises(SpecError, match=r"personas\.0 \(A\): feature 'x7' is missing"):
        parse_personas(text, anonymised)


def test_a_mean_outside_the_valid_range_is_refused_with_its_value(
    anonymised: FeatureSpec,
) -> None:
    with pytest.raises(SpecError, match=r"x2: mean 250 is outside the valid range \[-100, 100\]"):
        parse_personas(_definition(x2="{ mean = 250.0, spread = 1.0 }"), anonymised)


def test_a_negative_spread_is_refused_with_its_value(anonymised: FeatureSpec) -> None:
    with pytest.raises(SpecError, match=r"personas\.0\.numeric\.x4\.spread: .*\(got -1\.0\)"):
        parse_personas(_definition(x4="{ mean = 0.0, spread = -1.0 }"), anonymised)


def test_a_definition_for_another_spec_is_refused(survey: FeatureSpec) -> None:
    with pytest.raises(SpecError, match="does not fit feature spec 'survey': it is for spec"):
        load_personas(survey, "anonymised")


def test_unknown_levels_and_probabilities_not_summing_to_one_are_refused(
    survey: FeatureSpec,
) -> None:
    text = (
        Path(__file__)
        .parents[2]
        .joinpath("src/personamap/specs/survey.personas.toml")
        .read_text(encoding="utf-8")
    )
    bad_level = text.replace("online = 0.60, store", "web = 0.60, store", 1)
    with pytest.raises(SpecError, match=r"unknown level\(s\) \['web'\]"):
        parse_personas(bad_level, survey)
    bad_sum = text.replace("online = 0.60, store", "online = 0.70, store", 1)
    with pytest.raises(SpecError, match=r"probabilities of 'preferred_channel' sum to 1\.1"):
        parse_personas(bad_sum, survey)


# -- shipped personas can be recovered -----------------------------------------------------------


@pytest.mark.parametrize(("name", "minimum_ari"), [("anonymised", 0.95), ("survey", 0.90)])
def test_shipped_personas_are_recovered_by_clustering(name: str, minimum_ari: float) -> None:
    spec = load_spec(name)
    definition = load_personas(spec)
    cohort = generate_cohort(spec, definition, "2025-01", n=2000)
    encoded = np.hstack(
        [
            StandardScaler().fit_transform(_numeric(spec, cohort.frame)),
            *(pd.get_dummies(cohort.frame[f.name]).to_numpy(float) for f in spec.categorical),
        ]
    )
    labels = KMeans(n_clusters=len(definition.personas), n_init=10, random_state=0).fit_predict(
        encoded
    )
    assert adjusted_rand_score(cohort.persona, labels) >= minimum_ari


def test_anonymised_customers_are_nearest_to_their_own_persona(anonymised: FeatureSpec) -> None:
    definition = load_personas(anonymised)
    cohort = generate_cohort(anonymised, definition, "2025-01", n=2000)
    centroids = np.array(
        [[p.numeric[f.name].mean for f in anonymised.numeric] for p in definition.personas]
    )
    values = _numeric(anonymised, cohort.frame).to_numpy()
    nearest = np.argmin(((values[:, None, :] - centroids[None]) ** 2).sum(axis=2), axis=1)
    assert (nearest == cohort.persona).mean() >= 0.99


# -- sampling ------------------------------------------------------------------------------------


def test_a_cohort_has_the_spec_columns_in_order(
    spec: FeatureSpec, personas: PersonaDefinition
) -> None:
    cohort = generate_cohort(spec, personas, "2025-01", n=50)
    assert tuple(cohort.frame.columns) == spec.columns
    assert cohort.persona.shape == (50,)


@pytest.mark.parametrize("kind", ["none", "shift", "spread", "emerging", "mix"])
def test_every_generated_frame_validates_without_rejects(
    spec: FeatureSpec, personas: PersonaDefinition, kind: str
) -> None:
    cohort = generate_cohort(spec, personas, "2025-03", drift=parse_drift(kind))
    validated = validate_frame(spec, cohort.frame)
    assert validated.n_rejected == 0, validated.rejects.head()
    assert validated.n_valid == DEMO_N_PER_MONTH


def test_samples_follow_the_persona_shares_means_and_level_probabilities(
    survey: FeatureSpec,
) -> None:
    definition = load_personas(survey)
    cohort = generate_cohort(survey, definition, "2025-01", n=20_000)
    shares = np.bincount(cohort.persona) / len(cohort.persona)
    np.testing.assert_allclose(shares, [p.share for p in definition.personas], atol=0.015)
    trudy = definition.names.index("Traditional Trudy")
    rows = cohort.frame[cohort.persona == trudy]
    assert rows["age"].mean() == pytest.approx(70, abs=0.5)
    assert (rows["preferred_channel"] == "store").mean() == pytest.approx(0.85, abs=0.03)
    assert (cohort.persona_names == "Traditional Trudy").sum() == len(rows)


# -- reproducibility -----------------------------------------------------------------------------


def test_the_same_seed_gives_identical_cohorts(
    spec: FeatureSpec, personas: PersonaDefinition
) -> None:
    first = generate_cohorts(spec, personas, ["2025-01", "2025-02"], n_per_month=200, seed=7)
    again = generate_cohorts(spec, personas, ["2025-01", "2025-02"], n_per_month=200, seed=7)
    for a, b in zip(first, again, strict=True):
        pd.testing.assert_frame_equal(a.frame, b.frame)
        np.testing.assert_array_equal(a.persona, b.persona)


def test_another_seed_gives_another_sample(spec: FeatureSpec, personas: PersonaDefinition) -> None:
    a = generate_cohort(spec, personas, "2025-01", n=200, seed=1)
    b = generate_cohort(spec, personas, "2025-01", n=200, seed=2)
    assert not a.frame.equals(b.frame)


def test_two_months_are_different_samples(spec: FeatureSpec, personas: PersonaDefinition) -> None:
    january, february = generate_cohorts(spec, personas, ["2025-01", "2025-02"], n_per_month=200)
    features = list(spec.feature_names)
    assert not january.frame[features].equals(february.frame[features])
    assert not np.array_equal(january.persona, february.persona)


def test_a_month_is_the_same_alone_or_among_other_months(
    spec: FeatureSpec, personas: PersonaDefinition
) -> None:
    alone = generate_cohort(spec, personas, "2025-03", n=300, seed=DEMO_SEED)
    among = generate_cohorts(spec, personas, DEMO_MONTHS, n_per_month=300, seed=DEMO_SEED)[2]
    pd.testing.assert_frame_equal(alone.frame, among.frame)
    np.testing.assert_array_equal(alone.persona, among.persona)


def test_ids_are_unique_across_months_and_name_the_month(
    anonymised: FeatureSpec,
) -> None:
    cohorts = generate_cohorts(anonymised, load_personas(anonymised), n_per_month=100)
    ids = pd.concat([c.frame["customer_id"] for c in cohorts])
    assert ids.is_unique
    assert cohorts[0].frame["customer_id"].iat[0] == "C202501-000001"
    assert cohorts[4].frame["customer_id"].iat[-1] == "C202505-000100"


# -- timestamps ----------------------------------------------------------------------------------


def test_timestamps_parse_back_to_utc_instants_within_their_month(
    anonymised: FeatureSpec,
) -> None:
    personas = load_personas(anonymised)
    for month in ("2025-01", "2025-03", "2025-12"):
        cohort = generate_cohort(anonymised, personas, month)
        validated = validate_frame(anonymised, cohort.frame)
        assert validated.n_rejected == 0
        start, end = month_bounds(month)
        stamps = validated.valid["signup_at"]
        assert (stamps >= pd.Timestamp(start)).all()
        assert (stamps < pd.Timestamp(end)).all()
        assert stamps.is_monotonic_increasing  # ids follow the signup order
        offsets = cohort.frame["signup_at"].str[-6:]
        assert offsets.nunique() >= 6
        assert "+05:30" in set(offsets)


def test_signups_are_spread_over_the_whole_month(anonymised: FeatureSpec) -> None:
    cohort = generate_cohort(anonymised, load_personas(anonymised), "2025-02", n=2000)
    utc = validate_frame(anonymised, cohort.frame).valid["signup_at"]
    assert sorted(utc.dt.day.unique()) == list(range(1, 29))


def test_local_times_carry_the_offset_of_a_home_zone_at_that_instant(
    anonymised: FeatureSpec,
) -> None:
    cohort = generate_cohort(anonymised, load_personas(anonymised), "2025-03")
    zones = [ZoneInfo(z) for z in TIME_ZONES]
    for text in cohort.frame["signup_at"]:
        local = datetime.fromisoformat(text)
        assert any(local.astimezone(z).utcoffset() == local.utcoffset() for z in zones), text
    # New York switched to daylight saving time on 2025-03-09: both offsets occur in March.
    assert {"-05:00", "-04:00"} <= set(cohort.frame["signup_at"].str[-6:])


# -- drift ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["shift", "spread", "emerging"])
def test_a_drifted_month_is_flagged_by_ks_and_an_undrifted_one_is_not(
    spec: FeatureSpec, personas: PersonaDefinition, kind: str
) -> None:
    january, february, march = generate_cohorts(
        spec, personas, ["2025-01", "2025-02", "2025-03"], drift={"2025-03": DriftScenario(kind)}
    )
    assert _ks_flags(spec, january, march)
    assert not _ks_flags(spec, january, february)


def test_a_mix_drift_is_flagged_by_chi_square_and_an_undrifted_month_is_not(
    spec: FeatureSpec, personas: PersonaDefinition
) -> None:
    january, february, march = generate_cohorts(
        spec, personas, ["2025-01", "2025-02", "2025-03"], drift={"2025-03": parse_drift("mix")}
    )
    assert _chi2_flags(january, march)
    assert not _chi2_flags(january, february)


def test_no_drift_is_not_flagged_and_leaves_the_month_unchanged(
    spec: FeatureSpec, personas: PersonaDefinition
) -> None:
    january, march = generate_cohorts(
        spec, personas, ["2025-01", "2025-03"], drift={"2025-03": DriftScenario("none")}
    )
    assert not _ks_flags(spec, january, march)
    assert not _chi2_flags(january, march)
    plain = generate_cohort(spec, personas, "2025-03")
    pd.testing.assert_frame_equal(plain.frame, march.frame)


def test_drift_changes_only_the_months_it_is_given_for(
    anonymised: FeatureSpec,
) -> None:
    personas = load_personas(anonymised)
    cohorts = generate_cohorts(anonymised, personas, drift=DEMO_DRIFT)
    assert [str(c.drift) for c in cohorts] == ["none", "none", "shift:magnitude=3", "none", "none"]
    plain = generate_cohorts(anonymised, personas)
    for drifted, undrifted in zip(cohorts, plain, strict=True):
        assert drifted.frame.equals(undrifted.frame) == (drifted.month != "2025-03")


def test_a_shift_moves_the_largest_persona_by_magnitude_spreads(anonymised: FeatureSpec) -> None:
    personas = load_personas(anonymised)
    moved = DriftScenario("shift", magnitude=2.0).apply(anonymised, personas)
    before, after = personas.personas[0].numeric, moved.personas[0].numeric
    assert after["x1"].mean == pytest.approx(before["x1"].mean + 2.0 * before["x1"].spread)
    assert after["x2"] == before["x2"]
    assert moved.personas[1:] == personas.personas[1:]


def test_an_emerging_segment_takes_its_share_away_from_every_persona(survey: FeatureSpec) -> None:
    personas = load_personas(survey)
    drifted = DriftScenario("emerging", magnitude=0.25).apply(survey, personas)
    assert len(drifted.personas) == 6
    assert drifted.personas[-1].share == 0.25
    assert sum(p.share for p in drifted.personas) == pytest.approx(1.0)
    new = np.array([drifted.personas[-1].numeric[f.name].mean for f in survey.numeric])
    scale = np.array([f.typical_scale for f in survey.numeric])
    for persona in personas.personas:
        old = np.array([persona.numeric[f.name].mean for f in survey.numeric])
        assert np.linalg.norm((new - old) / scale) > 2.0, persona.name


def test_a_mix_moves_share_from_the_largest_persona_to_the_smallest(survey: FeatureSpec) -> None:
    personas = load_personas(survey)
    shares = [p.share for p in DriftScenario("mix", magnitude=0.5).apply(survey, personas).personas]
    assert shares == pytest.approx([0.275, 0.20, 0.125, 0.20, 0.20])


def test_a_spread_drift_widens_every_persona(anonymised: FeatureSpec) -> None:
    personas = load_personas(anonymised)
    widened = DriftScenario("spread", magnitude=2.0).apply(anonymised, personas)
    for before, after in zip(personas.personas, widened.personas, strict=True):
        assert after.numeric["x5"].spread == 2.0 * before.numeric["x5"].spread
        assert after.numeric["x5"].mean == before.numeric["x5"].mean


def test_a_drift_on_a_persona_that_does_not_exist_is_refused(anonymised: FeatureSpec) -> None:
    with pytest.raises(SpecError, match=r"persona 7 does not exist; .* 3 personas \(0\.\.2\)"):
        generate_cohort(
            anonymised, load_personas(anonymised), "2025-01", drift=parse_drift("shift:persona=7")
        )


def test_drift_for_a_month_not_generated_is_refused(anonymised: FeatureSpec) -> None:
    with pytest.raises(SpecError, match=r"month\(s\) \['2025-07'\] that are not generated"):
        generate_cohorts(
            anonymised, load_personas(anonymised), drift={"2025-07": DriftScenario("shift")}
        )


# -- parsing drift -------------------------------------------------------------------------------


def test_drift_is_parsed_from_cli_text() -> None:
    assert parse_drift("shift") == DriftScenario("shift", magnitude=3.0)
    parsed = parse_drift(" Shift : persona=1, magnitude=3 ")
    assert parsed == DriftScenario("shift", persona=1, magnitude=3.0)
    assert parse_drift(str(parsed)) == parsed
    assert parse_drift("none") == DriftScenario()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "drift",
            r"unknown drift kind 'drift' .*allowed kinds: none, shift, spread, emerging, mix",
        ),
        ("shift:speed=2", r"'speed=2' is not a parameter"),
        ("shift:persona=first", r"persona must be a whole number, got 'first'"),
        ("spread:magnitude=big", r"magnitude must be a number, got 'big'"),
        ("mix:magnitude=1.5", r"magnitude must be between 0 and 1 \(exclusive\), got 1\.5"),
        ("spread:magnitude=-2", r"magnitude must be a number above 0, got -2"),
        ("emerging:persona=1", r"drift 'emerging' takes no persona"),
        ("none:magnitude=1", r"drift 'none' takes no magnitude"),
    ],
)
def test_bad_drift_text_is_refused_naming_the_value(text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_drift(text)


# -- demo ------------------------------------------------------------------------------------------


def test_the_demo_is_five_months_of_500_with_a_shift_in_march() -> None:
    assert list(DEMO_MONTHS) == months_between("2025-01", "2025-05")
    assert (DEMO_N_PER_MONTH, DEMO_SEED) == (500, 42)
    assert dict(DEMO_DRIFT) == {"2025-03": DriftScenario("shift")}
