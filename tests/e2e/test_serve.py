"""``personamap serve`` as a real process: several workers, metrics across them, hot reload."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict
from typer.testing import CliRunner

from personamap.cli import app
from personamap.cli.wiring import catalog_context
from personamap.config import Settings, get_settings, load_settings
from personamap.errors import ConfigError
from personamap.services.catalog import promote
from personamap.services.discovery import discover
from personamap.web.auth import hash_api_key
from support import Lifecycle
from web_support import embedded_home, free_port, promoted_catalog

pytestmark = pytest.mark.e2e

RELOAD_SECONDS = 1.0
WORKERS = 2


@dataclass(frozen=True)
class Server:
    url: str
    home: Path
    metrics_dir: Path
    lifecycle: Lifecycle
    settings: Settings


def _environment(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERSONAMAP_")}
    for name in ("DATABASE_URL", "MLFLOW_TRACKING_URI", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(name, None)
    return env | {"PERSONAMAP_HOME": str(home), "MLFLOW_DISABLE_TELEMETRY": "true", **extra}


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    ready = 0
    while ready < 2 * WORKERS:  # several answers in a row: every worker has loaded
        if process.poll() is not None:
            raise AssertionError(f"serve exited with {process.returncode}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"serve did not become ready:\n{log.read_text()}")
        try:
            ready = ready + 1 if httpx.get(f"{url}/readyz", timeout=5).status_code == 200 else 0
        except httpx.HTTPError:
            ready = 0
        time.sleep(0.1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("serve")
    home = folder / ".personamap"
    lifecycle, settings = promoted_catalog(home)
    port = free_port()
    metrics_dir = folder / "metrics"
    env = _environment(home, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    command = [sys.executable, "-m", "personamap", "serve", "--port", str(port)]
    command += ["--workers", str(WORKERS), "--reload-interval", str(RELOAD_SECONDS)]
    log = folder / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, process, log)
        yield Server(url, home, metrics_dir, lifecycle, settings)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, log.read_text()


def customer(lifecycle: Lifecycle, row: int) -> dict[str, Any]:
    frame = lifecycle.cohorts[1].frame
    values = frame[list(lifecycle.spec.feature_names)].iloc[row]
    return {name: float(value) for name, value in values.items()}


def scraped_assignments(server: Server) -> float:
    text = httpx.get(f"{server.url}/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("personamap_assignments_total{")
    )


def assignments_per_worker(metrics_dir: Path) -> dict[str, float]:
    """Each worker's own count, read from its metrics file."""
    counts: dict[str, float] = {}
    for path in metrics_dir.glob("counter_*.db"):
        counts[path.stem] = sum(
            value
            for key, value, _, _ in MmapedDict.read_all_values_from_file(str(path))
            if '"personamap_assignments_total"' in key
        )
    return counts


def test_one_scrape_counts_the_assignments_of_every_worker(server: Server) -> None:
    before, before_per_worker = (
        scraped_assignments(server),
        assignments_per_worker(server.metrics_dir),
    )
    n = 120

    def assign(row: int) -> int:  # a new connection each time: any worker may answer
        return httpx.post(
            f"{server.url}/v1/assign", json=customer(server.lifecycle, row)
        ).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(assign, range(n)))
    assert statuses == [200] * n
    assert scraped_assignments(server) - before == n
    after_per_worker = assignments_per_worker(server.metrics_dir)
    served = {w: c - before_per_worker.get(w, 0) for w, c in after_per_worker.items()}
    assert sum(served.values()) == n
    assert len([w for w, c in served.items() if c > 0]) == WORKERS, served


def test_a_promotion_is_served_within_the_reload_interval_and_no_request_fails(
    server: Server,
) -> None:
    old = server.lifecycle.version
    answers: list[tuple[int, int | None, float]] = []
    stop = threading.Event()

    def load(offset: int) -> None:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            row = offset
            while not stop.is_set():
                response = client.post("/v1/assign", json=customer(server.lifecycle, row % 400))
                version = response.json().get("catalog_version") if response.is_success else None
                answers.append((response.status_code, version, time.monotonic()))
                row += 4

    threads = [threading.Thread(target=load, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    try:
        with embedded_home(server.home):
            context = catalog_context(None, load_settings())
            found = discover(context, ["2025-02"], actor="test", reason="e2e hot reload")
            promoted_at = time.monotonic()
            promote(context, found.version, reason="e2e hot reload", actor="test")
        new = found.version
        assert new != old
        deadline = promoted_at + RELOAD_SECONDS + 5
        fresh = 0
        while fresh < 4 * WORKERS:  # new connections in a row: every worker serves the new one
            assert time.monotonic() < deadline, "the promotion was not served in time"
            ready = httpx.get(f"{server.url}/readyz").json()
            fresh = fresh + 1 if ready["catalog"]["version"] == new else 0
        switched_at = time.monotonic()
        time.sleep(0.3)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert len(answers) > 50
    assert {status for status, _, _ in answers} == {200}
    assert {version for _, version, _ in answers} == {old, new}
    assert switched_at - promoted_at <= RELOAD_SECONDS + 5
    assert all(version == new for _, version, at in answers if at > switched_at)


def test_the_printed_example_request_works(server: Server) -> None:
    with embedded_home(server.home):
        get_settings.cache_clear()
        shown = CliRunner().invoke(app, ["serve", "--show-example"], env={"COLUMNS": "300"})
    assert shown.exit_code == 0, shown.output
    assert "personamap serve" in shown.output
    command = next(line for line in shown.output.splitlines() if line.startswith("curl "))
    command = command.replace("http://127.0.0.1:8000", server.url)
    result = subprocess.run(
        ["sh", "-c", command], capture_output=True, text=True, timeout=30, check=True
    )
    answer = json.loads(result.stdout)
    assert answer["customer_id"] == "demo-1"
    assert answer["catalog_version"] >= server.lifecycle.version


def test_production_refuses_to_serve_without_api_keys(tmp_path: Path) -> None:
    get_settings.cache_clear()
    env = {"PERSONAMAP_ENV": "production", "DATABASE_URL": f"sqlite:///{tmp_path / 'pm.db'}"}
    result = CliRunner().invoke(app, ["serve", "--port", str(free_port())], env=env)
    assert isinstance(result.exception, ConfigError)
    assert "does not start without API keys" in str(result.exception)


def test_api_key_makes_a_key_and_the_hash_to_configure() -> None:
    result = CliRunner().invoke(app, ["api-key"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    key = result.output.split("personamap does not keep it): ")[1].split()[0]
    hashed = hash_api_key(key)
    assert f"hash (put it in the configuration): {hashed}" in result.output
    assert load_settings(api_keys=[hashed]).api_keys[0].get_secret_value() == hashed
    given = CliRunner().invoke(app, ["api-key", "-"], input="my-key\n", env={"COLUMNS": "200"})
    assert hash_api_key("my-key") in given.output
    assert "my-key" not in given.output.replace(hash_api_key("my-key"), "")
