"""The scaler encodes customers as the spec declares; the assigner names the nearest persona."""

from __future__ import annotations

import json
import math
import pickle

import cloudpickle
import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from personamap.domain.assign import ASSIGNMENT_COLUMNS, PersonaAssigner
from personamap.domain.preprocessing import CATEGORICAL_WEIGHT, SpecScaler
from personamap.domain.spec import CategoricalFeature, FeatureSpec, load_spec
from personamap.domain.synthetic import PersonaDefinition, generate_cohort, load_personas
from personamap.errors import AssignmentError

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def anonymised() -> FeatureSpec:
    return load_spec("anonymised")


@pytest.fixture(scope="module")
def survey() -> FeatureSpec:
    return load_spec("survey")


def vendor_centroids(
    spec: FeatureSpec, definition: PersonaDefinition, *, modal: bool
) -> pd.DataFrame:
    """The generating personas as a vendor would hand them over: one row per persona."""
    rows = []
    for persona in definition.personas:
        row: dict[str, object] = {"persona_name": persona.name}
        row.update({name: profile.mean for name, profile in persona.numeric.items()})
        for name, probabilities in persona.categorical.items():
            feature = spec.feature(name)
            assert isinstance(feature, CategoricalFeature)
            levels = feature.levels
            if modal:
                row[name] = max(levels, key=lambda level: probabilities.get(level, 0.0))
            else:
                row.update({f"{name}={lv}": probabilities.get(lv, 0.0) for lv in levels})
        rows.append(row)
    return pd.DataFrame(rows)


def customers(
    spec: FeatureSpec, n: int = 2000, month: str = "2025-01", seed: int = 7
) -> tuple[pd.DataFrame, np.ndarray]:
    cohort = generate_cohort(spec, load_personas(spec), month, n=n, seed=seed)
    return cohort.frame, cohort.persona


@pytest.fixture(scope="module")
def anonymised_assigner(anonymised: FeatureSpec) -> PersonaAssigner:
    centroids = vendor_centroids(anonymised, load_personas(anonymised), modal=True)
    return PersonaAssigner.from_centroids(centroids, anonymised)


@pytest.fixture(scope="module")
def survey_assigner(survey: FeatureSpec) -> PersonaAssigner:
    reference, _ = customers(survey, month="2025-02")
    centroids = vendor_centroids(survey, load_personas(survey), modal=True)
    return PersonaAssigner.from_centroids(centroids, survey, reference=reference)


# -- the scaler ------------------------------------------------------------------------------


