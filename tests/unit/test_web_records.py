"""The web API's customer records: validated against the spec, encoded like the domain encodes."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from personamap.domain.assign import PersonaAssigner
from personamap.domain.catalog import Persona, PersonaCatalog
from personamap.domain.preprocessing import SpecScaler
from personamap.domain.spec import load_spec
from personamap.domain.synthetic import generate_cohort, load_personas
from personamap.errors import InvalidRecordsError, MalformedRequestError, RequestTooLargeError
from personamap.web.served import ServedCatalog

pytestmark = pytest.mark.unit


def served_catalog(spec_name: str, *, max_batch: int = 1_000) -> tuple[ServedCatalog, pd.DataFrame]:
    """A catalog whose personas are the generating ones' means, and customers to assign."""
    spec = load_spec(spec_name)
    cohort = generate_cohort(spec, load_personas(spec), "2025-01", n=400, seed=3)
    features = cohort.frame[list(spec.feature_names)]
    scaler = SpecScaler(spec).fit(features)
    X = scaler.transform(features)
    truth = np.asarray(cohort.persona)
    centroids = np.vstack([X[truth == k].mean(axis=0) for k in np.unique(truth)])
    assigner = PersonaAssigner.from_clustering(scaler, centroids, X=X)
    personas = tuple(
        Persona(int(i), n, "", 1 / len(centroids))
        for i, n in zip(assigner.persona_ids_, assigner.persona_names_, strict=True)
    )
    catalog = PersonaCatalog(spec=spec, assigner=assigner, personas=personas, origin="discovery")
    served = ServedCatalog.build(7, catalog, source="registry", max_batch=max_batch)
    return served, features


