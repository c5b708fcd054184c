"""``POST /v1/assign`` and ``POST /predict``: the hot path.

The raw body is validated in one pass against the schema derived from the served catalog's spec,
encoded into the scaled space and assigned: a list by the vectorised assigner, a single customer
in plain Python (numpy's per-call overhead would be most of its cost); the answer is serialised
once.
The handlers run in the fast lane (``web.fastlane``); ``web.openapi`` documents them.
"""

from __future__ import annotations

import pydantic_core
from starlette.concurrency import run_in_threadpool

from personamap.config import Settings
from personamap.errors import MalformedRequestError, RequestTooLargeError
from personamap.web.assignment_records import record_assignments
from personamap.web.auth import ApiKeys
from personamap.web.fastlane import ClientGoneError
from personamap.web.metrics import Receive, Scope, ServiceMetrics
from personamap.web.served import Assigned
from personamap.web.service import CatalogService


def header(scope: Scope, name: bytes) -> str | None:
    """A request header's value (``name`` in lower case), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The request body, refused with 413 once it exceeds ``limit`` bytes."""
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientGoneError
    first = message.get("body", b"")
    if not message.get("more_body", False) and len(first) <= limit:  # the usual: all at once
        return bytes(first)
    declared = header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestTooLargeError(
            f"the request body has {int(declared):,} bytes, the limit is {limit:,} "
            "(PERSONAMAP_SERVE_MAX_BODY_BYTES)"
        )
    chunks = [first]
    size = len(first)
    more = message.get("more_body", False)
    while True:
        if size > limit:
            raise RequestTooLargeError(
                f"the request body exceeds the limit of {limit:,} bytes "
                "(PERSONAMAP_SERVE_MAX_BODY_BYTES)"
            )
        if not more:
            return b"".join(chunks)
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGoneError
        chunk = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        more = message.get("more_body", False)


class AssignmentEndpoints:
    """The two assignment endpoints of one app.

    Args:
        settings: Limits and whether to record assignments.
        service: The served catalog.
        metrics: Counts of assigned customers per persona and of poor fits.
        api_keys: The accepted keys (none: open).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        service: CatalogService,
        metrics: ServiceMetrics,
        api_keys: ApiKeys,
    ) -> None:
        self.service = service
        self.metrics = metrics
        self.api_keys = api_keys
        self.max_body = settings.serve_max_body_bytes
        self.record = settings.serve_record_assignments
        self.model_name = settings.model_name

    def _authorize(self, scope: Scope) -> None:
        if self.api_keys.enabled:
            key = header(scope, b"x-api-key")
            if key is None:
                scheme, _, token = (header(scope, b"authorization") or "").partition(" ")
                key = token.strip() if scheme.lower() == "bearer" else None
            self.api_keys.require(key)

    async def assign(self, scope: Scope, receive: Receive) -> bytes:
        """Assign one customer (an object) or a batch (a list) to personas."""
        self._authorize(scope)
        served = self.service.require_catalog()  # taken once: one version per answer
        records, many = served.codec.parse(await read_body(scope, receive, self.max_body))
        if not many and not self.record:
            one = served.assign_one(records[0])
            self.metrics.record_assignment(one.persona_id, good=one.good)
            return one.body
        assigned = served.assign(records)
        await self._account(assigned)
        return assigned.batch_json() if many else assigned.single_json()

    async def predict(self, scope: Scope, receive: Receive) -> bytes:
        """The reference project's endpoint: records in, ``{"labels": [persona ids]}`` out."""
        self._authorize(scope)
        served = self.service.require_catalog()
        body = await read_body(scope, receive, self.max_body)
        try:
            data = pydantic_core.from_json(body)
        except ValueError as exc:
            raise MalformedRequestError(f"the request body is not valid JSON: {exc}") from None
        assigned = served.assign(served.codec.parse_reference(data))
        await self._account(assigned)
        return assigned.labels_json()

    def _count(self, assigned: Assigned) -> None:
        self.metrics.record_assignments(assigned.counts(), assigned.poor)

    async def _account(self, assigned: Assigned) -> None:
        self._count(assigned)
        if self.record and any(i is not None for i in assigned.customer_ids):
            await run_in_threadpool(
                record_assignments,
                self.service.engine,
                model_name=self.model_name,
                assigned=assigned,
            )