def test_scaler_standardizes_numeric_features_of_the_reference(survey: FeatureSpec) -> None:
    frame, _ = customers(survey)
    scaler = SpecScaler(survey).fit(frame)
    encoded = scaler.transform(frame)
    n_numeric = len(survey.numeric)
    assert encoded.dtype == np.float64
    assert encoded.shape == (len(frame), len(scaler.feature_names_out_))
    np.testing.assert_allclose(encoded[:, :n_numeric].mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(encoded[:, :n_numeric].std(axis=0), 1.0, atol=1e-9)
    assert scaler.source_ == "reference"


def test_scaler_one_categorical_mismatch_costs_one_numeric_standard_deviation(
    survey: FeatureSpec,
) -> None:
    frame, _ = customers(survey, n=50)
    scaler = SpecScaler(survey).fit(frame)
    a = frame.iloc[[0]].copy()
    b = a.copy()
    b["region"] = "north" if a["region"].iloc[0] != "north" else "south"
    c = a.copy()
    c["age"] = c["age"] + scaler.scale_[0]
    to_b = np.sum((scaler.transform(a) - scaler.transform(b)) ** 2)
    to_c = np.sum((scaler.transform(a) - scaler.transform(c)) ** 2)
    assert to_b == pytest.approx(1.0)
    assert to_c == pytest.approx(1.0)
    assert pytest.approx(1 / math.sqrt(2)) == CATEGORICAL_WEIGHT


def test_scaler_from_spec_uses_declared_scale_and_range_midpoint(survey: FeatureSpec) -> None:
    scaler = SpecScaler(survey).fit_from_spec()
    income = survey.feature("household_income")
    j = [f.name for f in survey.numeric].index("household_income")
    assert scaler.scale_[j] == income.typical_scale
    assert scaler.center_[j] == (income.min + income.max) / 2
    assert scaler.source_ == "spec"


def test_scaler_keeps_declared_scale_for_a_constant_feature(anonymised: FeatureSpec) -> None:
    frame, _ = customers(anonymised, n=100)
    frame["x4"] = 3.0
    scaler = SpecScaler(anonymised).fit(frame)
    assert scaler.scale_[3] == anonymised.feature("x4").typical_scale
    assert np.isfinite(scaler.transform(frame)).all()


def test_scaler_refuses_to_transform_before_fit(anonymised: FeatureSpec) -> None:
    frame, _ = customers(anonymised, n=10)
    with pytest.raises(NotFittedError):
        SpecScaler(anonymised).transform(frame)


def test_scaler_names_the_missing_and_unknown_columns(anonymised: FeatureSpec) -> None:
    frame, _ = customers(anonymised, n=10)
    scaler = SpecScaler(anonymised).fit(frame)
    with pytest.raises(AssignmentError, match=r"missing feature\(s\) \['x7'\]"):
        scaler.transform(frame.drop(columns=["x7"]))
    with pytest.raises(ValueError, match="x11"):
        scaler.transform(frame.assign(x11=1.0))


def test_scaler_inverts_centroids_into_units_and_level_probabilities(survey: FeatureSpec) -> None:
    frame, _ = customers(survey, n=500)
    scaler = SpecScaler(survey).fit(frame)
    centroids = vendor_centroids(survey, load_personas(survey), modal=False)
    encoded = scaler.transform_centroids(centroids.drop(columns=["persona_name"]))
    units = scaler.inverse_transform(encoded)
    np.testing.assert_allclose(units["household_income"], centroids["household_income"], rtol=1e-12)
    levels = scaler.level_probabilities(encoded)
    np.testing.assert_allclose(levels["region=west"], centroids["region=west"], atol=1e-12)
    assert list(units["preferred_channel"]) == ["online", "store", "marketplace", "online", "store"]
    assert np.allclose(
        scaler.transform_centroids(pd.concat([units], axis=1)), scaler.transform(units)
    )


def test_scaler_refuses_ambiguous_or_unknown_centroid_columns(survey: FeatureSpec) -> None:
    scaler = SpecScaler(survey).fit_from_spec()
    centroids = vendor_centroids(survey, load_personas(survey), modal=False).drop(
        columns=["persona_name"]
    )
    with pytest.raises(AssignmentError, match="region=up"):
        scaler.transform_centroids(centroids.assign(**{"region=up": 0.0}))
    with pytest.raises(AssignmentError, match="either a level column 'region'"):
        scaler.transform_centroids(centroids.assign(region="north"))
    bad = centroids.copy()
    bad["region=north"] = 0.9
    with pytest.raises(AssignmentError, match="region: level probabilities must"):
        scaler.transform_centroids(bad)


def test_scaler_follows_the_estimator_contract(survey: FeatureSpec) -> None:
    scaler = SpecScaler(survey, categorical_weight=0.5)
    assert scaler.get_params() == {"spec": survey, "categorical_weight": 0.5}
    assert clone(scaler).get_params()["categorical_weight"] == 0.5
    frame, _ = customers(survey, n=50)
    assert list(scaler.fit(frame).get_feature_names_out()[-4:]) == [
        "region=north",
        "region=south",
        "region=east",
        "region=west",
    ]


# -- assignment ------------------------------------------------------------------------------


def test_a_customer_at_a_centroid_gets_that_persona(
    survey_assigner: PersonaAssigner, survey: FeatureSpec
) -> None:
    centroids = vendor_centroids(survey, load_personas(survey), modal=True)
    at_centroids = centroids.drop(columns=["persona_name"])
    result = survey_assigner.assign(at_centroids)
    assert list(result.columns) == list(ASSIGNMENT_COLUMNS)
    assert list(result["persona_id"]) == [1, 2, 3, 4, 5]
    assert list(result["persona_name"]) == list(centroids["persona_name"])
    np.testing.assert_allclose(result["distance"], 0.0, atol=1e-6)
    np.testing.assert_allclose(result["confidence"], 1.0, atol=1e-6)
    assert set(result["fit"]) == {"good"}


def test_the_nearest_persona_is_returned(
    survey_assigner: PersonaAssigner, survey: FeatureSpec
) -> None:
    frame, _ = customers(survey, n=1000, month="2025-03")
    result = survey_assigner.assign(frame)
    X = survey_assigner.scaler_.transform(frame)
    distances = np.linalg.norm(X[:, None, :] - survey_assigner.centroids_[None], axis=2)
    order = np.sort(distances, axis=1)
    assert (result["persona_id"].to_numpy() == distances.argmin(axis=1) + 1).all()
    np.testing.assert_allclose(result["distance"], order[:, 0], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(result["confidence"], 1 - order[:, 0] / order[:, 1], atol=1e-9)
    assert result["confidence"].between(0, 1).all()
    assert (result.index == frame.index).all()


def test_a_customer_far_from_every_persona_fits_poorly_but_gets_the_nearest(
    anonymised_assigner: PersonaAssigner,
) -> None:
    far = pd.DataFrame([{f"x{i}": 90.0 for i in range(1, 11)}])
    result = anonymised_assigner.assign(far)
    X = anonymised_assigner.scaler_.transform(far)
    nearest = np.linalg.norm(anonymised_assigner.centroids_ - X, axis=1).argmin() + 1
    assert result["fit"].iloc[0] == "poor"
    assert result["persona_id"].iloc[0] == nearest


def test_missing_feature_is_refused_with_the_field_named(
    anonymised_assigner: PersonaAssigner, anonymised: FeatureSpec
) -> None:
    frame, _ = customers(anonymised, n=5)
    with pytest.raises(AssignmentError, match="x3"):
        anonymised_assigner.assign(frame.drop(columns=["x3"]))


def test_unknown_feature_is_refused_with_the_field_named(
    anonymised_assigner: PersonaAssigner, anonymised: FeatureSpec
) -> None:
    frame, _ = customers(anonymised, n=5)
    with pytest.raises(AssignmentError, match="loyalty_points"):
        anonymised_assigner.assign(frame.assign(loyalty_points=3))


def test_unknown_level_or_missing_value_is_refused_with_the_field_and_value(
    survey_assigner: PersonaAssigner, survey: FeatureSpec
) -> None:
    frame, _ = customers(survey, n=5)
    frame = frame.astype({"region": object})
    frame.loc[2, "region"] = "atlantis"
    with pytest.raises(AssignmentError, match=r"region: 'atlantis' is not one of .*row\(s\) 2"):
        survey_assigner.assign(frame)
    frame, _ = customers(survey, n=5)
    frame = frame.astype({"age": float})
    frame.loc[1, "age"] = np.nan
    with pytest.raises(AssignmentError, match="age: missing"):
        survey_assigner.assign(frame)


def test_an_encoded_matrix_of_the_wrong_width_is_refused(
    anonymised_assigner: PersonaAssigner,
) -> None:
    with pytest.raises(ValueError, match="10 columns"):
        anonymised_assigner.assign_matrix(np.zeros((3, 9)))
    with pytest.raises(ValueError, match="non-finite"):
        anonymised_assigner.assign_matrix(np.full((1, 10), np.nan))


def test_a_tiny_change_to_a_customer_keeps_the_persona(
    survey_assigner: PersonaAssigner, survey: FeatureSpec
) -> None:
    frame, _ = customers(survey, n=1000, month="2025-04")
    nudged = frame.copy()
    for feature in survey.numeric:
        nudged[feature.name] = frame[feature.name] + 1e-6 * feature.typical_scale
    before = survey_assigner.assign(frame)
    after = survey_assigner.assign(nudged)
    assert (before["persona_id"] == after["persona_id"]).all()
    np.testing.assert_allclose(before["distance"], after["distance"], atol=1e-5)


@pytest.mark.parametrize("with_reference", [False, True])
def test_vendor_centroids_assign_their_own_generated_customers(
    anonymised: FeatureSpec, with_reference: bool
) -> None:
    definition = load_personas(anonymised)
    reference = customers(anonymised, n=3000, month="2025-02")[0] if with_reference else None
    assigner = PersonaAssigner.from_centroids(
        vendor_centroids(anonymised, definition, modal=True), anonymised, reference=reference
    )
    frame, truth = customers(anonymised, n=5000, month="2025-01", seed=11)
    result = assigner.assign(frame)
    accuracy = float(np.mean(result["persona_id"].to_numpy() == truth + 1))
    assert accuracy >= 0.99
    assert list(assigner.persona_names_) == list(definition.names)


def test_thresholds_flag_about_one_percent_of_a_reference_like_cohort(
    survey_assigner: PersonaAssigner, survey: FeatureSpec
) -> None:
    frame, _ = customers(survey, n=5000, month="2025-05")
    poor = float(np.mean(survey_assigner.assign(frame)["fit"] == "poor"))
    assert 0.0 < poor < 0.03
    assert survey_assigner.threshold_sources_ == ("members",) * 5


def test_without_reference_data_thresholds_come_from_the_chi_distribution(
    anonymised_assigner: PersonaAssigner,
) -> None:
    expected = chi.ppf(0.99, 10)
    np.testing.assert_allclose(anonymised_assigner.thresholds_, expected)
    assert anonymised_assigner.threshold_sources_ == ("chi",) * 3


def test_a_persona_with_few_reference_members_gets_the_pooled_threshold(
    anonymised: FeatureSpec,
) -> None:
    scaler = SpecScaler(anonymised).fit(customers(anonymised, n=500)[0])
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 0.3, (300, 10)), rng.normal(5, 0.3, (10, 10))])
    labels = np.repeat([0, 1], [300, 10])
    assigner = PersonaAssigner.from_clustering(
        scaler, np.array([np.zeros(10), np.full(10, 5.0)]), X=X, labels=labels
    )
    assert assigner.threshold_sources_ == ("members", "pooled")
    assert assigner.thresholds_[1] == pytest.approx(assigner.thresholds_[0], rel=0.2)


