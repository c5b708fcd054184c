"""The web API in-process, on a promoted catalog: assignment, personas, errors, auth, metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from personamap.config import Settings
from personamap.errors import ConfigError
from personamap.web.app import create_app
from personamap.web.auth import hash_api_key
from personamap.web.schemas import Assignment, AssignmentBatch, PersonaList, Readiness
from support import Lifecycle
from web_support import promoted_catalog

pytestmark = pytest.mark.integration

KEY = "a-test-key"


@pytest.fixture(scope="module")
def promoted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Lifecycle, Settings]:
    return promoted_catalog(tmp_path_factory.mktemp("web-api") / ".personamap")


@pytest.fixture(scope="module")
def client(promoted: tuple[Lifecycle, Settings]) -> Iterator[TestClient]:
    with TestClient(create_app(promoted[1])) as client:
        yield client


def app_with(promoted: tuple[Lifecycle, Settings], **changes: Any) -> TestClient:
    if "api_keys" in changes:
        changes["api_keys"] = [SecretStr(k) for k in changes["api_keys"]]
    return TestClient(create_app(promoted[1].model_copy(update=changes)))


def customers(lifecycle: Lifecycle, n: int) -> pd.DataFrame:
    frame = lifecycle.cohorts[1].frame
    return frame[list(lifecycle.spec.feature_names)].head(n)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: float(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def test_assigns_one_customer_as_the_promoted_catalog_does(
    client: TestClient, promoted: tuple[Lifecycle, Settings]
) -> None:
    lifecycle = promoted[0]
    frame = customers(lifecycle, 1)
    response = client.post("/v1/assign", json={"customer_id": "c-1", **records(frame)[0]})
    assert response.status_code == 200
    answer = Assignment.model_validate(response.json())
    _, catalog = lifecycle.context.registry.load(lifecycle.version)
    expected = catalog.assign(frame).iloc[0]
    assert answer.catalog_version == lifecycle.version
    assert answer.customer_id == "c-1"
    assert answer.persona_id == expected["persona_id"]
    assert answer.persona_name == expected["persona_name"]
    # One customer is assigned in plain Python, a frame with matrices: equal up to rounding.
    assert answer.distance == pytest.approx(expected["distance"], rel=1e-12)
    assert answer.confidence == pytest.approx(expected["confidence"], rel=1e-12, abs=1e-12)
    assert answer.fit == expected["fit"]


def test_assigns_a_batch_in_request_order_by_one_version(
    client: TestClient, promoted: tuple[Lifecycle, Settings]
) -> None:
    lifecycle = promoted[0]
    frame = customers(lifecycle, 300)
    response = client.post("/v1/assign", json=records(frame))
    assert response.status_code == 200
    batch = AssignmentBatch.model_validate(response.json())
    _, catalog = lifecycle.context.registry.load(lifecycle.version)
    expected = catalog.assign(frame)
    assert batch.count == 300
    assert batch.catalog_version == lifecycle.version
    np.testing.assert_array_equal([a.persona_id for a in batch.assignments], expected["persona_id"])
    np.testing.assert_array_equal([a.fit for a in batch.assignments], expected["fit"])
    np.testing.assert_allclose([a.distance for a in batch.assignments], expected["distance"])


def test_the_reference_endpoint_answers_labels_for_named_or_positional_records(
    client: TestClient, promoted: tuple[Lifecycle, Settings]
) -> None:
    frame = customers(promoted[0], 5)
    named = records(frame)
    positional = [{str(i): v for i, v in enumerate(r.values())} for r in named]
    by_name = client.post("/predict", json=named)
    by_position = client.post("/predict", json=positional)
    assert by_name.status_code == by_position.status_code == 200
    expected = [
        a["persona_id"] for a in client.post("/v1/assign", json=named).json()["assignments"]
    ]
    assert by_name.json() == by_position.json() == {"labels": expected}


@pytest.mark.parametrize(
    ("body", "loc", "given"),
    [
        ({"x1": 1.0}, ["body", "x2"], None),
        ({"x3": "abc"}, ["body", "x3"], "abc"),
        ({"x4": 101.5}, ["body", "x4"], 101.5),
        ({"x5": None}, ["body", "x5"], None),
        ({"nickname": "Steve"}, ["body", "nickname"], "Steve"),
    ],
)
def test_a_bad_record_answers_422_naming_field_and_value(
    client: TestClient,
    promoted: tuple[Lifecycle, Settings],
    body: dict[str, Any],
    loc: list[Any],
    given: Any,
) -> None:
    record = records(customers(promoted[0], 1))[0]
    record = body if "x1" in body else {**record, **body}
    response = client.post("/v1/assign", json=record)
    assert response.status_code == 422
    problem = next(p for p in response.json()["detail"] if p["loc"] == loc)
    if given is not None:
        assert problem["input"] == given


def test_nan_and_infinity_answer_422_not_500(
    client: TestClient, promoted: tuple[Lifecycle, Settings]
) -> None:
    record = records(customers(promoted[0], 1))[0]
    for token in ("NaN", "Infinity", "-Infinity"):
        text = json.dumps({**record, "x1": 0.5}).replace("0.5", token)
        response = client.post("/v1/assign", content=text)
        assert response.status_code == 422, token
        assert response.json()["detail"][0]["loc"] == ["body", "x1"]
        assert response.json()["detail"][0]["input"] == token


def test_malformed_json_answers_400(client: TestClient) -> None:
    for path in ("/v1/assign", "/predict"):
        response = client.post(path, content=b'{"x1": 1,')
        assert response.status_code == 400
        assert "not valid JSON" in response.json()["detail"]


def test_oversized_bodies_and_batches_answer_413(
    promoted: tuple[Lifecycle, Settings],
) -> None:
    batch = records(customers(promoted[0], 6))
    with app_with(promoted, serve_max_batch=5, serve_max_body_bytes=4096) as client:
        too_many = client.post("/v1/assign", json=batch)
        assert too_many.status_code == 413
        assert "at most 5 customers, got 6" in too_many.json()["detail"]
        assert client.post("/predict", json=batch).status_code == 413
        too_big = client.post("/v1/assign", content=b"[" + b" " * 5000 + b"]")
        assert too_big.status_code == 413
        assert "limit is 4,096" in too_big.json()["detail"]
        # Streamed in chunks, without a declared length: counted as it arrives.
        streamed = client.post("/v1/assign", content=iter([b"[", b" " * 3000, b" " * 3000, b"]"]))
        assert streamed.status_code == 413
        assert "exceeds the limit of 4,096" in streamed.json()["detail"]
        one = json.dumps(batch[0]).encode()
        pieces = [one[:10], one[10:20], one[20:]]
        assert client.post("/v1/assign", content=iter(pieces)).status_code == 200


def test_lists_the_personas_and_shows_one(
    client: TestClient, promoted: tuple[Lifecycle, Settings]
) -> None:
    listed = PersonaList.model_validate(client.get("/v1/personas").json())
    assert listed.catalog_version == promoted[0].version
    first = listed.personas[0]
    one = client.get(f"/v1/personas/{first.persona_id}")
    assert one.status_code == 200
    assert one.json()["name"] == first.name
    assert one.json()["profile"] == first.profile
    missing = client.get("/v1/personas/999")
    assert missing.status_code == 404
    assert "no persona 999" in missing.json()["detail"]
    assert client.get("/v1/personas/abc").status_code == 422


def test_a_customer_without_recorded_assignment_answers_404(client: TestClient) -> None:
    response = client.get("/v1/customers/nobody/persona")
    assert response.status_code == 404
    assert "'nobody'" in response.json()["detail"]


def test_health_and_readiness(client: TestClient, promoted: tuple[Lifecycle, Settings]) -> None:
    assert client.get("/healthz").json() == {"status": "alive"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    state = Readiness.model_validate(ready.json())
    assert state.ready
    assert state.database
    assert state.registry
    assert state.catalog is not None
    assert state.catalog.version == promoted[0].version
    assert state.catalog.source == "registry"
    assert state.details == []


def metric(text: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


def test_metrics_count_requests_per_route_and_assignments_per_persona(
    promoted: tuple[Lifecycle, Settings],
) -> None:
    batch = records(customers(promoted[0], 40))
    with app_with(promoted) as client:
        client.post("/v1/assign", json=batch)
        for record in batch[:10]:
            client.post("/v1/assign", json=record)
        client.get("/v1/personas/999")
        text = client.get("/metrics").text
    assert metric(text, "personamap_assignments_total") == 50
    assert metric(text, 'personamap_http_requests_total{method="POST",route="/v1/assign"') == 11
    assert metric(text, 'personamap_http_requests_total{method="GET",route="/v1/personas/') == 1
    assert 'status="404"' in text
    assert metric(text, "personamap_poor_fit_assignments_total") >= 0
    assert (
        f'personamap_catalog_info{{source="registry",version="{promoted[0].version}"}} 1.0' in text
    )


def test_api_keys_protect_the_api_but_not_health(promoted: tuple[Lifecycle, Settings]) -> None:
    record = records(customers(promoted[0], 1))[0]
    with app_with(promoted, api_keys=[hash_api_key(KEY)]) as client:
        for path, body in (("/v1/assign", record), ("/predict", [record])):
            assert client.post(path, json=body).status_code == 401
            wrong = client.post(path, json=body, headers={"X-API-Key": "guess"})
            assert wrong.status_code == 401
            assert "unknown API key" in wrong.json()["detail"]
            assert client.post(path, json=body, headers={"X-API-Key": KEY}).status_code == 200
            bearer = {"Authorization": f"Bearer {KEY}"}
            assert client.post(path, json=body, headers=bearer).status_code == 200
        assert client.get("/v1/personas").status_code == 401
        assert client.get("/v1/personas", headers={"X-API-Key": KEY}).status_code == 200
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
        assert client.get("/metrics").status_code == 200
    protected = {"api_keys": [hash_api_key(KEY)], "serve_metrics_protected": True}
    with app_with(promoted, **protected) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"X-API-Key": KEY}).status_code == 200


def test_production_refuses_to_serve_without_api_keys(
    promoted: tuple[Lifecycle, Settings],
) -> None:
    production = promoted[1].model_copy(
        update={"env": "production", "database_url_": "sqlite:///x.db"}
    )
    with pytest.raises(ConfigError, match="does not start without API keys"):
        create_app(production)


def test_openapi_documents_the_spec_derived_record_schema(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    record = document["components"]["schemas"]["CustomerRecord"]
    assert record["required"] == [f"x{i}" for i in range(1, 11)]
    assert record["properties"]["x1"]["minimum"] == -100
    assert record["additionalProperties"] is False
    for path in ("/v1/assign", "/predict", "/v1/personas", "/v1/customers/{customer_id}/persona"):
        assert path in document["paths"]
    assign = document["paths"]["/v1/assign"]["post"]
    assert set(assign["responses"]) >= {"200", "400", "413", "422", "503"}


def test_unknown_paths_and_methods_answer_4xx(client: TestClient, tmp_path: Path) -> None:
    assert client.get("/v2/anything").status_code == 404
    assert client.get("/v1/assign").status_code == 405
