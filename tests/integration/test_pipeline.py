"""The monthly pipeline end to end on PostgreSQL: inbox files to a candidate, alerts, promotion."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from personamap.adapters.database.models import Assignment
from personamap.adapters.database.monitoring_models import MonitoringRun
from personamap.cli import app
from personamap.cli.wiring import catalog_context
from personamap.config import get_settings
from personamap.domain.catalog import CANDIDATE, PRODUCTION
from personamap.domain.synthetic import DEMO_DRIFT, DEMO_MONTHS, generate_cohorts, load_personas
from personamap.pipeline.resources import PipelineServices
from personamap.pipeline.run import run_cohorts
from personamap.services.catalog import CatalogContext, history, promote
from personamap.services.discovery import discover
from personamap.services.generate import write_cohorts
from personamap.services.ingest import ingest_file

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]


class Webhook:
    """A webhook on loopback that records the JSON it receives."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def titles(self) -> list[str]:
        return [message["title"] for message in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def postgres(engine: Engine, use_database: str) -> str:
    """personamap pointed at a migrated, empty PostgreSQL database."""
    return use_database


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Webhook]:
    """A loopback webhook, configured as personamap's alert webhook."""
    hook = Webhook()
    monkeypatch.setenv("PERSONAMAP_ALERT_WEBHOOK_URL", hook.url)
    get_settings.cache_clear()
    yield hook
    hook.close()


def january_in_production(inbox: Path) -> tuple[CatalogContext, int]:
    """The demo cohorts as files in ``inbox``; January alone ingested, discovered and promoted."""
    get_settings.cache_clear()
    context = catalog_context("anonymised")
    spec = context.spec
    cohorts = generate_cohorts(
        spec, load_personas(spec), DEMO_MONTHS, n_per_month=500, drift=DEMO_DRIFT
    )
    files = write_cohorts(cohorts, spec, inbox)
    ingest_file(files[0], spec=spec, engine=context.engine)
    found = discover(context, [DEMO_MONTHS[0]], actor="test")
    promote(context, found.version, reason="personas of January", actor="test")
    return context, found.version


def test_drift_in_march_gives_a_candidate_for_approval_and_production_stays(
    postgres: str, webhook: Webhook, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    context, production = january_in_production(inbox)

    result = CliRunner().invoke(app, ["pipeline", "run", "--inbox", str(inbox)])

    assert result.exit_code == 0, result.output
    with Session(context.engine) as session:
        runs = session.scalars(select(MonitoringRun).order_by(MonitoringRun.id)).all()
        verdicts = [(r.current_cohort, r.reference_cohort, r.drifted, r.alert) for r in runs]
        candidate = runs[1].candidate_version
        assigned = session.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(Assignment.catalog_version == production)
        )
    # January is the month production was trained on: the reference, not monitored itself.
    assert verdicts == [
        ("2025-02", "2025-01", False, "none"),
        ("2025-03", "2025-01", True, "sent"),
        ("2025-04", "2025-01", False, "none"),
        ("2025-05", "2025-01", False, "none"),
    ]
    assert [r.candidate_version is None for r in runs] == [True, False, True, True]
    assert assigned == 2_500  # every month ingested from the inbox and assigned

    registry = context.registry
    assert registry.version_for(CANDIDATE) == candidate
    assert registry.version_for(PRODUCTION) == production
    events = [(e.action, e.to_version, e.reason) for e in history(context)]
    assert [(action, version) for action, version, _ in events] == [
        ("register", candidate),
        ("promote", production),
        ("register", production),
    ]
    assert "drift in cohort 2025-03" in events[0][2]

    assert webhook.titles() == [
        "personamap: cohort 2025-03 drifted from 2025-01",
        f"personamap: candidate version {candidate} awaits your approval",
    ]
    reports = sorted(p.name for p in (get_settings().home / "reports").iterdir())
    assert reports == [f"drift-2025-0{m}-vs-2025-01-v{production}.html" for m in (2, 3, 4, 5)]
    assert "2025-03" in result.output
    assert f"v{candidate} awaits" in result.output

    # A second run of a month finds nothing new to ingest or assign.
    again = run_cohorts(PipelineServices.from_settings(inbox=inbox), ["2025-02"])
    assert (again[0].ingest.loaded, again[0].ingest.already_present) == (0, 500)
    assert again[0].assignment.assigned == 0
    assert again[0].drift.verdict == "no drift"
    assert again[0].retraining is None


def test_with_auto_promote_a_clearly_better_candidate_becomes_production(
    postgres: str, webhook: Webhook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = tmp_path / "inbox"
    context, production = january_in_production(inbox)
    monkeypatch.setenv("PERSONAMAP_AUTO_PROMOTE", "true")
    get_settings.cache_clear()

    (march,) = run_cohorts(PipelineServices.from_settings(inbox=inbox), ["2025-03"])

    assert march.drift.drifted
    assert march.retraining is not None
    assert march.retraining.promoted
    comparison = march.retraining.comparison
    assert (
        comparison["challenger"]["poor_fit_rate"] + 0.05 <= comparison["champion"]["poor_fit_rate"]
    )
    candidate = march.retraining.candidate_version
    assert context.registry.version_for(PRODUCTION) == candidate
    assert context.registry.version_for(CANDIDATE) is None
    newest = history(context)[0]
    assert (newest.action, newest.actor) == ("promote", "personamap-auto")
    assert (newest.from_version, newest.to_version) == (production, candidate)
    assert march.alerts is not None
    assert march.alerts.approval is not None
    assert march.alerts.approval.status == "sent"
    assert webhook.titles()[-1] == (
        f"personamap: candidate version {candidate} was promoted automatically"
    )
