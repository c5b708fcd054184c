"""The served catalog's life: none yet, from the disk cache, renamed, recorded assignments."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from personamap.config import Settings, load_settings
from personamap.services.catalog import rename
from personamap.web.app import create_app
from support import Lifecycle
from web_support import free_port

pytestmark = pytest.mark.integration


def record(lifecycle: Lifecycle, row: int = 0) -> dict[str, Any]:
    frame = lifecycle.cohorts[1].frame
    values = frame[list(lifecycle.spec.feature_names)].iloc[row]
    return {name: float(value) for name, value in values.items()}


def wait_for(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_without_a_promoted_catalog_it_is_not_ready_and_says_why(tmp_path: Path) -> None:
    with TestClient(create_app(load_settings())) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["catalog"] is None
        assert "promoted to production yet" in ready.json()["details"][0]
        assigned = client.post("/v1/assign", json={"x1": 1})
        assert assigned.status_code == 503
        assert assigned.json()["detail"].startswith("no persona catalog is loaded: no catalog")
        assert client.get("/v1/personas").status_code == 503
        assert client.get("/healthz").status_code == 200


def unreachable_registry(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    return settings.model_copy(update={"mlflow_tracking_uri_": f"http://127.0.0.1:{free_port()}"})


def test_starts_from_the_disk_cache_when_the_registry_is_unreachable(
    lifecycle: Lifecycle, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings()
    with TestClient(create_app(settings)) as client:  # loads from the registry, caches it
        expected = client.post("/v1/assign", json=record(lifecycle)).json()
    with TestClient(create_app(unreachable_registry(settings, monkeypatch))) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200
        state = ready.json()
        assert state["catalog"]["source"] == "cache"
        assert state["catalog"]["version"] == lifecycle.version
        assert not state["registry"]
        assert any("from the local cache" in d for d in state["details"])
        assert any("cannot be reached" in d for d in state["details"])
        assert client.post("/v1/assign", json=record(lifecycle)).json() == expected


def test_without_registry_and_cache_assignment_answers_503_with_the_reason(
    lifecycle: Lifecycle, monkeypatch: pytest.MonkeyPatch
) -> None:
    with TestClient(create_app(unreachable_registry(load_settings(), monkeypatch))) as client:
        assert client.get("/readyz").status_code == 503
        answer = client.post("/v1/assign", json=record(lifecycle))
        assert answer.status_code == 503
        assert "cannot be reached" in answer.json()["detail"]
        assert "no local cache" in answer.json()["detail"]


def test_a_renamed_persona_is_served_within_the_reload_interval(lifecycle: Lifecycle) -> None:
    settings = load_settings().model_copy(update={"serve_reload_interval_seconds": 0.2})
    with TestClient(create_app(settings)) as client:
        persona_id = client.post("/v1/assign", json=record(lifecycle)).json()["persona_id"]
        rename(lifecycle.context, persona_id, "Sustainable Steve", actor="test")
        wait_for(
            lambda: client.get(f"/v1/personas/{persona_id}").json()["name"] == "Sustainable Steve"
        )
        answer = client.post("/v1/assign", json=record(lifecycle)).json()
        assert answer["persona_name"] == "Sustainable Steve"
        assert answer["catalog_version"] == lifecycle.version


def test_recorded_assignments_are_answered_per_customer(lifecycle: Lifecycle) -> None:
    settings = load_settings().model_copy(update={"serve_record_assignments": True})
    with TestClient(create_app(settings)) as client:
        first = client.post("/v1/assign", json={"customer_id": "web-1", **record(lifecycle)})
        batch = [{"customer_id": f"web-{i}", **record(lifecycle, i)} for i in (2, 3)]
        assert client.post("/v1/assign", json=batch).status_code == 200
        again = client.post("/v1/assign", json={"customer_id": "web-1", **record(lifecycle, 5)})
        assert again.status_code == 200
        found = client.get("/v1/customers/web-1/persona")
        assert found.status_code == 200
        stored = found.json()
        # Keyed by customer and catalog version: the first assignment under a version stands.
        assert stored["persona_id"] == first.json()["persona_id"]
        assert stored["distance"] == pytest.approx(first.json()["distance"])
        assert stored["catalog_version"] == lifecycle.version
        assert stored["persona_name"] == first.json()["persona_name"]
        assert client.get("/v1/customers/web-3/persona").status_code == 200
        assert client.get("/v1/customers/web-9/persona").status_code == 404
