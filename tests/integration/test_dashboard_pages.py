"""The dashboard in-process on SQLite and PostgreSQL: pages, counts, admin actions, the report."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from personamap.adapters.database.assignments import CustomerRange
from personamap.adapters.database.models import ModelEvent
from personamap.adapters.database.persona_counts import read_persona_counts
from personamap.config import Settings, get_settings, load_settings
from personamap.domain.catalog import CANDIDATE, PRODUCTION
from personamap.reports.static_report import render_static_report
from personamap.services.batch import assign_batch
from personamap.services.discovery import discover
from personamap.web.app import create_app
from support import Lifecycle, build_lifecycle

pytestmark = pytest.mark.integration
ADMIN_KEY = "pages-test-admin-key"
PAGES = ("/", "/personas/1", "/map", "/monitoring", "/history", "/assign")


@pytest.fixture
def admin(monkeypatch: pytest.MonkeyPatch) -> str:
    digest = hashlib.sha256(ADMIN_KEY.encode()).hexdigest()
    monkeypatch.setenv("PERSONAMAP_ADMIN_API_KEYS", f'["sha256:{digest}"]')
    monkeypatch.setenv("PERSONAMAP_SPEC", "survey")
    get_settings.cache_clear()
    return ADMIN_KEY


@pytest.fixture
def lifecycle_app(use_database: str, admin: str) -> Iterator[tuple[Lifecycle, TestClient]]:
    run = build_lifecycle("survey", customers=300)
    assign_batch(run.context, [CustomerRange()])
    with TestClient(create_app(get_settings())) as client:
        yield run, client


def test_pages_show_the_counts_and_changes_land_in_the_audit_trail(
    lifecycle_app: tuple[Lifecycle, TestClient], admin: str
) -> None:
    run, client = lifecycle_app
    model = get_settings().model_name
    overview = client.get("/")
    assert overview.status_code == 200
    assert "No assigned customers counted yet" in overview.text

    refused = client.post("/counts/refresh", data={"admin_key": "guess"})
    assert refused.status_code == 401
    refreshed = client.post("/counts/refresh", data={"admin_key": admin}, follow_redirects=False)
    assert refreshed.status_code == 303
    counts = read_persona_counts(run.context.engine, model_name=model, version=run.version)
    assert counts.frame["customers"].sum() == 1_500
    assert "of 1,500 assigned customers" in client.get("/?done=refreshed").text
    _report_holds_every_persona_and_loads_nothing(run)

    for path in PAGES:
        page = client.get(path)
        assert page.status_code == 200, path
        assert 'class="empty problem"' not in page.text, path

    persona = client.get("/personas/1").text
    with run.context.engine.connect() as connection:
        ids = connection.execute(text("SELECT customer_id FROM assignments")).scalars().all()
    assert "••••" in persona
    assert not [i for i in ids if re.search(rf"\b{re.escape(i)}\b", persona)], "ids are masked"

    found = discover(run.context, ["2025-03"], actor="test", reason="a second look")
    history = client.get("/history").text
    assert f"Candidate v{found.version} against production v{run.version}" in history

    wrong = client.post(
        "/history/promote",
        data={"version": str(found.version), "reason": "better fit", "admin_key": "guess"},
    )
    assert wrong.status_code == 401
    assert run.context.registry.version_for(PRODUCTION) == run.version
    promoted = client.post(
        "/history/promote",
        data={"version": str(found.version), "reason": "better fit", "admin_key": admin},
        follow_redirects=False,
    )
    assert promoted.status_code == 303
    assert run.context.registry.version_for(PRODUCTION) == found.version
    assert run.context.registry.version_for(CANDIDATE) is None
    with Session(run.context.engine) as session:
        event = session.scalars(select(ModelEvent).order_by(ModelEvent.id.desc())).first()
    assert event is not None
    assert (event.actor, event.action, event.to_version, event.reason) == (
        "dashboard",
        "promote",
        found.version,
        "better fit",
    )
    # The served catalog follows at once: the page shows the new production version.
    assert f"production catalog v{found.version}" in client.get("/").text


def _report_holds_every_persona_and_loads_nothing(run: Lifecycle) -> None:
    html = render_static_report(run.context, timezone="UTC")

    for persona in run.context.registry.load(run.version)[1].personas:
        assert persona.name in html
        assert f'id="persona-{persona.persona_id}"' in html
    assert not re.search(r"<(script|img|iframe)[^>]+src=", html)
    assert not re.search(r"<link[^>]+href=", html)
    assert "of 1,500 assigned customers" in html
    assert "••••" not in html  # no customer records travel in the report


@dataclass(frozen=True)
class Fresh:
    """The app on a home with nothing in it yet."""

    client: TestClient
    settings: Settings


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fresh]:
    """The app on a home of its own with nothing in it yet (shared by the module's tests)."""
    digest = hashlib.sha256(ADMIN_KEY.encode()).hexdigest()
    settings = load_settings(
        home=tmp_path_factory.mktemp("fresh") / ".personamap",
        database_url=None,
        mlflow_tracking_uri=None,
        admin_api_keys=[f"sha256:{digest}"],
    )
    with TestClient(create_app(settings)) as client:
        yield Fresh(client, settings)


def test_every_page_has_an_empty_state_before_any_catalog(fresh: Fresh) -> None:
    for path in (*PAGES, "/personas/7"):
        page = fresh.client.get(path)
        assert page.status_code == 200, path
        assert 'class="empty"' in page.text, path
    assert "No persona catalog in production yet" in fresh.client.get("/").text
    assert "No monitoring runs yet" in fresh.client.get("/monitoring").text


def test_reports_are_served_from_the_reports_folder_only(fresh: Fresh) -> None:
    home = fresh.settings.home
    (home / "reports").mkdir(parents=True, exist_ok=True)
    (home / "reports" / "drift-2025-03-vs-2025-01-v1.html").write_text("<h1>report</h1>")
    (home / "reports" / "notes.txt").write_text("not a report")
    (home / "secret.html").write_text("<h1>secret</h1>")

    assert fresh.client.get("/monitoring/reports/drift-2025-03-vs-2025-01-v1.html").text == (
        "<h1>report</h1>"
    )
    for name in ("..%2Fsecret.html", "%2E%2E%2Fsecret.html", "notes.txt", "missing.html"):
        answer = fresh.client.get(f"/monitoring/reports/{name}")
        assert answer.status_code == 404, name
        assert "secret" not in answer.text


def test_changes_need_an_admin_key_and_say_how_to_get_one(fresh: Fresh) -> None:
    refused = fresh.client.post("/counts/refresh", data={"admin_key": "guess"})
    assert refused.status_code == 401
    assert "not an admin key" in refused.text
    without_keys = fresh.settings.model_copy(update={"admin_api_keys": []})
    with TestClient(create_app(without_keys)) as client:
        answer = client.post("/counts/refresh", data={"admin_key": "anything"})
    assert answer.status_code == 401
    assert "PERSONAMAP_ADMIN_API_KEYS" in answer.text


def test_assets_are_served_locally(fresh: Fresh) -> None:
    plotly = fresh.client.get("/assets/plotly.min.js")
    assert plotly.status_code == 200
    assert "plotly.js" in plotly.text[:200]
    assert fresh.client.get("/assets/charts.js").status_code == 200
    assert fresh.client.get("/assets/dashboard.css").status_code == 200
    assert fresh.client.get("/assets/..%2F..%2Fconfig.py").status_code == 404
