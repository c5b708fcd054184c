"""Errors to HTTP answers: the one place where the web app maps errors to status codes.

Every :class:`PersonamapError` answers with its status and ``{"detail": message}``; invalid
records answer 422 with one entry per problem naming the field and the value. Anything else is a
bug: it is logged with its traceback and answers a plain 500, never the traceback itself.
"""

from __future__ import annotations

import logging

import pydantic_core
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.responses import Response

from personamap.errors import (
    AssignmentError,
    AuthenticationError,
    DatabaseError,
    InvalidRecordsError,
    MalformedRequestError,
    NotFoundError,
    PersonamapError,
    RegistryError,
    RequestTooLargeError,
    ServiceUnavailableError,
)
from personamap.web.records import MAX_LISTED_PROBLEMS

logger = logging.getLogger(__name__)

STATUS: tuple[tuple[type[PersonamapError], int], ...] = (
    (MalformedRequestError, 400),
    (AuthenticationError, 401),
    (NotFoundError, 404),
    (RequestTooLargeError, 413),
    (AssignmentError, 422),
    (ServiceUnavailableError, 503),
    (DatabaseError, 503),
    (RegistryError, 503),
)
"""Status of each error (the first matching class wins); any other PersonamapError is a 500."""


def status_of(exc: PersonamapError) -> int:
    """The HTTP status answering ``exc``."""
    for error, status in STATUS:
        if isinstance(exc, error):
            return status
    return 500


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> Response:
    return Response(
        pydantic_core.to_json(body, fallback=str),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


async def _personamap_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PersonamapError)
    status = status_of(exc)
    if isinstance(exc, InvalidRecordsError):
        return _json(status, {"detail": exc.details, "error_count": exc.count})
    if status >= 500:
        logger.warning("%s %s: %s", request.method, request.url.path, exc)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthenticationError) else None
    return _json(status, {"detail": str(exc)}, headers)


async def _invalid_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    listed = [
        {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"], "input": e.get("input")}
        for e in errors[:MAX_LISTED_PROBLEMS]
    ]
    return _json(422, {"detail": listed, "error_count": len(errors)})


async def _unexpected(request: Request, exc: Exception) -> Response:
    logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return _json(500, {"detail": "internal error: the service logged it"})


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(PersonamapError, _personamap_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _unexpected)
