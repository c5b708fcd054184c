"""The persona dashboard and the static report in a real browser (headless Chromium).

One ``personamap serve`` runs for the module on a lifecycle of the survey personas: five monthly
cohorts assigned in batch and counted, February and March monitored (March drifted and was
retrained into a candidate); ``personamap report`` writes the static report meanwhile. Another
server, started first, serves a fresh home for the empty state. Screenshots go to
``test-output/dashboard/``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from personamap.adapters.database.assignments import CustomerRange
from personamap.adapters.database.persona_counts import refresh_persona_counts
from personamap.config import get_settings
from personamap.domain.drift import DriftPolicy
from personamap.services.batch import assign_batch
from personamap.services.monitor import monitor_cohort
from personamap.services.retrain import retrain_after_drift
from support import build_lifecycle

pytestmark = pytest.mark.e2e

SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "dashboard"
REPORT = SHOTS / "persona-report.html"
ADMIN_KEY = "dashboard-test-admin-key"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAGES = [  # name, path, charts the page draws at least
    ("overview", "/", 5),
    ("persona", "/personas/1", 3),
    ("map", "/map", 1),
    ("monitoring", "/monitoring", 3),
    ("history", "/history", 1),
    ("assign", "/assign", 0),
]


def _missing(what: str) -> None:
    if os.environ.get("CI") == "true":  # CI installs both: missing there is a failure
        pytest.fail(f"{what} is not installed; .ci/run installs it (scripts/ensure-chromium)")
    pytest.skip(f"{what} is not installed: run scripts/ensure-chromium and `make install`")


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's Chromium (skips the module where it is missing, except in CI)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("playwright (a dev dependency)")
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        _missing("chromium")
    return str(found)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _environment(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PERSONAMAP_") and k not in ("DATABASE_URL", "MLFLOW_TRACKING_URI")
    }
    digest = hashlib.sha256(ADMIN_KEY.encode()).hexdigest()
    env.update(
        PERSONAMAP_HOME=str(home),
        PERSONAMAP_SPEC="survey",
        PERSONAMAP_ADMIN_API_KEYS=f'["sha256:{digest}"]',
        MLFLOW_DISABLE_TELEMETRY="true",
    )
    return env


@dataclass
class Server:
    """``personamap serve`` on a loopback port."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def wait(self, *, ready: bool) -> Server:
        """Wait until it answers: ready, or (``ready=False``) done finding nothing to serve."""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"personamap serve exited: {self.log.read_text()}")
            try:
                answer = httpx.get(f"{self.url}/readyz", timeout=2)
                loaded = "promoted" in " ".join(answer.json().get("details", []))
                if answer.status_code == 200 or (not ready and loaded):
                    return self
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.3)
        raise RuntimeError(f"personamap serve did not get ready: {self.log.read_text()}")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Running:
    """The lifecycle's server, and ``personamap report`` writing its report meanwhile."""

    server: Server
    report: subprocess.Popen[str]