def test_assignment_is_deterministic_and_survives_pickling(
    survey_assigner: PersonaAssigner, survey: FeatureSpec
) -> None:
    frame, _ = customers(survey, n=300)
    expected = survey_assigner.assign(frame)
    for restored in (
        cloudpickle.loads(cloudpickle.dumps(survey_assigner)),
        pickle.loads(pickle.dumps(survey_assigner)),
    ):
        pd.testing.assert_frame_equal(restored.assign(frame), expected)
    pd.testing.assert_frame_equal(survey_assigner.assign(frame), expected)


def test_assigner_round_trips_through_json_exactly(
    survey_assigner: PersonaAssigner, survey: FeatureSpec
) -> None:
    frame, _ = customers(survey, n=300)
    data = json.loads(json.dumps(survey_assigner.to_dict()))
    restored = PersonaAssigner.from_dict(data, survey)
    assert restored.to_dict() == survey_assigner.to_dict()
    pd.testing.assert_frame_equal(restored.assign(frame), survey_assigner.assign(frame))
    data["thresholds"] = data["thresholds"][:-1]
    with pytest.raises(ValueError, match="thresholds"):
        PersonaAssigner.from_dict(data, survey)


def test_matrix_hot_path_agrees_with_the_frame_path(
    survey_assigner: PersonaAssigner, survey: FeatureSpec
) -> None:
    frame, _ = customers(survey, n=300)
    fast = survey_assigner.assign_matrix(survey_assigner.scaler_.transform(frame))
    slow = survey_assigner.assign(frame)
    assert (fast.persona_id == slow["persona_id"].to_numpy()).all()
    assert (np.where(fast.good, "good", "poor") == slow["fit"].to_numpy()).all()
    assert (survey_assigner.predict(frame) == fast.persona_id).all()


