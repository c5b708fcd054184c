"""Property-based API testing with schemathesis over the service's own OpenAPI document.

Every operation gets generated requests, valid and invalid ones (bounded in number), against the
app in-process: none may answer 5xx or something its schema does not describe; valid requests
must be accepted and invalid ones refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from personamap.config import Settings
from personamap.web.app import create_app
from support import Lifecycle
from web_support import promoted_catalog

pytestmark = pytest.mark.integration

EXAMPLES = 30
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
]


@pytest.fixture(scope="module")
def web_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    promoted: tuple[Lifecycle, Settings] = promoted_catalog(
        tmp_path_factory.mktemp("web-schema") / ".personamap"
    )
    app = create_app(promoted[1].model_copy(update={"serve_max_batch": 50}))
    with TestClient(app):  # runs the lifespan: the catalog is loaded
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_operation_answers_5xx_or_outside_its_schema(
    web_schema: Any, mode: GenerationMode
) -> None:
    operations = [result.ok() for result in web_schema.get_all_operations()]
    assert len(operations) >= 8
    tested = []
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: Any) -> None:
            case.call_and_validate(checks=CHECKS)

        try:
            call()
        except Unsatisfiable:
            # An operation without parameters or body has no invalid request to make.
            assert mode is GenerationMode.NEGATIVE, operation.label
            continue
        tested.append(operation.label)
    assert {"POST /v1/assign", "POST /predict", "GET /v1/personas/{persona_id}"} <= set(tested)
