"""Serving benchmark: personamap's web service against ``mlflow models serve`` and a bare ASGI app.

In one run on the same promoted catalog (anonymised spec, discovered on a generated cohort, in a
temporary embedded home), each server runs alone on 127.0.0.1 with the same number of workers
and is driven by ``wrk`` with single-customer POST requests at ``--connections`` concurrent
connections:

- personamap: ``personamap serve`` (gunicorn + uvicorn workers), ``POST /v1/assign``, with an
  API key (auth on, as in production);
- mlflow: ``mlflow models serve -m models:/personamap@production --env-manager local``,
  ``POST /invocations`` with ``{"dataframe_records": [customer]}``;
- floor: a bare ASGI app answering a constant under the same gunicorn + uvicorn workers: what
  Python HTTP costs on this machine before any work is done.

Then one 10,000-customer ``POST /v1/assign``, timed end to end from a client (repeated).
Goals: personamap >= 20x mlflow's requests/s, >= 0.5x the floor's, p99 <= 20 ms; the 10,000
customers in <= 150 ms. Prints every figure. Needs ``wrk`` (``scripts/ensure-wrk`` installs it).
Usage:

    .venv/bin/python benchmarks/serve.py [--duration 10] [--connections 16] [--workers N]
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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GOAL_VS_MLFLOW = 20.0
GOAL_VS_FLOOR = 0.5
GOAL_P99_MS = 20.0
GOAL_BATCH_MS = 150.0
BATCH = 10_000
API_KEY = "benchmark-key"
BIN = Path(sys.executable).parent

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
    target: str
    requests_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    failures: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_ready(
    url_path: str, port: int, process: subprocess.Popen[bytes], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before it was ready")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", url_path)
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"no answer on port {port}{url_path} within {timeout:g} s")


@contextmanager
def server(
    command: Sequence[str], env: dict[str, str], ready_path: str, port: int, log: Path
) -> Iterator[None]:
    """Run a server (its own process group) until the block ends; always stop it."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            list(command), env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_until_ready(ready_path, port, process, timeout=90)
            yield
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def run_wrk(
    target: str,
    url: str,
    body: str,
    headers: dict[str, str],
    *,
    connections: int,
    duration: int,
    folder: Path,
) -> Load:
    script = folder / f"{target}.lua"
    header_lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    script.write_text(WRK_SCRIPT % {"body": body, "headers": header_lines})
    common = ["wrk", "-t1", f"-c{connections}", "-s", str(script), url]
    subprocess.run([*common[:3], "-d2s", *common[3:]], check=True, capture_output=True)  # warm up
    out = subprocess.run(
        [*common[:3], f"-d{duration}s", "--timeout", "5s", *common[3:]],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found = re.search(r"RESULT (.*)", out)
    if found is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    values = {k: int(v) for k, v in (pair.split("=") for pair in found.group(1).split())}
    return Load(
        target=target,
        requests_per_second=values["requests"] / (values["duration_us"] / 1e6),
        p50_ms=values["p50"] / 1000,
        p90_ms=values["p90"] / 1000,
        p99_ms=values["p99"] / 1000,
        max_ms=values["max"] / 1000,
        requests=values["requests"],
        failures=values["non2xx"] + values["socket_errors"],
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
    ingest_cohorts(
        [generate_cohort(spec, personas, DEMO_MONTHS[0], n=2_000, seed=1)], spec, context.engine
    )
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="Seconds of load per server.")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--batch-repeats", type=int, default=20)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("benchmarks/serve.py needs wrk: run scripts/ensure-wrk (Debian package 'wrk')")

    folder = Path(tempfile.mkdtemp(prefix="personamap-bench-serve-"))
    home = folder / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERSONAMAP_")}
    env.pop("DATABASE_URL", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env |= {
        "PERSONAMAP_HOME": str(home),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # mlflow execs `uvicorn`
    }
    try:
        started = time.perf_counter()
        records, version = prepare_catalog(env)
        print(
            f"catalog version {version} promoted in {time.perf_counter() - started:.1f} s "
            f"(home {home}); {args.workers} worker(s) per server, wrk -t1 -c{args.connections} "
            f"-d{args.duration}s, single-customer POST bodies"
        )
        from personamap.web.auth import hash_api_key

        one = json.dumps(records[0])
        loads: dict[str, Load] = {}

        port = free_port()
        floor = [
            str(BIN / "gunicorn"),
            "--chdir",
            str(Path(__file__).parent),
            "-w",
            str(args.workers),
        ]
        floor += ["-k", "uvicorn_worker.UvicornWorker", "-b", f"127.0.0.1:{port}"]
        floor += ["--log-level", "warning", "--no-control-socket", "serve:floor_app"]
        with server(floor, env, "/", port, folder / "floor.log"):
            loads["floor"] = run_wrk(
                "floor",
                f"http://127.0.0.1:{port}/v1/assign",
                one,
                {},
                connections=args.connections,
                duration=args.duration,
                folder=folder,
            )

        port = free_port()
        service_env = env | {"PERSONAMAP_API_KEYS": json.dumps([hash_api_key(API_KEY)])}
        serve = [str(BIN / "personamap"), "serve", "--port", str(port)]
        serve += ["--workers", str(args.workers)]
        with server(serve, service_env, "/readyz", port, folder / "personamap.log"):
            loads["personamap"] = run_wrk(
                "personamap",
                f"http://127.0.0.1:{port}/v1/assign",
                one,
                {"X-API-Key": API_KEY},
                connections=args.connections,
                duration=args.duration,
                folder=folder,
            )
            batch_ms = time_batches(port, records, args.batch_repeats)

        port = free_port()
        tracking = f"sqlite:///{home}/mlflow.db"
        mlflow = [str(BIN / "mlflow"), "models", "serve", "-m", "models:/personamap@production"]
        mlflow += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
        mlflow += ["-w", str(args.workers)]
        with server(
            mlflow, env | {"MLFLOW_TRACKING_URI": tracking}, "/ping", port, folder / "mlflow.log"
        ):
            loads["mlflow"] = run_wrk(
                "mlflow",
                f"http://127.0.0.1:{port}/invocations",
                json.dumps({"dataframe_records": [records[0]]}),
                {},
                connections=args.connections,
                duration=args.duration,
                folder=folder,
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    columns = ("req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "requests", "failed")
    print(f"\n{'server':<12}" + "".join(f"{c:>10}" for c in columns))
    for load in loads.values():
        print(
            f"{load.target:<12}{load.requests_per_second:>10,.0f}{load.p50_ms:>10.2f}"
            f"{load.p90_ms:>10.2f}{load.p99_ms:>10.2f}{load.max_ms:>10.1f}{load.requests:>10,}"
            f"{load.failures:>10,}"
        )
    ours = loads["personamap"]
    vs_mlflow = ours.requests_per_second / loads["mlflow"].requests_per_second
    vs_floor = ours.requests_per_second / loads["floor"].requests_per_second
    batch_median = statistics.median(batch_ms)
    checks = [
        (
            f"personamap / mlflow serve: {vs_mlflow:.1f}x",
            f">= {GOAL_VS_MLFLOW:g}x",
            vs_mlflow >= GOAL_VS_MLFLOW,
        ),
        (
            f"personamap / floor: {vs_floor:.2f}x",
            f">= {GOAL_VS_FLOOR:g}x",
            vs_floor >= GOAL_VS_FLOOR,
        ),
        (
            f"personamap p99: {ours.p99_ms:.2f} ms",
            f"<= {GOAL_P99_MS:g} ms",
            ours.p99_ms <= GOAL_P99_MS,
        ),
        (
            f"{BATCH:,} customers in one request: median {batch_median:.0f} ms, "
            f"min {min(batch_ms):.0f}, max {max(batch_ms):.0f} ({len(batch_ms)} requests)",
            f"<= {GOAL_BATCH_MS:g} ms",
            batch_median <= GOAL_BATCH_MS,
        ),
        (
            f"failed requests: {sum(load.failures for load in loads.values())}",
            "0",
            all(load.failures == 0 for load in loads.values()),
        ),
    ]
    print()
    for figure, goal, met in checks:
        print(f"{'met    ' if met else 'MISSED '} {figure}  (goal {goal})")


if __name__ == "__main__":
    main()