def test_ties_go_to_the_persona_listed_first(anonymised: FeatureSpec) -> None:
    scaler = SpecScaler(anonymised).fit_from_spec()
    centroids = np.zeros((2, 10))
    centroids[0, 0], centroids[1, 0] = -1.0, 1.0
    assigner = PersonaAssigner.from_clustering(scaler, centroids, persona_ids=[7, 3])
    result = assigner.assign_matrix(np.zeros((1, 10)))
    assert result.persona_id.tolist() == [7]
    assert result.confidence.tolist() == [0.0]
    assert assigner.row_assigner().assign([0.0] * 10) == (0, 7, 1.0, 0.0, True)


def test_the_row_assigner_agrees_with_the_matrix_path(
    survey_assigner: PersonaAssigner, survey: FeatureSpec
) -> None:
    frame, _ = customers(survey, n=300)
    X = survey_assigner.scaler_.transform(frame)
    X[:5] *= 4.0  # a few customers far out: poor fits too
    matrix = survey_assigner.assign_matrix(X)
    rows = [survey_assigner.row_assigner().assign(row) for row in X.tolist()]
    assert [r.persona_index for r in rows] == matrix.persona_index.tolist()
    assert [r.persona_id for r in rows] == matrix.persona_id.tolist()
    assert [r.good for r in rows] == matrix.good.tolist()
    assert not all(r.good for r in rows)
    np.testing.assert_allclose([r.distance for r in rows], matrix.distance, rtol=1e-12)
    np.testing.assert_allclose([r.confidence for r in rows], matrix.confidence, atol=1e-12)