def _serve(home: Path) -> Server:
    """Start ``personamap serve`` on ``home`` (without waiting for it)."""
    home.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log = home / "serve.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "personamap", "serve", "--port", str(port), "--workers", "1"],
        env=_environment(home),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return Server(url=f"http://127.0.0.1:{port}", process=process, log=log)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory, chromium: str) -> Iterator[Server]:
    """A server on a home with nothing in it, started first: it gets up while the rest is made."""
    started = _serve(tmp_path_factory.mktemp("fresh") / ".personamap")
    yield started
    started.stop()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, fresh: Server) -> Iterator[Path]:
    """A home with the survey lifecycle: assigned, counted, monitored, a candidate waiting."""
    home = tmp_path_factory.mktemp("dashboard") / ".personamap"
    with pytest.MonkeyPatch.context() as patch:
        for name in [*os.environ, "DATABASE_URL", "MLFLOW_TRACKING_URI"]:
            if name.startswith("PERSONAMAP_") or name in ("DATABASE_URL", "MLFLOW_TRACKING_URI"):
                patch.delenv(name, raising=False)
        for name, value in _environment(home).items():
            patch.setenv(name, value)
        get_settings.cache_clear()
        run = build_lifecycle("survey")
        settings = get_settings()
        assign_batch(run.context, [CustomerRange()])
        refresh_persona_counts(
            run.context.engine,
            spec=run.spec,
            model_name=settings.model_name,
            version=run.version,
            timezone=settings.cohort_timezone,
        )
        for month in ("2025-02", "2025-03"):
            monitored = monitor_cohort(
                run.context,
                reference="2025-01",
                current=month,
                policy=DriftPolicy(),
                report_dir=settings.home / "reports",
            )
        assert monitored.report.drifted, "March should drift"
        retrain_after_drift(
            run.context,
            monitored,
            window="current",
            actor="test",
            auto_promote=False,
            margin=0.05,
            notifier=None,
        )
        run.context.engine.dispose()
        get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def running(home: Path) -> Iterator[Running]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    server = _serve(home)
    report = subprocess.Popen(
        [sys.executable, "-m", "personamap", "report", "--out", str(REPORT)],
        env=_environment(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield Running(server=server.wait(ready=True), report=report)
    server.stop()
    if report.poll() is None:
        report.kill()
    report.communicate()


@pytest.fixture(scope="module")
def server(running: Running) -> Server:
    return running.server


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    opened = context.new_page()
    yield opened
    context.close()


def _wait_for_charts(page: Any, at_least: int) -> int:
    if at_least:
        page.wait_for_function(
            "n => document.querySelectorAll('.chart[data-rendered=true]').length >= n",
            arg=at_least,
            timeout=20_000,
        )
    charts = page.locator(".chart")
    for i in range(charts.count()):
        chart = charts.nth(i)
        chart.scroll_into_view_if_needed()
        assert chart.get_attribute("data-rendered") == "true"
        assert chart.locator(".main-svg").first.is_visible()
    return int(charts.count())


@pytest.mark.parametrize(("name", "path", "charts"), PAGES, ids=[p[0] for p in PAGES])
def test_each_page_renders_with_its_charts_visible(
    server: Server, page: Any, name: str, path: str, charts: int
) -> None:
    requested: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))

    answer = page.goto(server.url + path)

    assert answer.status == 200
    drawn = _wait_for_charts(page, charts)
    assert drawn >= charts
    assert page.locator(".empty.problem").count() == 0
    assert errors == []
    remote = [u for u in requested if u.startswith("http") and not u.startswith(server.url)]
    assert remote == [], "nothing comes from the internet"
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_the_overview_shows_every_persona_with_its_traits_and_trend(
    server: Server, page: Any
) -> None:
    page.goto(server.url + "/")
    _wait_for_charts(page, 5)
    cards = page.locator(".card")
    assert cards.count() == 5
    for i in range(5):
        card = cards.nth(i)
        assert card.locator(".persona-name").inner_text().strip()
        assert card.locator("ul.traits li").count() >= 1
        assert "%" in card.locator(".share").inner_text()
        assert card.locator(".chart[data-rendered=true]").count() == 1


def test_a_monitoring_report_opens_from_the_monitoring_page(server: Server, page: Any) -> None:
    page.goto(server.url + "/monitoring")
    assert page.locator("tr[data-cohort='2025-03'] .verdict.drift").is_visible()
    page.locator("tr[data-cohort='2025-03'] a.report-link").click()
    page.wait_for_load_state()
    assert "Drift report: cohort 2025-03" in page.locator("h1").inner_text()


def test_the_assign_form_returns_an_assignment(server: Server, page: Any) -> None:
    page.goto(server.url + "/assign?typical_of=3")
    page.fill("#field-age", "45")
    page.select_option("#field-region", "west")
    page.click("#assign-form button[type=submit]")

    result = page.locator("#assignment")
    result.wait_for()
    assert page.locator(".assigned-name").inner_text().strip()
    assert "%" in page.locator("#assignment .confidence").inner_text()
    assert page.locator("#assignment .fit").inner_text() in {"good", "poor"}
    page.screenshot(path=str(SHOTS / "assign-result.png"), full_page=True)


