"""Stream benchmark: sustained messages/s and end-to-end latency with one and two consumers.

Real Redis and PostgreSQL on loopback; each consumer is a ``personamap stream`` process. For each
number of consumers:

- throughput: the consumers run, N messages are added as fast as Redis takes them, and the rate
  is N over the time from the first XADD to the last published assignment;
- latency: messages are added at a steady rate (default 2,500/s, half the throughput goal) for a
  few seconds; a message's latency is from its XADD to its assignment's publication, which
  happens after the database commit (both times are Redis stream ids, in ms, one clock).

Usage:

    .venv/bin/python benchmarks/stream.py [--messages 50000] [--rate 2500] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from personamap.config import load_settings
from personamap.domain.synthetic import generate_cohort, load_personas

DEFAULT_URL = os.environ.get(
    "PERSONAMAP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("PERSONAMAP_REDIS_URL", "redis://127.0.0.1:6379/0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--rate", type=int, default=2_500, help="messages/s for the latency run")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the latency run")
    parser.add_argument("--postgres-url", default=DEFAULT_URL)
    args = parser.parse_args()

    admin = create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
    name = f"personamap_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.postgres_url).set(database=name).render_as_string(hide_password=False)
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        with tempfile.TemporaryDirectory() as home:
            env = prepare(url, Path(home))
            n_latency = int(args.rate * args.seconds)
            records = customer_records(2 * (args.messages + n_latency))
            rows = []
            for consumers in (1, 2):  # new customers in every run, as in production
                prefix = f"personamap-bench:{uuid.uuid4().hex[:8]}"
                batch, records = records[: args.messages], records[args.messages :]
                rate = throughput(client, env, prefix, consumers, batch)
                prefix = f"personamap-bench:{uuid.uuid4().hex[:8]}"
                batch, records = records[:n_latency], records[n_latency:]
                p50, p99, sent = latency(
                    client, env, prefix, consumers, batch, args.rate, args.seconds
                )
                rows.append((consumers, rate, sent, p50, p99))
    finally:
        client.close()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    header = ("consumers", "msg/s sustained", "latency run", "p50 ms", "p99 ms")
    print("\n{:>9} {:>16} {:>18} {:>7} {:>7}".format(*header))
    for consumers, rate, sent, p50, p99 in rows:
        print(f"{consumers:>9} {rate:>16,.0f} {sent:>12,.0f} msg/s {p50:>7.0f} {p99:>7.0f}")
    print("goals: >= 5,000 msg/s with one consumer; p99 <= 250 ms at half that rate")


def prepare(url: str, home: Path) -> dict[str, str]:
    """Migrate the database and promote a catalog; the consumers' environment."""
    from personamap.adapters.database import upgrade
    from personamap.adapters.database.engine import create_database_engine
    from personamap.cli.wiring import catalog_context
    from personamap.services.catalog import promote
    from personamap.services.discovery import discover
    from personamap.services.generate import ingest_cohorts

    upgrade(create_database_engine(url))
    config = load_settings(home=home, database_url=url)
    context = catalog_context("anonymised", config)
    cohort = generate_cohort(context.spec, load_personas(context.spec), "2025-01", n=5_000)
    ingest_cohorts([cohort], context.spec, context.engine)
    found = discover(context, ["2025-01"], ks=[3], actor="benchmark")
    promote(context, found.version, reason="benchmark", actor="benchmark")
    return {
        **os.environ,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PERSONAMAP_HOME": str(home),
        "DATABASE_URL": url,
        "MLFLOW_TRACKING_URI": config.mlflow_tracking_uri,
        "PERSONAMAP_REDIS_URL": REDIS_URL,
    }


def customer_records(n: int) -> list[dict[str, str]]:
    spec_frame = generate_cohort_frame(n)
    return [{k: str(v) for k, v in r.items()} for r in spec_frame.to_dict("records")]


def generate_cohort_frame(n: int):  # type: ignore[no-untyped-def]
    from personamap.domain.spec import load_spec

    spec = load_spec("anonymised")
    frame = generate_cohort(spec, load_personas(spec), "2025-06", n=n, seed=3).frame
    return frame.drop(columns=["signup_at"])


