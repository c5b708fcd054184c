"""The fast lane: the hot endpoints answered ahead of the framework's per-request machinery.

``POST /v1/assign`` and ``POST /predict`` carry almost all the traffic, and for one customer the
framework's layers (telemetry checks, exception middleware, router, request objects, dependency
solving) cost more than validating and assigning. The app hands requests for those two paths to
the fast lane before any of its layers (``web.app.ServiceApp``): it calls their handler, renders
an error with the same :func:`problems.problem` the app's exception handlers use, and counts the
request in the same metrics. Every other request goes through the framework.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from time import perf_counter

from personamap.web.metrics import Receive, Scope, Send, ServiceMetrics
from personamap.web.problems import problem

Handler = Callable[[Scope, Receive], Awaitable[bytes]]
"""Answers a request with the JSON body of a 200, or raises."""

_JSON = (b"content-type", b"application/json")


class ClientGoneError(Exception):
    """The client disconnected before sending the whole body: nobody to answer."""


class FastLane:
    """Answers HTTP requests to the given paths with their handlers (``POST`` only).

    Args:
        handlers: Path -> handler.
        metrics: Where requests are counted and timed.
    """

    def __init__(self, *, handlers: Mapping[str, Handler], metrics: ServiceMetrics) -> None:
        self.handlers = dict(handlers)
        self.metrics = metrics

    def handles(self, scope: Scope) -> bool:
        """Whether the request is the fast lane's to answer."""
        return scope["type"] == "http" and scope["path"] in self.handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a request to one of the fast lane's paths."""
        handler = self.handlers[scope["path"]]
        started = perf_counter()
        status, headers = 200, [_JSON]
        try:
            if scope["method"] != "POST":
                status, body = 405, b'{"detail":"Method Not Allowed"}'
                headers.append((b"allow", b"POST"))
            else:
                body = await handler(scope, receive)
        except ClientGoneError:
            return
        except Exception as exc:
            answer = problem(exc, method="POST", path=scope["path"])
            status, body = answer.status, answer.body
            headers += [(k.lower().encode(), v.encode()) for k, v in answer.headers.items()]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        seconds = perf_counter() - started
        self.metrics.record_request(scope["method"], scope["path"], status, seconds)