def test_the_assign_form_names_the_field_of_a_wrong_value(server: Server, page: Any) -> None:
    page.goto(server.url + "/assign")
    page.fill("#field-age", "150")
    page.fill("#field-household_size", "")
    page.click("#assign-form button[type=submit]")

    page.locator(".field-error").first.wait_for()
    assert page.locator("#assignment").count() == 0
    assert "150 is out of range [18, 99]" in page.locator("#error-age").inner_text()
    assert "missing value" in page.locator("#error-household_size").inner_text()
    assert page.input_value("#field-age") == "150"  # what was entered stays, to be corrected
    page.screenshot(path=str(SHOTS / "assign-invalid.png"), full_page=True)


def test_a_rename_made_in_the_page_shows_on_the_overview_and_in_the_audit_trail(
    server: Server, page: Any
) -> None:
    page.goto(server.url + "/personas/2")
    page.fill("#name", "Family Frank")
    page.fill("#reason", "named by marketing")
    page.fill("#rename-key", "not the admin key")
    page.click("form.rename button[type=submit]")
    assert "not an admin key" in page.locator(".error").inner_text()

    page.fill("#rename-key", ADMIN_KEY)
    page.click("form.rename button[type=submit]")
    page.wait_for_url("**/personas/2?done=renamed")
    assert page.locator("h1.persona-name").inner_text() == "Family Frank"

    page.goto(server.url + "/")
    card = page.locator(".card[data-persona='2']")
    assert card.locator(".persona-name").inner_text() == "Family Frank"

    page.goto(server.url + "/history")
    renamed = page.locator("table.audit tr[data-action='rename']").first
    text = renamed.inner_text()
    assert "dashboard" in text
    assert "named by marketing" in text
    assert "'Family Frank'" in text
    page.screenshot(path=str(SHOTS / "history-after-rename.png"), full_page=True)


def test_the_history_compares_the_candidate_with_production(server: Server, page: Any) -> None:
    page.goto(server.url + "/history")
    assert page.locator("table.versions tr").count() >= 3  # header, production, candidate
    assert page.locator(".tag.candidate").count() == 1
    assert page.locator("table.comparison tr").count() >= 2
    assert page.locator("form.promote").is_visible()
    assert "Retrained after drift" in page.locator("main").inner_text()


def test_the_empty_state_renders_on_a_fresh_database(fresh: Server, page: Any) -> None:
    fresh.wait(ready=False)
    for name, path, _ in [*PAGES, ("unknown-persona", "/personas/1", 0)]:
        answer = page.goto(fresh.url + path)
        assert answer.status == 200, f"{path} answered {answer.status}"
        assert page.locator(".empty").count() >= 1, path
        assert page.locator(".empty.problem").count() == 0, path
        if name == "overview":
            assert "No persona catalog in production yet" in page.inner_text("main")
            page.screenshot(path=str(SHOTS / "empty-overview.png"), full_page=True)
    page.goto(fresh.url + "/history")
    assert "Nothing recorded yet" in page.inner_text("main")


def test_the_static_report_opens_offline_and_shows_every_persona(
    running: Running, browser: Any
) -> None:
    out, errors = running.report.communicate(timeout=120)  # started with the server
    assert running.report.returncode == 0, errors
    assert str(REPORT) in out.replace("\n", "")
    assert "dashboard: http://" in out

    context = browser.new_context(offline=True, viewport={"width": 1300, "height": 900})
    blocked: list[str] = []

    def only_files(route: Any) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_files)
    page = context.new_page()
    try:
        page.goto(REPORT.as_uri())
        drawn = _wait_for_charts(page, page.locator(".chart").count())
        assert drawn >= 5 + 5 * 3 + 1 + 3  # trends, profiles, map, monitoring
        names = page.locator(".cards .persona-name").all_inner_texts()
        assert len(set(names)) == 5
        for i in range(1, 6):
            assert page.locator(f"#persona-{i}").is_visible()
        assert blocked == []
        page.screenshot(path=str(SHOTS / "report.png"), full_page=False)
    finally:
        context.close()
