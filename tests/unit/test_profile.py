"""Profiles describe each persona against the population and suggest a name from its traits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from personamap.domain.profile import AVERAGE_NAME, profile_personas, profiles_frame
from personamap.domain.spec import FeatureSpec, load_spec
from personamap.domain.synthetic import DEMO_SEED, generate_cohort, load_personas
from personamap.errors import AssignmentError

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def survey() -> FeatureSpec:
    return load_spec("survey")


@pytest.fixture(scope="module")
def cohort(survey: FeatureSpec) -> tuple[pd.DataFrame, np.ndarray]:
    generated = generate_cohort(survey, load_personas(survey), "2025-01", n=3000, seed=DEMO_SEED)
    return generated.frame, generated.persona + 1


def test_shares_and_sizes_add_up_to_the_population(
    survey: FeatureSpec, cohort: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, labels = cohort
    profiles = profile_personas(survey, frame, labels)
    assert [p.persona_id for p in profiles] == [1, 2, 3, 4, 5]
    assert sum(p.size for p in profiles) == len(frame)
    assert sum(p.share for p in profiles) == pytest.approx(1.0)


def test_numeric_z_score_is_the_standardized_difference_of_means(
    survey: FeatureSpec, cohort: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, labels = cohort
    steve = profile_personas(survey, frame, labels)[0]
    income = frame["household_income"].astype(float)
    members = income[labels == 1]
    assert steve.means["household_income"] == pytest.approx(members.mean())
    expected = (members.mean() - income.mean()) / income.std(ddof=0)
    assert steve.z_scores["household_income"] == pytest.approx(expected)


def test_level_z_score_is_the_standardized_difference_of_shares(
    survey: FeatureSpec, cohort: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, labels = cohort
    nina = profile_personas(survey, frame, labels)[3]
    online = (frame["preferred_channel"] == "online").to_numpy()
    p = online.mean()
    share = online[labels == 4].mean()
    assert nina.level_shares["preferred_channel"]["online"] == pytest.approx(share)
    assert sum(nina.level_shares["region"].values()) == pytest.approx(1.0)
    expected = (share - p) / np.sqrt(p * (1 - p))
    assert nina.z_scores["preferred_channel=online"] == pytest.approx(expected)


def test_top_traits_and_name_describe_what_sets_a_persona_apart(
    survey: FeatureSpec, cohort: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, labels = cohort
    steve, _, brenda, nina, trudy = profile_personas(survey, frame, labels)
    assert "high household income" in steve.suggested_name.lower()
    assert [abs(t.z) for t in steve.top_traits] == sorted(
        (abs(t.z) for t in steve.top_traits), reverse=True
    )
    assert "high price sensitivity" in brenda.suggested_name.lower()
    assert nina.suggested_name.startswith("High digital affinity, low age")
    five = profile_personas(survey, frame, labels, top_n=5)
    assert "preferred channel: online" in five[3].suggested_name
    assert "preferred channel: marketplace" in five[2].suggested_name
    assert trudy.suggested_name.startswith("High age")
    assert "years" in trudy.description
    assert len(steve.top_traits) == 3


def test_names_are_distinct_and_deterministic_whatever_the_row_order(
    survey: FeatureSpec, cohort: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, labels = cohort
    first = profile_personas(survey, frame, labels)
    order = np.random.default_rng(0).permutation(len(frame))
    shuffled = profile_personas(survey, frame.iloc[order], labels[order])
    assert [p.suggested_name for p in first] == [p.suggested_name for p in shuffled]
    assert len({p.suggested_name for p in first}) == len(first)
    for a, b in zip(first, shuffled, strict=True):
        assert a.z_scores == pytest.approx(b.z_scores)


def test_a_persona_like_the_population_gets_the_average_name(
    survey: FeatureSpec, cohort: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, _ = cohort
    random_halves = np.random.default_rng(1).integers(1, 3, size=len(frame))
    profiles = profile_personas(survey, frame, random_halves)
    assert all(p.top_traits == () for p in profiles)
    assert profiles[0].suggested_name == f"{AVERAGE_NAME} (persona 1)"


def test_a_persona_without_customers_warns_and_has_no_traits(
    survey: FeatureSpec, cohort: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, labels = cohort
    with pytest.warns(UserWarning, match="persona 9 has no customers"):
        profiles = profile_personas(survey, frame, labels, persona_ids=[1, 9])
    assert profiles[1].size == 0
    assert profiles[1].top_traits == ()
    assert np.isnan(profiles[1].means["age"])


def test_profile_table_has_one_row_per_persona_with_means_and_z(
    survey: FeatureSpec, cohort: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, labels = cohort
    table = profiles_frame(profile_personas(survey, frame, labels))
    assert list(table["persona_id"]) == [1, 2, 3, 4, 5]
    for column in ("suggested_name", "share", "age", "age_z", "region=north", "region=north_z"):
        assert column in table.columns


def test_labels_that_do_not_fit_the_frame_are_refused(
    survey: FeatureSpec, cohort: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, labels = cohort
    with pytest.raises(AssignmentError, match="one persona label per customer"):
        profile_personas(survey, frame, labels[:-1])
