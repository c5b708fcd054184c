"""Assign concurrent single-customer requests together, in one vectorised call.

A single customer costs the assigner about as much as a few hundred: numpy's per-call overhead,
not arithmetic, dominates. So single-customer requests that arrive together (parsed in the same
event-loop iteration) are queued, and a callback scheduled for the next iteration assigns them
all at once. Nothing waits on a timer: a lone request is assigned one loop iteration later, and
under load the batches grow by themselves. Each request was validated against, and is assigned
by, the catalog it took at its start, so an answer never mixes versions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from personamap.web.records import Record
from personamap.web.served import Assigned, ServedCatalog

Row = tuple[Assigned, int]
"""An assigned batch and the position of one request's customer in it."""


class SingleCustomerBatcher:
    """Collects single-customer requests and assigns each loop iteration's requests together.

    Args:
        account: Called once per assigned batch (metrics).
    """

    def __init__(self, account: Callable[[Assigned], None]) -> None:
        self.account = account
        self._pending: list[tuple[ServedCatalog, Record, asyncio.Future[Row]]] = []

    def assign(self, served: ServedCatalog, record: Record) -> asyncio.Future[Row]:
        """A future of the customer's row, assigned by ``served`` with the others queued now."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Row] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((served, record, future))
        return future

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        groups: dict[int, tuple[ServedCatalog, list[Record], list[asyncio.Future[Row]]]] = {}
        for served, record, future in pending:  # normally one group: a swap splits a batch
            group = groups.setdefault(id(served), (served, [], []))
            group[1].append(record)
            group[2].append(future)
        for served, records, futures in groups.values():
            try:
                assigned = served.assign(records)
            except Exception as exc:  # a bug, not bad input (records were validated)
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.account(assigned)
            for position, future in enumerate(futures):
                if not future.done():  # the client may have gone
                    future.set_result((assigned, position))