def records_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Plain records whose floats survive JSON exactly (pandas' to_json rounds them)."""
    return [
        {k: v.item() if isinstance(v, np.generic) else v for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


@pytest.mark.parametrize("spec_name", ["anonymised", "survey"])
def test_records_are_assigned_exactly_as_the_catalog_assigns_a_frame(spec_name: str) -> None:
    served, features = served_catalog(spec_name)
    records, many = served.codec.parse(json.dumps(records_of(features)).encode())
    assert many
    expected = served.catalog.assign(features)
    np.testing.assert_array_equal(
        served.codec.encode(records), served.catalog.assigner.scaler_.transform(features)
    )
    got = pd.DataFrame(served.assign(records).items())
    np.testing.assert_array_equal(got["persona_id"], expected["persona_id"])
    np.testing.assert_array_equal(got["persona_name"], expected["persona_name"])
    np.testing.assert_allclose(got["distance"], expected["distance"], rtol=0, atol=0)
    np.testing.assert_allclose(got["confidence"], expected["confidence"], rtol=0, atol=0)
    np.testing.assert_array_equal(got["fit"], expected["fit"])


@pytest.mark.parametrize("spec_name", ["anonymised", "survey"])
def test_one_record_alone_is_assigned_as_in_a_batch(spec_name: str) -> None:
    served, features = served_catalog(spec_name)
    records, _ = served.codec.parse(json.dumps(records_of(features)).encode())
    batch = served.assign(records)
    encoded = served.codec.encode(records)
    poor = 0
    for position, record in enumerate(records):
        assert served.codec.encode_one(record) == encoded[position].tolist()  # the same floats
        one = served.assign_one({**record, "customer_id": 41})
        answer, expected = json.loads(one.body), batch.item(position)
        assert answer["customer_id"] == "41"
        assert answer["catalog_version"] == 7
        for field in ("persona_id", "persona_name", "fit"):
            assert answer[field] == expected[field], (position, field)
        assert answer["distance"] == pytest.approx(expected["distance"], rel=1e-12)
        assert answer["confidence"] == pytest.approx(expected["confidence"], abs=1e-12)
        assert (one.persona_id, one.good) == (expected["persona_id"], expected["fit"] == "good")
        poor += not one.good
    assert poor == batch.poor


def test_one_record_is_an_object_and_its_id_is_kept_as_text() -> None:
    served, features = served_catalog("anonymised")
    record = {"customer_id": 42, **records_of(features.head(1))[0]}
    records, many = served.codec.parse(json.dumps(record).encode())
    assert not many
    assert served.codec.customer_ids(records) == ["42"]


def problems(served: ServedCatalog, body: bytes) -> list[dict[str, Any]]:
    with pytest.raises(InvalidRecordsError) as raised:
        served.codec.parse(body)
    return raised.value.details


@pytest.mark.parametrize(
    ("change", "field", "kind"),
    [
        ({"age": "40"}, "age", "float_type"),
        ({"age": True}, "age", "float_type"),
        ({"age": 17}, "age", "greater_than_equal"),
        ({"age": 40.5}, "age", "value_error"),
        ({"household_income": 1e9}, "household_income", "less_than_equal"),
        ({"region": "mars"}, "region", "literal_error"),
        ({"colour": "blue"}, "colour", "extra_forbidden"),
        ({"region": None}, "region", "literal_error"),
    ],
)
def test_a_bad_value_is_named_with_its_field_and_value(
    change: dict[str, Any], field: str, kind: str
) -> None:
    served, features = served_catalog("survey")
    record = {**records_of(features.head(1))[0], **change}
    (problem,) = problems(served, json.dumps(record).encode())
    assert problem["loc"] == ["body", field]
    assert problem["type"] == kind
    assert problem["input"] == next(iter(change.values()))


def test_a_missing_feature_is_named() -> None:
    served, features = served_catalog("anonymised")
    record = records_of(features.head(1))[0]
    del record["x3"]
    (problem,) = problems(served, json.dumps(record).encode())
    assert problem["loc"] == ["body", "x3"]
    assert problem["type"] == "missing"


@pytest.mark.parametrize(("token", "shown"), [("NaN", "NaN"), ("Infinity", "Infinity")])
def test_non_finite_numbers_are_refused_and_shown_as_json_words(token: str, shown: str) -> None:
    served, features = served_catalog("anonymised")
    text = json.dumps(records_of(features.head(1))[0])
    body = text.replace(f'"x2": {json.loads(text)["x2"]}', f'"x2": {token}').encode()
    (problem,) = problems(served, body)
    assert problem["loc"] == ["body", "x2"]
    assert problem["input"] == shown


def test_problems_in_a_batch_name_the_record_position() -> None:
    served, features = served_catalog("anonymised")
    batch = records_of(features.head(3))
    batch[2]["x1"] = 500
    (problem,) = problems(served, json.dumps(batch).encode())
    assert problem["loc"] == ["body", 2, "x1"]
    assert problem["input"] == 500


def test_malformed_json_and_too_long_batches_are_their_own_errors() -> None:
    served, features = served_catalog("anonymised", max_batch=2)
    with pytest.raises(MalformedRequestError, match="not valid JSON"):
        served.codec.parse(b'{"x1": ')
    with pytest.raises(RequestTooLargeError, match="at most 2 customers, got 3"):
        served.codec.parse(json.dumps(records_of(features.head(3))).encode())


def test_reference_records_are_read_by_name_or_by_position() -> None:
    served, features = served_catalog("anonymised")
    named = records_of(features.head(2))
    positional = [{str(i): v for i, v in enumerate(r.values())} for r in named]
    by_name = served.assign(served.codec.parse_reference(named)).result.persona_id
    by_position = served.assign(served.codec.parse_reference(positional)).result.persona_id
    np.testing.assert_array_equal(by_name, by_position)
    positional[1]["4"] = "high"
    with pytest.raises(InvalidRecordsError) as raised:
        served.codec.parse_reference(positional)
    assert raised.value.details[0]["loc"] == ["body", 1, "4"]


def test_the_example_record_is_valid() -> None:
    for spec_name in ("anonymised", "survey"):
        served, _ = served_catalog(spec_name)
        served.codec.parse(json.dumps(served.example).encode())
