"""Serving benchmark: personamap's web service against ``mlflow models serve`` and bare ASGI apps.

In one run on the same promoted catalog (anonymised spec, discovered on a generated cohort, in a
temporary embedded home), each server runs alone on 127.0.0.1 with the same number of workers
and is driven by ``wrk`` with single-customer POST requests at ``--connections`` connections:

- personamap: ``personamap serve`` (gunicorn + uvicorn workers with uvloop and httptools),
  ``POST /v1/assign`` with an API key (auth on, as in production);
- mlflow: ``mlflow models serve -m models:/personamap@production --env-manager local``,
  ``POST /invocations`` with ``{"dataframe_records": [customer]}``;
- floor: a bare ASGI app answering a constant, under the same gunicorn + uvicorn workers as
  personamap: what Python HTTP costs on this machine before any work is done;
- floor-h11: the same app on uvicorn's pure-Python stack (asyncio + h11), for reference: the
  stack that ``DEPENDENCIES.md`` measured its ~5,000 requests/s floor on.

Then 10,000 customers in one ``POST /v1/assign``, timed end to end from a client (repeated).
Besides requests/s and latency, each server's CPU time per request is shown (all its processes):
a floor that ``wrk`` cannot saturate shows wrk's limit, not the server's. Goals: personamap
>= 20x mlflow's requests/s, >= 0.5x the floor's, p99 <= 20 ms; the 10,000 customers in
<= 150 ms. Needs ``wrk`` (``scripts/ensure-wrk`` installs it). Usage:

    .venv/bin/python benchmarks/serve.py [--duration 10] [--connections 16] [--workers N]
        [--rounds 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GOAL_VS_MLFLOW = 20.0
GOAL_VS_FLOOR = 0.5
GOAL_P99_MS = 20.0
GOAL_BATCH_MS = 150.0
BATCH = 10_000
API_KEY = "benchmark-key"
BIN = Path(sys.executable).parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = [[%(body)s]]
wrk.headers["Content-Type"] = "application/json"
%(headers)s
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%%d duration_us=%%d non2xx=%%d socket_errors=%%d "
    .. "p50=%%d p90=%%d p99=%%d max=%%d\\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


async def floor_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A bare ASGI app: reads the request, answers a constant JSON object."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    body = b'{"persona_id":1}'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"16")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True)
class Load:
    requests_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    failures: int
    cpu_us_per_request: float


@dataclass
class Target:
    name: str
    command: Callable[[int], list[str]]
    env: dict[str, str]
    ready_path: str
    path: str
    body: str
    headers: dict[str, str] = field(default_factory=dict)
    loads: list[Load] = field(default_factory=list)

    def median(self, attribute: str) -> float:
        return float(statistics.median(getattr(load, attribute) for load in self.loads))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def group_cpu_seconds(group: int) -> float:
    """CPU time (user + system) of every live process in a process group."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        if int(fields[2]) == group:  # fields after the name: state, ppid, pgrp, ...
            ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS


def wait_until_ready(path: str, port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"no answer on port {port}{path} in time:\n{log.read_text()}")


