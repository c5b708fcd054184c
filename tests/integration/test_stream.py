"""Stream consumers against the real Redis: exact counts, dead letters, crashes, promotions."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import redis
from sqlalchemy import Engine, text

from assign_support import World, build_world, personamap_command, subprocess_env
from personamap.adapters.broker import Broker
from personamap.config import get_settings
from personamap.domain.spec import load_spec
from personamap.domain.synthetic import generate_cohort, load_personas
from personamap.services.catalog import effective_catalog, promote, register
from personamap.services.stream import Consumer, StreamSettings

pytestmark = pytest.mark.integration
MALFORMED = [  # (change to a valid record, or a raw message; expected reason)
    ({"x1": "abc"}, "x1: 'abc' is not a number"),
    ({"x2": "1000"}, "x2: 1000 is out of range"),
    ({"x3": None}, "x3: missing value"),
    ({"x99": "1"}, "x99: unknown field"),
    ({"customer_id": None}, "customer_id: missing id"),
    ("{not json", "data: not valid JSON"),
    ("[1, 2]", "data: expected a JSON object"),
]


@dataclass(frozen=True)
class Streams:
    """Unique stream names for one test."""

    input: str
    output: str
    dead_letter: str
    group: str

    def settings(self, consumer: str, **pacing: float) -> StreamSettings:
        return StreamSettings(
            input=self.input,
            output=self.output,
            dead_letter=self.dead_letter,
            group=self.group,
            consumer=consumer,
            **pacing,  # type: ignore[arg-type]
        )

    def options(self) -> list[str]:
        return [
            "--input",
            self.input,
            "--output",
            self.output,
            "--dead-letter",
            self.dead_letter,
            "--group",
            self.group,
        ]


@pytest.fixture
def streams() -> Iterator[Streams]:
    prefix = f"personamap-test:{uuid.uuid4().hex[:10]}"
    names = Streams(f"{prefix}:customers", f"{prefix}:assignments", f"{prefix}:dead", prefix)
    yield names
    client = redis.Redis.from_url(get_settings().redis_url)
    client.delete(names.input, names.output, names.dead_letter)
    client.close()


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, engine: Engine, use_database: str) -> World:
    return build_world(monkeypatch, customers=100)


def customer_messages(
    n_valid: int, n_malformed: int, seed: int = 3
) -> tuple[list[dict[str, str]], pd.DataFrame]:
    """Valid customer messages (flat fields or a JSON ``data`` field) mixed with malformed ones.

    Also returns the valid customers' features, indexed by id.
    """
    spec = load_spec(get_settings().spec)
    frame = generate_cohort(spec, load_personas(spec), "2025-06", n=n_valid, seed=seed).frame
    frame["customer_id"] = f"S{seed}-" + frame["customer_id"]
    records = frame.drop(columns=["signup_at"]).to_dict("records")
    messages: list[dict[str, str]] = []
    for i, record in enumerate(records):
        flat = {k: str(v) for k, v in record.items()}
        messages.append(flat if i % 2 else {"data": json.dumps(record)})
    rng = np.random.default_rng(seed)
    for i in range(n_malformed):
        change, _ = MALFORMED[i % len(MALFORMED)]
        if isinstance(change, str):
            bad = {"data": change}
        else:
            bad = {k: str(v) for k, v in {**records[0], "customer_id": f"BAD-{i}"}.items()}
            bad.update({k: v for k, v in change.items() if v is not None})
            for key in [k for k, v in change.items() if v is None]:
                bad.pop(key)
        messages.insert(int(rng.integers(0, len(messages) + 1)), bad)
    return messages, frame.drop(columns=["signup_at"]).set_index("customer_id")


def _database_counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as connection:
        rows, customers = connection.execute(
            text(
                "SELECT count(*), count(DISTINCT customer_id) FROM assignments "
                "WHERE source = 'stream'"
            )
        ).one()
    return int(rows), int(customers)


def _entries(client: redis.Redis, stream: str) -> list[dict[str, str]]:
    return [fields for _, fields in client.xrange(stream)]  # type: ignore[union-attr]


def _wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_ten_thousand_messages_two_consumers_give_9900_assignments_and_100_dead_letters(
    world: World, streams: Streams
) -> None:
    broker = Broker(get_settings().redis_url)
    messages, customers = customer_messages(9_900, 100)
    broker.publish(streams.input, messages)
    stop = threading.Event()
    consumers = [
        Consumer(world.context, Broker(get_settings().redis_url), streams.settings(name))
        for name in ("one", "two")
    ]
    threads = [threading.Thread(target=c.run, args=(stop,)) for c in consumers]
    for thread in threads:
        thread.start()
    try:
        _wait(lambda: sum(c.stats.messages for c in consumers) >= 10_000, 120, "10,000 messages")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    engine = world.context.engine
    assert _database_counts(engine) == (9_900, 9_900)
    assert all(c.stats.messages > 0 for c in consumers), "both consumers share the work"
    assert broker.pending_count(streams.input, streams.group) == 0

    client = broker.client
    dead = _entries(client, streams.dead_letter)
    assert len(dead) == 100
    expected = {reason for _, reason in MALFORMED}
    assert {next(r for r in expected if r in d["reason"]) for d in dead} == expected
    published = pd.DataFrame(_entries(client, streams.output))
    assert len(published) == 9_900
    assert published["customer_id"].is_unique

    # Each published persona is the one the in-process assigner gives.
    _, catalog = effective_catalog(world.context, world.version)
    expected_ids = catalog.assign(customers.loc[published["customer_id"]])["persona_id"]
    assert (published["persona_id"].astype(int).to_numpy() == expected_ids.to_numpy()).all()
    assert set(published["catalog_version"]) == {str(world.version)}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # processes: production
def test_a_consumer_killed_mid_stream_and_replaced_loses_and_repeats_nothing(
    world: World, streams: Streams
) -> None:
    broker = Broker(get_settings().redis_url)
    broker.publish(streams.input, customer_messages(9_900, 100, seed=5)[0])
    env = subprocess_env()
    engine = world.context.engine
    options = [*streams.options(), "--batch-size", "50", "--claim-idle", "1"]

    first = subprocess.Popen(
        personamap_command("stream", "--consumer", "first", *options),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait(lambda: _database_counts(engine)[0] >= 1_000 or first.poll() is not None, 120, "work")
        assert first.poll() is None, first.stderr.read() if first.stderr else ""
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    assert _database_counts(engine)[0] < 9_900, "the consumer was not killed mid-stream"

    second = subprocess.Popen(
        personamap_command("stream", "--consumer", "second", *options),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait(
            lambda: (
                _database_counts(engine)[0] == 9_900
                and broker.client.xlen(streams.dead_letter) == 100
                and broker.pending_count(streams.input, streams.group) == 0
            ),
            120,
            "the replacement to finish",
        )
        second.send_signal(signal.SIGTERM)
        out, err = second.communicate(timeout=30)
    finally:
        if second.poll() is None:
            second.kill()
    assert second.returncode == 0, err
    assert "stopped:" in out

    assert _database_counts(engine) == (9_900, 9_900)
    published = _entries(broker.client, streams.output)
    assert len(published) == 9_900
    assert len({p["customer_id"] for p in published}) == 9_900
    assert len({d["message_id"] for d in _entries(broker.client, streams.dead_letter)}) == 100


def test_a_consumer_follows_a_promotion_between_batches(world: World, streams: Streams) -> None:
    context = world.context
    broker = Broker(get_settings().redis_url)
    consumer = Consumer(context, broker, streams.settings("follower", catalog_refresh_seconds=0.05))
    broker.ensure_group(streams.input, streams.group)
    broker.publish(streams.input, customer_messages(20, 0, seed=7)[0])
    stop = threading.Event()
    consumer_thread = threading.Thread(target=consumer.run, args=(stop,))
    consumer_thread.start()
    try:
        _wait(lambda: consumer.stats.messages >= 20, 60, "the first batch")
        _, catalog = effective_catalog(context, world.version)
        with context.registry.run("personamap-test", "renamed copy"):
            newer = register(
                context, catalog.with_names({1: "Eco Haley"}), actor="test", reason="t", alias=None
            )
        promote(context, newer, reason="a newer catalog", actor="test")
        time.sleep(0.1)
        broker.publish(streams.input, customer_messages(20, 0, seed=8)[0])
        _wait(lambda: consumer.stats.messages >= 40, 60, "the second batch")
    finally:
        stop.set()
        consumer_thread.join(timeout=30)
        promote(context, world.version, reason="back", actor="test")
    assert consumer.stats.versions == [world.version, newer]
    with context.engine.connect() as connection:
        versions = dict(
            connection.execute(
                text("SELECT catalog_version, count(*) FROM assignments GROUP BY catalog_version")
            ).all()
        )
    assert versions == {world.version: 20, newer: 20}