def test_the_row_assigner_of_one_persona_is_always_confident(anonymised: FeatureSpec) -> None:
    scaler = SpecScaler(anonymised).fit_from_spec()
    assigner = PersonaAssigner.from_clustering(scaler, np.zeros((1, 10)))
    row = assigner.row_assigner().assign([3.0] + [0.0] * 9)
    assert (row.persona_index, row.distance, row.confidence) == (0, 3.0, 1.0)
    with pytest.raises(ValueError, match="dimensions"):
        assigner.row_assigner().assign([0.0] * 9)


def test_ids_and_names_can_be_replaced_without_moving_centroids(
    anonymised_assigner: PersonaAssigner,
) -> None:
    renamed = anonymised_assigner.with_identity([4, 2, 9], ["Steve", "Haley", "Nina"])
    assert renamed.persona_ids_.tolist() == [4, 2, 9]
    assert renamed.persona_names_ == ("Steve", "Haley", "Nina")
    assert renamed.centroids_ is anonymised_assigner.centroids_
    assert anonymised_assigner.persona_ids_.tolist() == [1, 2, 3]
    with pytest.raises(AssignmentError, match="repeat"):
        anonymised_assigner.with_identity([1, 1, 2])
    with pytest.raises(AssignmentError, match=">= 1"):
        anonymised_assigner.with_identity([0, 1, 2])


def test_an_assigner_without_personas_refuses_to_assign() -> None:
    with pytest.raises(NotFittedError, match="from_centroids"):
        PersonaAssigner().assign_matrix(np.zeros((1, 2)))
