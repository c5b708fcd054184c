"""Errors to HTTP answers: the one place where the web app maps errors to status codes.

Every :class:`PersonamapError` answers with its status and ``{"detail": message}``; invalid
records answer 422 with one entry per problem naming the field and the value. Anything else is a
bug: it is logged with its traceback and answers a plain 500, never the traceback itself.
:func:`problem` renders the answer; the app's exception handlers and the fast lane both use it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Problem:
    """An error as an HTTP answer."""

    status: int
    body: bytes
    headers: dict[str, str]


def problem(exc: Exception, *, method: str, path: str) -> Problem:
    """The answer to ``exc`` raised while answering ``method path`` (bugs are logged)."""
    if isinstance(exc, InvalidRecordsError):
        return _problem(status_of(exc), {"detail": exc.details, "error_count": exc.count})
    if isinstance(exc, PersonamapError):
        status = status_of(exc)
        if status >= 500:
            logger.warning("%s %s: %s", method, path, exc)
        auth = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthenticationError) else {}
        return _problem(status, {"detail": str(exc)}, auth)
    if isinstance(exc, RequestValidationError):
        errors = list(exc.errors())
        listed = [
            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"], "input": e.get("input")}
            for e in errors[:MAX_LISTED_PROBLEMS]
        ]
        return _problem(422, {"detail": listed, "error_count": len(errors)})
    logger.error("%s %s failed", method, path, exc_info=exc)
    return _problem(500, {"detail": "internal error: the service logged it"})


def _problem(status: int, body: object, headers: dict[str, str] | None = None) -> Problem:
    return Problem(status, pydantic_core.to_json(body, fallback=str), headers or {})


async def _handle(request: Request, exc: Exception) -> Response:
    answer = problem(exc, method=request.method, path=request.url.path)
    return Response(
        answer.body,
        status_code=answer.status,
        media_type="application/json",
        headers=answer.headers,
    )


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(PersonamapError, _handle)
    app.add_exception_handler(RequestValidationError, _handle)
    app.add_exception_handler(Exception, _handle)
