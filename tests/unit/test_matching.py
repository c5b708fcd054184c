"""Matching keeps persona ids across retrains and reports personas that appear or vanish."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from personamap.domain.assign import PersonaAssigner
from personamap.domain.discover import choose_k, sweep
from personamap.domain.matching import default_max_distance, match_catalogs, match_personas
from personamap.domain.preprocessing import SpecScaler
from personamap.domain.spec import FeatureSpec, load_spec
from personamap.domain.synthetic import (
    DEMO_SEED,
    DriftScenario,
    PersonaDefinition,
    generate_cohort,
    load_personas,
)

pytestmark = pytest.mark.unit

OLD = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])


def discover(
    spec: FeatureSpec, frame: pd.DataFrame, random_state: int
) -> tuple[PersonaAssigner, np.ndarray]:
    """Discover personas as a retrain would; also return the raw k-means labels."""
    scaler = SpecScaler(spec).fit(frame)
    X = scaler.transform(frame)
    result = sweep(X, ks=range(2, 7), random_state=random_state)
    chosen = result.for_k(choose_k(result))
    assigner = PersonaAssigner.from_clustering(scaler, chosen.centroids, X=X, labels=chosen.labels)
    return assigner, chosen.labels


def dominant_truth(labels: np.ndarray, truth: np.ndarray) -> dict[int, int]:
    """For each cluster label, the generating persona most of its members come from."""
    return {int(c): int(np.bincount(truth[labels == c]).argmax()) for c in np.unique(labels)}


def test_permuted_centroids_keep_their_ids() -> None:
    rng = np.random.default_rng(0)
    order = [2, 0, 1]
    new = OLD[order] + rng.normal(0, 0.05, OLD.shape)
    matching = match_personas(new, OLD, [11, 12, 13], max_distance=1.0)
    assert matching.ids == (13, 11, 12)
    assert matching.mapping == {0: 13, 1: 11, 2: 12}
    assert matching.new_ids == ()
    assert matching.vanished_ids == ()
    assert all(d < 0.2 for d in matching.distances.values())


def test_a_new_persona_gets_a_fresh_id_and_a_missing_one_is_reported_vanished() -> None:
    new = np.array([[0.1, 0.0], [9.0, 9.0], [4.0, 0.1]])
    matching = match_personas(new, OLD, [1, 2, 3], max_distance=1.0)
    assert matching.ids == (1, 4, 2)
    assert matching.new_ids == (4,)
    assert matching.vanished_ids == (3,)


def test_a_centroid_beyond_the_distance_limit_is_not_matched() -> None:
    matching = match_personas(np.array([[2.0, 2.0]]), OLD[:1], [5], max_distance=1.0)
    assert matching.mapping == {}
    assert matching.ids == (6,)
    assert matching.vanished_ids == (5,)


def test_fresh_ids_never_reuse_ids_issued_before() -> None:
    matching = match_personas(np.array([[9.0, 9.0], [-9.0, 9.0]]), OLD, [1, 2, 3], 1.0, next_id=8)
    assert matching.new_ids == (8, 9)


def test_matching_prefers_more_matches_over_a_smaller_total_distance() -> None:
    # Greedy would give old 0 to new 0 (distance 0.5) and leave new 1 unmatched.
    old = np.array([[0.0], [1.4]])
    new = np.array([[0.5], [-0.4]])
    matching = match_personas(new, old, [1, 2], max_distance=1.0)
    assert matching.mapping == {0: 2, 1: 1}


def test_matching_summary_is_json_serialisable() -> None:
    matching = match_personas(OLD[:2], OLD, [1, 2, 3], max_distance=float("inf"))
    summary = json.loads(json.dumps(matching.to_dict()))
    assert summary["vanished_ids"] == [3]
    assert summary["matched"][0] == {"new_position": 0, "persona_id": 1, "distance": 0.0}
    assert summary["max_distance"] is None


def test_default_limit_is_half_the_smallest_gap_between_old_personas() -> None:
    assert default_max_distance(OLD) == pytest.approx(2.0)
    assert default_max_distance(OLD[:1]) == float("inf")


def test_inconsistent_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="same number of columns"):
        match_personas(np.zeros((2, 3)), OLD, [1, 2, 3], 1.0)
    with pytest.raises(ValueError, match="distinct id"):
        match_personas(OLD, OLD, [1, 1, 2], 1.0)


@pytest.mark.parametrize("spec_name", ["anonymised", "survey"])
def test_every_persona_keeps_its_id_and_name_across_a_retrain_on_a_new_sample(
    spec_name: str,
) -> None:
    spec = load_spec(spec_name)
    definition = load_personas(spec)
    january = generate_cohort(spec, definition, "2025-01", n=1500, seed=DEMO_SEED)
    february = generate_cohort(spec, definition, "2025-02", n=1500, seed=DEMO_SEED + 1)
    production, jan_labels = discover(spec, january.frame, random_state=0)
    names = [f"Persona {chr(ord('A') + i)}" for i in range(len(production.centroids_))]
    production = production.with_identity(production.persona_ids_.tolist(), names)
    retrained, feb_labels = discover(spec, february.frame, random_state=1)

    matching = match_catalogs(retrained, production)
    assert matching.new_ids == ()
    assert matching.vanished_ids == ()
    by_id = dict(zip(production.persona_ids_.tolist(), production.persona_names_, strict=True))
    renamed = retrained.with_identity(matching.ids, [by_id[i] for i in matching.ids])

    # The same generating persona gets the same id and name in both catalogs ...
    jan_truth = dominant_truth(jan_labels, january.persona)
    feb_truth = dominant_truth(feb_labels, february.persona)
    jan_id_of_truth = {t: int(production.persona_ids_[c]) for c, t in jan_truth.items()}
    for position, truth in feb_truth.items():
        assert renamed.persona_ids_[position] == jan_id_of_truth[truth]
        assert renamed.persona_names_[position] == by_id[jan_id_of_truth[truth]]
    # ... although k-means numbered the clusters differently.
    assert [jan_truth[c] for c in sorted(jan_truth)] != [feb_truth[c] for c in sorted(feb_truth)]


def test_a_retrain_reports_a_persona_that_appeared_and_one_that_vanished() -> None:
    spec = load_spec("anonymised")
    definition = load_personas(spec)
    emerged = DriftScenario("emerging", magnitude=0.3).apply(spec, definition)
    kept = [p for p in emerged.personas if p.name != "Segment C"]
    total = sum(p.share for p in kept)
    changed = PersonaDefinition(
        spec=spec.name,
        personas=tuple(p.model_copy(update={"share": p.share / total}) for p in kept),
    )
    january = generate_cohort(spec, definition, "2025-01", n=1500, seed=DEMO_SEED)
    february = generate_cohort(spec, changed, "2025-02", n=1500, seed=DEMO_SEED)
    production, _ = discover(spec, january.frame, random_state=0)
    retrained, feb_labels = discover(spec, february.frame, random_state=1)

    matching = match_catalogs(retrained, production)
    jan_c = production.predict(january.frame[january.persona == 2]).tolist()
    assert len(set(jan_c)) == 1
    assert matching.vanished_ids == (jan_c[0],)
    assert matching.new_ids == (4,)
    new_position = matching.ids.index(4)
    members = february.persona[feb_labels == new_position]
    assert changed.personas[int(np.bincount(members).argmax())].name not in definition.names