@contextmanager
def server(target: Target, port: int, log: Path) -> Iterator[int]:
    """Run a target's server in its own process group until the block ends; always stop it."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            target.command(port),
            env=target.env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_ready(target.ready_path, port, process, log)
        yield process.pid
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def run_wrk(
    target: Target, port: int, group: int, *, connections: int, duration: int, folder: Path
) -> Load:
    script = folder / f"{target.name}.lua"
    header_lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in target.headers.items())
    script.write_text(WRK_SCRIPT % {"body": target.body, "headers": header_lines})
    url = f"http://127.0.0.1:{port}{target.path}"
    wrk = ["wrk", "-t1", f"-c{connections}", "--timeout", "5s", "-s", str(script)]
    subprocess.run([*wrk, "-d2s", url], check=True, capture_output=True)  # warm up
    cpu_before = group_cpu_seconds(group)
    out = subprocess.run(
        [*wrk, f"-d{duration}s", url], check=True, capture_output=True, text=True
    ).stdout
    cpu = group_cpu_seconds(group) - cpu_before
    found = re.search(r"RESULT (.*)", out)
    if found is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    values = {k: int(v) for k, v in (pair.split("=") for pair in found.group(1).split())}
    return Load(
        requests_per_second=values["requests"] / (values["duration_us"] / 1e6),
        p50_ms=values["p50"] / 1000,
        p90_ms=values["p90"] / 1000,
        p99_ms=values["p99"] / 1000,
        max_ms=values["max"] / 1000,
        requests=values["requests"],
        failures=values["non2xx"] + values["socket_errors"],
        cpu_us_per_request=cpu / max(values["requests"], 1) * 1e6,
    )


def prepare_catalog(env: dict[str, str]) -> tuple[list[dict[str, Any]], int]:
    """Generate, ingest and discover personas in the benchmark home; promote them.

    Returns customers (feature records) to send and the promoted version.
    """
    os.environ.update(env)
    from personamap.cli.wiring import catalog_context
    from personamap.config import get_settings
    from personamap.domain.synthetic import DEMO_MONTHS, generate_cohort, load_personas
    from personamap.services.catalog import promote
    from personamap.services.discovery import discover
    from personamap.services.generate import ingest_cohorts

    get_settings.cache_clear()
    context = catalog_context("anonymised")
    spec = context.spec
    personas = load_personas(spec)
    cohort = generate_cohort(spec, personas, DEMO_MONTHS[0], n=2_000, seed=1)
    ingest_cohorts([cohort], spec, context.engine)
    found = discover(context, [DEMO_MONTHS[0]], actor="benchmark", reason="serving benchmark")
    promote(context, found.version, reason="serving benchmark", actor="benchmark")
    sample = generate_cohort(spec, personas, DEMO_MONTHS[1], n=BATCH, seed=2).frame
    records = [
        {name: round(float(value), 3) for name, value in zip(spec.feature_names, row, strict=True)}
        for row in sample[list(spec.feature_names)].itertuples(index=False)
    ]
    return records, found.version


def time_batches(port: int, records: list[dict[str, Any]], repeats: int) -> list[float]:
    """Milliseconds per 10,000-customer request (client side, body prepared beforehand)."""
    body = json.dumps(records).encode()
    headers = {"Content-Type": "application/json", "X-API-Key": API_KEY}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    timings = []
    for i in range(repeats + 2):
        started = time.perf_counter()
        connection.request("POST", "/v1/assign", body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200 or json.loads(answer)["count"] != len(records):
            raise RuntimeError(f"batch request failed: {response.status} {answer[:200]!r}")
        if i >= 2:  # the first two warm up
            timings.append(elapsed)
    return timings


def targets(env: dict[str, str], home: Path, workers: int, record: dict[str, Any]) -> list[Target]:
    from personamap.web.auth import hash_api_key

    one = json.dumps(record)

    def floor(worker_class: str) -> Callable[[int], list[str]]:
        return lambda port: [
            *(str(BIN / "gunicorn"), "--chdir", str(Path(__file__).parent)),
            *("-w", str(workers), "-k", worker_class, "-b", f"127.0.0.1:{port}"),
            *("--log-level", "warning", "--no-control-socket", "serve:floor_app"),
        ]

    return [
        Target("floor", floor("uvicorn_worker.UvicornWorker"), env, "/", "/v1/assign", one),
        Target(
            "personamap",
            lambda port: [
                *(str(BIN / "personamap"), "serve", "--port", str(port)),
                *("--workers", str(workers)),
            ],
            env | {"PERSONAMAP_API_KEYS": json.dumps([hash_api_key(API_KEY)])},
            "/readyz",
            "/v1/assign",
            one,
            {"X-API-Key": API_KEY},
        ),
        Target("floor-h11", floor("uvicorn_worker.UvicornH11Worker"), env, "/", "/", one),
        Target(
            "mlflow",
            lambda port: [
                *(str(BIN / "mlflow"), "models", "serve", "-m", "models:/personamap@production"),
                *("--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)),
                *("-w", str(workers)),
            ],
            env | {"MLFLOW_TRACKING_URI": f"sqlite:///{home}/mlflow.db"},
            "/ping",
            "/invocations",
            json.dumps({"dataframe_records": [record]}),
        ),
    ]


def report(measured: Sequence[Target], batch_ms: list[float]) -> None:
    columns = ("req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "CPU us/req", "requests", "failed")
    print(f"\n{'server':<12}" + "".join(f"{c:>11}" for c in columns))
    for target in measured:
        print(
            f"{target.name:<12}{target.median('requests_per_second'):>11,.0f}"
            f"{target.median('p50_ms'):>11.2f}{target.median('p90_ms'):>11.2f}"
            f"{target.median('p99_ms'):>11.2f}{target.median('max_ms'):>11.1f}"
            f"{target.median('cpu_us_per_request'):>11.0f}"
            f"{sum(load.requests for load in target.loads):>11,}"
            f"{sum(load.failures for load in target.loads):>11,}"
        )
    by_name = {target.name: target for target in measured}
    rate = {name: t.median("requests_per_second") for name, t in by_name.items()}
    ours = by_name["personamap"]
    per_round = [
        mine.requests_per_second / floor.requests_per_second
        for mine, floor in zip(ours.loads, by_name["floor"].loads, strict=True)
    ]
    vs_floor = statistics.median(per_round)
    rounds = ", ".join(f"{ratio:.2f}" for ratio in per_round)
    batch_median = statistics.median(batch_ms)
    failures = sum(load.failures for target in measured for load in target.loads)
    checks = [
        (
            f"personamap / mlflow serve: {rate['personamap'] / rate['mlflow']:.1f}x",
            f">= {GOAL_VS_MLFLOW:g}x",
            rate["personamap"] / rate["mlflow"] >= GOAL_VS_MLFLOW,
        ),
        (
            f"personamap / floor (same server stack): {vs_floor:.2f}x "
            f"(median of {len(per_round)} back-to-back rounds: {rounds})",
            f">= {GOAL_VS_FLOOR:g}x",
            vs_floor >= GOAL_VS_FLOOR,
        ),
        (
            f"personamap p99: {ours.median('p99_ms'):.2f} ms",
            f"<= {GOAL_P99_MS:g} ms",
            ours.median("p99_ms") <= GOAL_P99_MS,
        ),
        (
            f"{BATCH:,} customers in one request: median {batch_median:.0f} ms, "
            f"min {min(batch_ms):.0f}, max {max(batch_ms):.0f} ({len(batch_ms)} requests)",
            f"<= {GOAL_BATCH_MS:g} ms",
            batch_median <= GOAL_BATCH_MS,
        ),
        (f"failed requests: {failures}", "0", failures == 0),
    ]
    print()
    for figure, goal, met in checks:
        print(f"{'met    ' if met else 'MISSED '} {figure}  (goal {goal})")
    print(
        f"for reference: personamap / floor-h11 (pure-Python HTTP): "
        f"{rate['personamap'] / rate['floor-h11']:.2f}x; CPU per request: personamap "
        f"{ours.median('cpu_us_per_request'):.0f} us, floor "
        f"{by_name['floor'].median('cpu_us_per_request'):.0f} us, mlflow "
        f"{by_name['mlflow'].median('cpu_us_per_request'):.0f} us"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="Seconds of load per server.")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="Rounds of floor + personamap back to back (the ratio is the median of rounds).",
    )
    parser.add_argument("--batch-repeats", type=int, default=20)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("benchmarks/serve.py needs wrk: run scripts/ensure-wrk (Debian package 'wrk')")

    folder = Path(tempfile.mkdtemp(prefix="personamap-bench-serve-"))
    home = folder / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERSONAMAP_")}
    for name in ("DATABASE_URL", "MLFLOW_TRACKING_URI", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(name, None)
    env |= {
        "PERSONAMAP_HOME": str(home),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # mlflow execs `uvicorn`
    }
    batch_ms: list[float] = []
    try:
        started = time.perf_counter()
        records, version = prepare_catalog(env)
        print(
            f"catalog version {version} promoted in {time.perf_counter() - started:.1f} s; "
            f"{args.workers} worker(s) per server; wrk -t1 -c{args.connections} "
            f"-d{args.duration}s, single-customer POST bodies; {args.rounds} round(s)"
        )
        measured = targets(env, home, args.workers, records[0])
        by_name = {target.name: target for target in measured}
        pair = [by_name["floor"], by_name["personamap"]]
        for round_ in range(args.rounds):
            # The floor and personamap back to back, in alternating order: the ratio that
            # decides the goal is taken within each round, so the machine's drift cancels.
            order = pair if round_ % 2 == 0 else pair[::-1]
            others = [by_name["floor-h11"]] + ([by_name["mlflow"]] if round_ == 0 else [])
            for target in [*order, *others]:
                port = free_port()
                with server(target, port, folder / f"{target.name}.log") as group:
                    target.loads.append(
                        run_wrk(
                            target,
                            port,
                            group,
                            connections=args.connections,
                            duration=args.duration,
                            folder=folder,
                        )
                    )
                    if target.name == "personamap" and round_ == 0:
                        batch_ms = time_batches(port, records, args.batch_repeats)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report(measured, batch_ms)


if __name__ == "__main__":
    main()
