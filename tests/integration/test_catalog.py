"""Persona catalogs end to end on the embedded stores: discovery, import, identity, promotion."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score
from sqlalchemy.orm import Session

from personamap.adapters.database.catalog_records import persona_records
from personamap.adapters.registry.mlflow_registry import CANDIDATE, PRODUCTION
from personamap.domain.synthetic import generate_cohort, load_personas
from personamap.errors import CatalogError
from personamap.services.catalog import effective_catalog, history, promote, rename
from personamap.services.discovery import discover
from personamap.services.vendor_import import import_catalog
from support import Lifecycle, build_lifecycle

pytestmark = pytest.mark.integration


def test_discovery_recovers_the_generating_personas_and_registers_a_candidate(
    lifecycle: Lifecycle,
) -> None:
    registry = lifecycle.context.registry
    version, catalog = effective_catalog(lifecycle.context, lifecycle.version)
    january = lifecycle.cohorts[0]
    labels = catalog.assign(january.frame)["persona_id"]
    assert adjusted_rand_score(january.persona, labels) >= 0.95
    assert len(catalog.personas) == 3
    assert registry.version_for(PRODUCTION) == version
    assert catalog.checks_passed


def test_discovery_logs_a_parent_run_with_one_nested_run_per_k(lifecycle: Lifecycle) -> None:
    _, catalog = effective_catalog(lifecycle.context, lifecycle.version)
    client = lifecycle.context.registry.client
    parent = client.get_run(catalog.lineage["run_id"])
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    assert sorted(int(r.data.params["k"]) for r in children) == list(range(2, 11))
    for run in children:
        assert {
            "inertia",
            "silhouette",
            "calinski_harabasz",
            "davies_bouldin",
            "stability",
            "smallest_share",
        } <= set(run.data.metrics)
    assert parent.data.metrics["chosen_k"] == 3
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"metrics_vs_k.png", "persona_profiles.csv", "metrics_vs_k.csv"} <= artifacts


def test_survey_discovery_recovers_five_personas() -> None:
    run = build_lifecycle("survey", customers=1500, promote_version=False)
    _, catalog = effective_catalog(run.context, run.version)
    january = run.cohorts[0]
    assert adjusted_rand_score(january.persona, catalog.assign(january.frame)["persona_id"]) >= 0.90
    assert len(catalog.personas) == 5


def test_every_persona_keeps_its_id_and_name_when_retrained_on_another_month(
    lifecycle: Lifecycle,
) -> None:
    context = lifecycle.context
    rename(context, 2, "Sustainable Steve", actor="marketing")
    _, january = effective_catalog(context, PRODUCTION)
    february = discover(context, ["2025-02"], random_state=12345, actor="test")
    _, retrained = effective_catalog(context, february.version)

    cohort = lifecycle.cohorts[1]  # independently sampled February customers
    before = january.assign(cohort.frame)
    after = retrained.assign(cohort.frame)
    assert (before["persona_id"] == after["persona_id"]).mean() > 0.99
    assert (before["persona_name"] == after["persona_name"]).mean() > 0.99
    assert {p.persona_id: p.name for p in retrained.personas} == {
        p.persona_id: p.name for p in january.personas
    }
    assert "Sustainable Steve" in {p.name for p in retrained.personas}
    assert february.matching is not None
    assert february.matching.vanished_ids == ()


def test_promotion_is_refused_without_a_reason_or_with_failed_checks(lifecycle: Lifecycle) -> None:
    context = lifecycle.context
    found = discover(context, ["2025-02"], ks=[9], actor="test")  # far too many personas
    assert not found.catalog.checks_passed
    with pytest.raises(CatalogError, match="needs a reason"):
        promote(context, found.version, reason=" ", actor="ops")
    with pytest.raises(CatalogError, match=r"failed its checks.*--force"):
        promote(context, found.version, reason="try", actor="ops")
    assert context.registry.version_for(PRODUCTION) == lifecycle.version

    done = promote(context, found.version, reason="overridden on purpose", actor="ops", force=True)
    assert (done.from_version, done.to_version, done.forced) == (
        lifecycle.version,
        found.version,
        True,
    )
    assert context.registry.version_for(PRODUCTION) == found.version
    assert context.registry.version_for(CANDIDATE) is None
    event = history(context)[0]
    assert (event.action, event.actor, event.from_version, event.to_version) == (
        "promote",
        "ops",
        lifecycle.version,
        found.version,
    )
    assert event.reason == "overridden on purpose"
    assert event.details["forced"] is True


def test_renaming_keeps_the_id_and_is_recorded(lifecycle: Lifecycle) -> None:
    context = lifecycle.context
    version, old = rename(context, 1, "Eco-conscious Haley", actor="anna", reason="workshop")
    _, catalog = effective_catalog(context, PRODUCTION)
    assert catalog.persona(1).name == "Eco-conscious Haley"
    assert (
        catalog.assign(lifecycle.cohorts[0].frame.head(50))["persona_name"]
        .isin([p.name for p in catalog.personas])
        .all()
    )
    with Session(context.engine) as session:
        names = {
            r.persona_id: r.name
            for r in persona_records(session, model_name=context.model_name, version=version)
        }
    assert names[1] == "Eco-conscious Haley"
    event = history(context)[0]
    assert event.details == {"persona_id": 1, "from": old, "to": "Eco-conscious Haley"}
    with pytest.raises(CatalogError, match="no persona with id 99"):
        rename(context, 99, "Nobody", actor="anna")


def test_imported_vendor_centroids_assign_their_own_customers(
    lifecycle: Lifecycle, tmp_path: Path
) -> None:
    spec = lifecycle.spec
    personas = load_personas(spec)
    rows = [
        {
            "name": p.name,
            "description": p.description,
            **{f: profile.mean for f, profile in p.numeric.items()},
        }
        for p in personas.personas
    ]
    path = tmp_path / "vendor.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    result = import_catalog(lifecycle.context, path, reference=["2025-01"], actor="vendor-import")

    customers = generate_cohort(spec, personas, "2025-06", n=2000, seed=3)
    assigned = result.catalog.assign(customers.frame)["persona_name"]
    truth = np.asarray(personas.names, dtype=object)[customers.persona]
    assert (assigned.to_numpy() == truth).mean() >= 0.99
    assert result.catalog.origin == "import"
    # Its personas matched production's, so they carry production's ids, with the vendor names.
    assert sorted(p.persona_id for p in result.catalog.personas) == [1, 2, 3]
    assert {p.name for p in result.catalog.personas} == set(personas.names)


def test_vendor_json_without_reference_uses_the_spec_scales(
    lifecycle: Lifecycle, tmp_path: Path
) -> None:
    personas = load_personas(lifecycle.spec)
    data = {
        "personas": [
            {
                "name": p.name,
                "centroid": {f: v.mean for f, v in p.numeric.items()},
                "share": p.share,
            }
            for p in personas.personas
        ]
    }
    path = tmp_path / "vendor.json"
    path.write_text(json.dumps(data))
    result = import_catalog(lifecycle.context, path, actor="vendor-import")
    assert result.catalog.lineage["scaling"] == "spec"
    assert [p.share for p in result.catalog.personas] == [p.share for p in personas.personas]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["x3"]), "missing feature.*x3"),
        (lambda f: f.assign(x3=["abc", 1, 2]), "x3 = 'abc' is not a number"),
        (lambda f: f.assign(x3=[500, 1, 2]), "x3 = 500 is outside the valid range"),
        (lambda f: f.assign(colour=["red"] * 3), "unknown column.*colour"),
        (lambda f: f.assign(name=["a", "a", "b"]), "names repeat"),
    ],
)
def test_a_bad_centroid_file_is_refused_naming_the_field(
    lifecycle: Lifecycle, tmp_path: Path, change: object, message: str
) -> None:
    personas = load_personas(lifecycle.spec)
    frame = pd.DataFrame(
        [{"name": p.name, **{f: v.mean for f, v in p.numeric.items()}} for p in personas.personas]
    )
    path = tmp_path / "bad.csv"
    change(frame).to_csv(path, index=False)  # type: ignore[operator]
    before = len(lifecycle.context.registry.versions())
    with pytest.raises(CatalogError, match=message):
        import_catalog(lifecycle.context, path, actor="vendor-import")
    assert len(lifecycle.context.registry.versions()) == before


def test_a_plain_mlflow_client_loads_production_and_gets_the_same_personas(
    lifecycle: Lifecycle,
) -> None:
    registry = lifecycle.context.registry
    model = mlflow.pyfunc.load_model(registry.model_uri(PRODUCTION))
    frame = lifecycle.cohorts[3].frame
    features = frame[list(lifecycle.spec.feature_names)]
    served = model.predict(features)
    _, catalog = effective_catalog(lifecycle.context, PRODUCTION)
    ours = catalog.assign(features)
    assert list(served.columns) == ["persona_id", "persona_name", "distance", "confidence", "fit"]
    assert served["persona_id"].tolist() == ours["persona_id"].tolist()
    np.testing.assert_allclose(served["distance"], ours["distance"])
