"""The catalog against a real MLflow tracking server (PostgreSQL backend store, proxied artifacts),
and served by `mlflow models serve`, returning the same personas as personamap."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from conftest import POSTGRES_ADMIN_URL
from personamap.adapters.registry.mlflow_registry import PRODUCTION
from personamap.services.catalog import effective_catalog, rename
from personamap.services.discovery import discover
from support import Lifecycle, build_lifecycle

pytestmark = pytest.mark.integration
MLFLOW_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen[bytes], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mlflow server` on loopback with a fresh PostgreSQL backend store and proxied artifacts."""
    name = f"personamap_mlflow_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    backend = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    artifacts = tmp_path_factory.mktemp("mlflow-artifacts")
    port = free_port()
    log = (artifacts / "server.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            backend,
            "--artifacts-destination",
            artifacts.as_uri(),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env={**os.environ, **MLFLOW_ENV},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/health", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)
        log.close()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def server_lifecycle(
    mlflow_server: str, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> Lifecycle:
    """Customers in PostgreSQL, catalogs in the MLflow server under a model name of its own."""
    from conftest import _reset_postgres

    _reset_postgres(postgres_url)
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("PERSONAMAP_MODEL_NAME", f"personamap-{uuid.uuid4().hex[:8]}")
    return build_lifecycle("anonymised")


def test_the_lifecycle_runs_against_an_mlflow_server_with_a_postgresql_store(
    server_lifecycle: Lifecycle,
) -> None:
    context = server_lifecycle.context
    assert context.registry.version_for(PRODUCTION) == server_lifecycle.version
    rename(context, 1, "Sustainable Steve", actor="test")
    february = discover(context, ["2025-02"], random_state=99, actor="test")
    _, retrained = effective_catalog(context, february.version)
    assert "Sustainable Steve" in {p.name for p in retrained.personas}

    # A plain MLflow client, pointed at the server, loads the served catalog.
    model = mlflow.pyfunc.load_model(context.registry.model_uri(PRODUCTION))
    frame = server_lifecycle.cohorts[1].frame[list(server_lifecycle.spec.feature_names)]
    _, catalog = effective_catalog(context, PRODUCTION)
    assert (
        model.predict(frame)["persona_id"].tolist() == catalog.assign(frame)["persona_id"].tolist()
    )


def test_mlflow_models_serve_returns_the_same_persona_ids(
    server_lifecycle: Lifecycle, mlflow_server: str, tmp_path: Path
) -> None:
    context = server_lifecycle.context
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            context.registry.model_uri(PRODUCTION),
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env={
            **os.environ,
            **MLFLOW_ENV,
            "MLFLOW_TRACKING_URI": mlflow_server,
            # It execs `uvicorn` by name: find the one installed beside this Python.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/ping", process, seconds=120)
        frame = (
            server_lifecycle.cohorts[2].frame[list(server_lifecycle.spec.feature_names)].head(200)
        )
        body = json.dumps({"dataframe_split": frame.to_dict(orient="split", index=False)})
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=body.encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            served = json.loads(response.read())["predictions"]
    finally:
        stop(process)
        log.close()
    _, catalog = effective_catalog(context, PRODUCTION)
    ours = catalog.assign(frame)
    assert [row["persona_id"] for row in served] == ours["persona_id"].tolist()
    assert [row["fit"] for row in served] == ours["fit"].tolist()
