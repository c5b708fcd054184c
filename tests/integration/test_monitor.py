"""Monitoring on the real stores: verdicts, stored runs, HTML reports, alerts, retraining."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from personamap.adapters.database.monitoring_models import MonitoringMetric, MonitoringRun
from personamap.adapters.notifier import Alert, WebhookNotifier
from personamap.domain.catalog import CANDIDATE, PRODUCTION
from personamap.domain.drift import DriftPolicy
from personamap.services.catalog import history
from personamap.services.monitor import Monitoring, monitor_cohort
from personamap.services.retrain import retrain_after_drift
from support import Lifecycle, build_lifecycle

pytestmark = pytest.mark.integration


class Webhook:
    """A webhook on loopback that fails its first ``failures`` requests, then answers 200."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.received: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append(json.loads(body))
                status = 503 if len(outer.received) <= outer.failures else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


def test_march_is_flagged_and_the_other_months_are_not(
    use_database: str, tmp_path: Path, webhook: Webhook
) -> None:
    run = build_lifecycle("anonymised")
    notifier = WebhookNotifier(webhook.url, "json")
    verdicts = {}
    for month in ("2025-02", "2025-03", "2025-04", "2025-05"):
        result = monitor_cohort(
            run.context,
            reference="2025-01",
            current=month,
            policy=DriftPolicy(),
            report_dir=tmp_path,
            notifier=notifier,
        )
        verdicts[month] = result.report.drifted
        html = result.report_path.read_text()
        assert "data:image/png;base64," in html
        assert "<script" not in html
        assert ("Drift</span>" in html) == result.report.drifted
    assert verdicts == {"2025-02": False, "2025-03": True, "2025-04": False, "2025-05": False}

    assert len(webhook.received) == 1  # one alert, for March
    alert = webhook.received[0]
    assert "2025-03" in alert["title"]
    assert alert["link"].endswith("drift-2025-03-vs-2025-01-v1.html")
    with Session(run.context.engine) as session:
        runs = session.scalars(select(MonitoringRun).order_by(MonitoringRun.id)).all()
        assert [(r.current_cohort, r.drifted, r.alert) for r in runs] == [
            ("2025-02", False, "none"),
            ("2025-03", True, "sent"),
            ("2025-04", False, "none"),
            ("2025-05", False, "none"),
        ]
        metrics = session.scalars(
            select(MonitoringMetric).where(MonitoringMetric.run_id == runs[1].id)
        ).all()
    assert {m.name for m in metrics} >= {"x1", "x10", "persona_mix", "poor_fit_rate", "distance"}
    assert any(m.drifted for m in metrics)


def test_latest_is_the_newest_cohort(lifecycle: Lifecycle, tmp_path: Path) -> None:
    result = monitor_cohort(
        lifecycle.context,
        reference="2025-01",
        current="latest",
        policy=DriftPolicy(),
        report_dir=tmp_path,
    )
    assert result.report.current == "2025-05"


@pytest.mark.parametrize("fmt", ["json", "slack", "telegram"])
def test_the_notifier_posts_the_message_in_each_format(webhook: Webhook, fmt: str) -> None:
    alert = Alert(
        title="cohort 2025-03 drifted",
        text="persona_mix: psi 0.4",
        details={"catalog version": "1"},
        link="file:///r.html",
    )
    delivery = WebhookNotifier(webhook.url, fmt, telegram_chat_id="42").send(alert)  # type: ignore[arg-type]
    assert (delivery.status, delivery.attempts) == ("sent", 1)
    body = webhook.received[0]
    if fmt == "json":
        assert body == {
            "title": "cohort 2025-03 drifted",
            "text": "persona_mix: psi 0.4",
            "details": {"catalog version": "1"},
            "link": "file:///r.html",
        }
    elif fmt == "slack":
        assert body["text"].startswith("*cohort 2025-03 drifted*\npersona_mix: psi 0.4")
        assert "<file:///r.html|Open the report>" in body["text"]
    else:
        assert body["chat_id"] == "42"
        assert "catalog version: 1" in body["text"]


def test_a_webhook_that_fails_twice_gets_the_alert_on_the_third_attempt() -> None:
    hook = Webhook(failures=2)
    try:
        delivery = WebhookNotifier(hook.url, attempts=4, backoff=0.01).send(Alert("t", "x"))
    finally:
        hook.close()
    assert (delivery.status, delivery.attempts) == ("sent", 3)
    assert len(hook.received) == 3


def test_a_dead_webhook_does_not_fail_the_monitoring_run(
    lifecycle: Lifecycle, tmp_path: Path
) -> None:
    hook = Webhook()
    dead_url = hook.url
    hook.close()  # nothing listens there any more
    notifier = WebhookNotifier(dead_url, attempts=2, backoff=0.01)
    result = monitor_cohort(
        lifecycle.context,
        reference="2025-01",
        current="2025-03",
        policy=DriftPolicy(),
        report_dir=tmp_path,
        notifier=notifier,
    )
    assert result.report.drifted
    assert result.delivery is not None
    assert result.delivery.status == "failed"
    with Session(lifecycle.context.engine) as session:
        assert session.get(MonitoringRun, result.run_id).alert == "failed"  # type: ignore[union-attr]


@pytest.fixture
def march(lifecycle: Lifecycle, tmp_path: Path) -> Monitoring:
    """The drifted March cohort, monitored."""
    return monitor_cohort(
        lifecycle.context,
        reference="2025-01",
        current="2025-03",
        policy=DriftPolicy(),
        report_dir=tmp_path,
    )


def test_retraining_registers_a_candidate_and_leaves_production_alone(
    lifecycle: Lifecycle, march: Monitoring, webhook: Webhook
) -> None:
    context = lifecycle.context
    done = retrain_after_drift(
        context,
        march,
        window="current",
        actor="test",
        auto_promote=False,
        margin=0.05,
        notifier=WebhookNotifier(webhook.url),
    )
    assert context.registry.version_for(PRODUCTION) == lifecycle.version
    assert context.registry.version_for(CANDIDATE) == done.candidate_version
    assert not done.promoted
    assert "awaits your approval" in webhook.received[-1]["title"]
    assert (
        done.comparison["challenger"]["poor_fit_rate"]
        < done.comparison["champion"]["poor_fit_rate"]
    )
    with Session(context.engine) as session:
        run = session.get(MonitoringRun, march.run_id)
        assert run is not None
        assert run.candidate_version == done.candidate_version


def test_auto_promotion_moves_production_through_the_audited_path(
    lifecycle: Lifecycle, march: Monitoring
) -> None:
    context = lifecycle.context
    done = retrain_after_drift(
        context,
        march,
        window="current",
        actor="test",
        auto_promote=True,
        margin=0.01,
        notifier=None,
    )
    assert done.promoted
    assert context.registry.version_for(PRODUCTION) == done.candidate_version
    event = history(context)[0]
    assert (event.action, event.actor, event.to_version) == (
        "promote",
        "personamap-auto",
        done.candidate_version,
    )
    assert "auto-promoted after drift in 2025-03" in event.reason
