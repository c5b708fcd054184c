"""The OpenAPI document, with request schemas derived from the served catalog's feature spec.

FastAPI describes its own routes; this adds the two lean assignment endpoints and the customer
record schemas, which follow the spec of the catalog being served. The document is rebuilt when
the served catalog changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from personamap.web.records import POSITIONAL_SCHEMA, RECORD_SCHEMA
from personamap.web.schemas import Assignment, AssignmentBatch, Invalid, Labels, Problem
from personamap.web.served import ServedCatalog
from personamap.web.service import CatalogService

REF = "#/components/schemas/{model}"
SECURITY: list[dict[str, list[str]]] = [{"ApiKey": []}, {"Bearer": []}]
SECURITY_SCHEMES = {
    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "An API key."},
    "Bearer": {"type": "http", "scheme": "bearer", "description": "An API key as a bearer token."},
}


def _ref(model: type[BaseModel] | str) -> dict[str, str]:
    name = model if isinstance(model, str) else model.__name__
    return {"$ref": REF.format(model=name)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(auth: bool) -> dict[str, Any]:
    errors = {
        "400": _json(_ref(Problem), "The body is not valid JSON."),
        "413": _json(_ref(Problem), "The body or the batch is larger than allowed."),
        "422": _json(_ref(Invalid), "A record breaks the feature spec: each field and value."),
        "503": _json(_ref(Problem), "No catalog is loaded (yet), with the reason."),
    }
    if auth:
        errors["401"] = _json(_ref(Problem), "No API key, or an unknown one.")
    return errors


def _record_schemas(served: ServedCatalog | None) -> dict[str, Any]:
    if served is None:
        unknown = {
            "type": "object",
            "description": "No catalog is loaded yet, so the features are not known.",
        }
        return {RECORD_SCHEMA: unknown, POSITIONAL_SCHEMA: unknown}
    return {
        RECORD_SCHEMA: served.codec.record.json_schema(ref_template=REF),
        POSITIONAL_SCHEMA: served.codec.positional.json_schema(ref_template=REF),
    }


def _assign_operation(served: ServedCatalog | None, max_batch: int, auth: bool) -> dict[str, Any]:
    batch = {"type": "array", "items": _ref(RECORD_SCHEMA), "minItems": 1, "maxItems": max_batch}
    body: dict[str, Any] = {"schema": {"oneOf": [_ref(RECORD_SCHEMA), batch]}}
    if served is not None:
        body["examples"] = {
            "one customer": {"value": {"customer_id": "c-1", **served.example}},
            "a batch": {"value": [served.example, served.example]},
        }
    return {
        "tags": ["assignment"],
        "summary": "Assign customers to personas",
        "description": (
            "One customer (an object) or a batch (a list, at most "
            f"{max_batch:,}) with the features of the served catalog's spec. Each answer names "
            "the nearest persona, the distance to it, the confidence (margin over the second "
            "nearest) and the fit (poor: no persona describes the customer well), with the "
            "catalog version; a batch is answered in request order by one version."
        ),
        "operationId": "assign",
        "requestBody": {"required": True, "content": {"application/json": body}},
        "responses": {
            "200": _json(
                {"oneOf": [_ref(Assignment), _ref(AssignmentBatch)]},
                "An object for one customer, a batch object for a list.",
            ),
            **_errors(auth),
        },
        **({"security": SECURITY} if auth else {}),
    }


def _predict_operation(served: ServedCatalog | None, max_batch: int, auth: bool) -> dict[str, Any]:
    items = {"anyOf": [_ref(RECORD_SCHEMA), _ref(POSITIONAL_SCHEMA)]}
    body: dict[str, Any] = {
        "schema": {"type": "array", "items": items, "minItems": 1, "maxItems": max_batch}
    }
    if served is not None:
        body["example"] = [
            served.example,
            {str(i): v for i, v in enumerate(served.example.values())},
        ]
    return {
        "tags": ["assignment"],
        "summary": "Persona ids of records (the reference project's endpoint)",
        "description": (
            "Compatible with the reference project's clients: a list of records keyed by feature "
            'name or by position ("0", "1", ... in the spec\'s order), answered with '
            '{"labels": [persona id, ...]}.'
        ),
        "operationId": "predict",
        "requestBody": {"required": True, "content": {"application/json": body}},
        "responses": {"200": _json(_ref(Labels), "One persona id per record."), **_errors(auth)},
        **({"security": SECURITY} if auth else {}),
    }


def _document(app: FastAPI, served: ServedCatalog | None, max_batch: int, auth: bool) -> Any:
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    models: list[tuple[type[BaseModel], Any]] = [
        (m, "serialization") for m in (Assignment, AssignmentBatch, Labels, Problem, Invalid)
    ]
    _, definitions = models_json_schema(models, ref_template=REF)
    schemas.update(definitions.get("$defs", {}))
    schemas.update(_record_schemas(served))
    if auth:
        components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    paths = document.setdefault("paths", {})
    paths["/v1/assign"] = {"post": _assign_operation(served, max_batch, auth)}
    paths["/predict"] = {"post": _predict_operation(served, max_batch, auth)}
    return document


def install_openapi(app: FastAPI, service: CatalogService, *, max_batch: int, auth: bool) -> None:
    """Make ``app`` describe itself with the served catalog's record schemas."""
    built: list[tuple[ServedCatalog | None, dict[str, Any]]] = []

    def openapi() -> dict[str, Any]:
        served = service.served
        if not built or built[0][0] is not served:
            built[:] = [(served, _document(app, served, max_batch, auth))]
        return built[0][1]

    describe: Callable[[], dict[str, Any]] = openapi
    app.openapi = describe  # type: ignore[method-assign]
