"""Redis Streams as personamap's message broker: consumer groups, claims, atomic settling.

Redis's exceptions are turned into :class:`BrokerError` here, at the only place that calls Redis.
Reads and writes are batched (one round trip for many messages): one message per call is ten
times slower.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis
from redis.exceptions import RedisError, ResponseError

from personamap.config import mask_url
from personamap.errors import BrokerError


@dataclass(frozen=True)
class Message:
    """One stream entry: its id and its fields."""

    id: str
    fields: Mapping[str, str]


@dataclass(frozen=True)
class Outgoing:
    """An entry to add to a stream."""

    stream: str
    fields: Mapping[str, str]


@contextmanager
def _broker_errors(doing: str) -> Iterator[None]:
    try:
        yield
    except RedisError as exc:
        raise BrokerError(f"Redis failed {doing}: {exc}") from exc


class Broker:
    """A connection to Redis for reading and writing streams.

    Args:
        url: The Redis URL, e.g. ``redis://127.0.0.1:6379/0``.
        maxlen: Approximate length that streams written here are trimmed to.
    """

    def __init__(self, url: str, *, maxlen: int | None = None) -> None:
        self.url = url
        self.maxlen = maxlen
        with _broker_errors(f"connecting to {mask_url(url)}"):
            self.client: redis.Redis = redis.Redis.from_url(url, decode_responses=True)

    def ping(self) -> None:
        """Check that Redis answers."""
        with _broker_errors(f"answering at {mask_url(self.url)}"):
            self.client.ping()

    def ensure_group(self, stream: str, group: str) -> None:
        """Create the consumer group (and the stream) unless it exists; new groups start at 0."""
        try:
            with _broker_errors(f"creating group {group!r} on {stream!r}"):
                self.client.xgroup_create(stream, group, id="0", mkstream=True)
        except BrokerError as exc:
            if not isinstance(exc.__cause__, ResponseError) or "BUSYGROUP" not in str(exc):
                raise

    def read_new(
        self, stream: str, group: str, consumer: str, *, count: int, block_ms: int
    ) -> list[Message]:
        """Messages never delivered to the group, waiting up to ``block_ms`` for some."""
        with _broker_errors(f"reading {stream!r}"):
            reply = self.client.xreadgroup(
                group, consumer, {stream: ">"}, count=count, block=block_ms
            )
        return _messages(reply)

    def read_own_pending(
        self, stream: str, group: str, consumer: str, *, count: int
    ) -> list[Message]:
        """Messages delivered to this consumer (name) and not acknowledged, e.g. before a crash."""
        with _broker_errors(f"reading pending messages of {stream!r}"):
            reply = self.client.xreadgroup(group, consumer, {stream: "0"}, count=count)
        return [m for m in _messages(reply) if m.fields]  # deleted entries come back empty

    def claim_idle(
        self, stream: str, group: str, consumer: str, *, min_idle_ms: int, count: int
    ) -> list[Message]:
        """Take over messages pending for longer than ``min_idle_ms`` with any consumer."""
        claimed: list[Message] = []
        cursor = "0-0"
        with _broker_errors(f"claiming idle messages of {stream!r}"):
            while len(claimed) < count:
                reply: Any = self.client.xautoclaim(
                    stream, group, consumer, min_idle_ms, start_id=cursor, count=count
                )
                cursor, entries = reply[0], reply[1]
                claimed += [Message(i, f) for i, f in entries if f]
                if cursor == "0-0":
                    break
        return claimed

    def settle(
        self, stream: str, group: str, ids: Sequence[str], outgoing: Sequence[Outgoing]
    ) -> None:
        """Add ``outgoing`` entries and acknowledge ``ids``, atomically (MULTI/EXEC).

        A consumer that dies before this returns has published nothing and acknowledged
        nothing, so the messages are redelivered whole.
        """
        if not ids and not outgoing:
            return
        with _broker_errors(f"acknowledging messages of {stream!r}"):
            pipeline = self.client.pipeline(transaction=True)
            for entry in outgoing:
                pipeline.xadd(
                    entry.stream, _fields(entry.fields), maxlen=self.maxlen, approximate=True
                )
            if ids:
                pipeline.xack(stream, group, *ids)
            pipeline.execute()

    def publish(self, stream: str, entries: Sequence[Mapping[str, str]]) -> list[str]:
        """Add entries to a stream in one round trip; return their ids."""
        with _broker_errors(f"adding to {stream!r}"):
            pipeline = self.client.pipeline(transaction=False)
            for fields in entries:
                pipeline.xadd(stream, _fields(fields), maxlen=self.maxlen, approximate=True)
            return [str(i) for i in pipeline.execute()]

    def pending_count(self, stream: str, group: str) -> int:
        """Messages delivered to the group and not yet acknowledged."""
        with _broker_errors(f"counting pending messages of {stream!r}"):
            summary: Any = self.client.xpending(stream, group)
        return int(summary["pending"])

    def close(self) -> None:
        """Close the connections."""
        self.client.close()


def _messages(reply: Any) -> list[Message]:
    messages: list[Message] = []
    for _stream, entries in reply or []:
        messages += [Message(i, f or {}) for i, f in entries]
    return messages


def _fields(fields: Mapping[str, str]) -> dict[Any, Any]:
    return dict(fields)