def start_consumers(env: dict[str, str], prefix: str, n: int) -> list[subprocess.Popen[str]]:
    processes = []
    for i in range(n):
        command = [
            sys.executable,
            "-m",
            "personamap",
            "stream",
            "--consumer",
            f"bench-{i}",
            "--input",
            f"{prefix}:in",
            "--output",
            f"{prefix}:out",
            "--dead-letter",
            f"{prefix}:dead",
            "--group",
            prefix,
        ]
        log = Path(tempfile.gettempdir()) / f"personamap-bench-{prefix[-8:]}-{i}.log"
        with log.open("w") as stderr:  # a file: a full pipe would stall the consumer
            process = subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True
            )
        processes.append(process)
    for process in processes:  # ready once it has said which streams it reads
        assert process.stdout is not None
        line = process.stdout.readline()
        if "consumer" not in line:
            raise RuntimeError(f"a consumer did not start, see {tempfile.gettempdir()}")
    return processes


def stop_consumers(processes: list[subprocess.Popen[str]]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        process.communicate(timeout=60)


def wait_for_output(client: redis.Redis, stream: str, n: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while client.xlen(stream) < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{stream}: {client.xlen(stream)} of {n} after {timeout} s")
        time.sleep(0.05)


def id_ms(entry_id: str) -> int:
    return int(entry_id.split("-", 1)[0])


def publish(client: redis.Redis, stream: str, records: list[dict[str, str]]) -> None:
    pipeline = client.pipeline(transaction=False)
    for record in records:
        pipeline.xadd(stream, record)  # type: ignore[arg-type]
    pipeline.execute()


def throughput(
    client: redis.Redis,
    env: dict[str, str],
    prefix: str,
    consumers: int,
    records: list[dict[str, str]],
) -> float:
    processes = start_consumers(env, prefix, consumers)
    try:
        for start in range(0, len(records), 1_000):
            publish(client, f"{prefix}:in", records[start : start + 1_000])
        wait_for_output(client, f"{prefix}:out", len(records))
    finally:
        stop_consumers(processes)
    first = client.xrange(f"{prefix}:in", count=1)[0][0]  # type: ignore[index]
    last = client.xrevrange(f"{prefix}:out", count=1)[0][0]  # type: ignore[index]
    seconds = max(id_ms(last) - id_ms(first), 1) / 1000
    client.delete(f"{prefix}:in", f"{prefix}:out", f"{prefix}:dead")
    print(f"{consumers} consumer(s): {len(records):,} messages in {seconds:.2f} s")
    return len(records) / seconds


def latency(
    client: redis.Redis,
    env: dict[str, str],
    prefix: str,
    consumers: int,
    records: list[dict[str, str]],
    rate: int,
    seconds: float,
) -> tuple[float, float, float]:
    processes = start_consumers(env, prefix, consumers)
    tick = 0.01
    per_tick = max(1, round(rate * tick))
    n = min(len(records), int(rate * seconds))
    try:
        started = time.perf_counter()
        sent = 0
        while sent < n:
            batch = records[sent : sent + per_tick]
            publish(client, f"{prefix}:in", batch)
            sent += len(batch)
            pause = started + (sent / per_tick) * tick - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        achieved = sent / (time.perf_counter() - started)
        wait_for_output(client, f"{prefix}:out", n)
    finally:
        stop_consumers(processes)
    added = {entry_id: id_ms(entry_id) for entry_id, _ in client.xrange(f"{prefix}:in")}  # type: ignore[union-attr]
    delays = np.array(
        [
            id_ms(out_id) - added[fields["message_id"]]
            for out_id, fields in client.xrange(f"{prefix}:out")  # type: ignore[union-attr]
        ]
    )
    client.delete(f"{prefix}:in", f"{prefix}:out", f"{prefix}:dead")
    p50, p99 = np.percentile(delays, [50, 99])
    print(
        f"{consumers} consumer(s): {n:,} messages at {achieved:,.0f}/s, "
        f"latency p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {delays.max():.0f} ms"
    )
    return float(p50), float(p99), achieved


if __name__ == "__main__":
    main()
