"""``personamap pipeline run`` and ``ui``: the monthly loop on Dagster, in-process or watched.

Dagster is imported only by these commands, so the rest of the CLI starts without it.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from personamap.cli.wiring import SpecOption, catalog_context, console, settings
from personamap.config import Settings
from personamap.errors import PersonamapError

if TYPE_CHECKING:
    from personamap.pipeline.run import CohortRun

app = typer.Typer(
    help="The monthly pipeline: ingest, assign, monitor, retrain a candidate on drift, alert.",
    no_args_is_help=True,
)

DAGSTER_YAML = """\
# Written by `personamap pipeline ui`; edit freely, personamap does not overwrite it.
telemetry:
  enabled: false
run_queue:  # cohorts one at a time, in order: a promotion can move the next one's reference
  max_concurrent_runs: 1
python_logs:
  managed_python_loggers: [personamap]
  python_log_level: INFO
"""


def run_table(runs: Sequence[CohortRun], title: str = "pipeline") -> Table:
    """One row per cohort: customers ingested and assigned, drift verdict, candidate."""
    table = Table(title=title)
    for column in ("cohort", "new", "rejected", "assigned"):
        table.add_column(column, justify="left" if column == "cohort" else "right", no_wrap=True)
    table.add_column("reference", no_wrap=True)
    table.add_column("drift", no_wrap=True)
    table.add_column("candidate")
    for run in runs:
        candidate = ""
        if run.retraining is not None:
            state = "promoted" if run.retraining.promoted else "awaits approval"
            candidate = f"v{run.retraining.candidate_version} {state}"
        table.add_row(
            run.cohort,
            f"{run.ingest.loaded:,}",
            f"{run.ingest.rejected:,}",
            f"{run.assignment.assigned:,} (v{run.assignment.catalog_version})",
            run.drift.reference if run.drift.monitoring is not None else "",
            run.drift.verdict,
            candidate,
            style="red" if run.drift.drifted else None,
        )
    return table


def print_findings(runs: Sequence[CohortRun]) -> None:
    """Why each drifted cohort was flagged, and where every report is."""
    for run in runs:
        monitoring = run.drift.monitoring
        if monitoring is None:
            continue
        if run.drift.drifted:
            console.print(f"{run.cohort} drifted: " + "; ".join(monitoring.report.reasons))
        if run.retraining is not None:
            comparison = run.retraining.comparison
            console.print(
                f"{run.cohort} candidate v{run.retraining.candidate_version}: poor fit "
                f"{comparison['challenger']['poor_fit_rate']:.1%} against production "
                f"v{run.retraining.champion_version}'s "
                f"{comparison['champion']['poor_fit_rate']:.1%}"
            )
        console.print(f"{run.cohort} report: {monitoring.report_path}")


@app.command("run")
def run(
    cohort: Annotated[
        list[str] | None,
        typer.Option(
            "--cohort",
            help="Cohort to run, YYYY-MM (repeatable; default: every month in the inbox or "
            "the database).",
        ),
    ] = None,
    inbox: Annotated[
        Path | None,
        typer.Option(help="Folder of new cohort files (default: PERSONAMAP_PIPELINE_INBOX)."),
    ] = None,
    spec: SpecOption = None,
) -> None:
    """Run the pipeline in-process for cohorts, oldest first.

    For each cohort: ingest its inbox files (NAME-YYYY-MM.csv or .parquet), assign its customers
    under the production catalog, compare it with the reference cohort, and on drift retrain a
    candidate and ask for approval. Reports go to HOME/reports.
    """
    from personamap.pipeline.resources import PipelineServices
    from personamap.pipeline.run import run_cohorts
    from personamap.services.cohorts import known_months

    config = settings()
    services = PipelineServices.from_settings(
        config, inbox=inbox, context=catalog_context(spec, config)
    )
    months = cohort or known_months(services.context, services.inbox)
    if not months:
        raise PersonamapError(
            f"no cohort to run: the inbox {services.inbox} has no NAME-YYYY-MM.csv or .parquet "
            "file and the database has no customers"
        )
    runs = run_cohorts(
        services,
        months,
        on_cohort=lambda done: console.print(f"{done.cohort}: done, {done.drift.verdict}"),
    )
    console.print(run_table(runs))
    print_findings(runs)


def dagster_home(config: Settings) -> Path:
    """The Dagster instance folder under the home folder, with telemetry off on first use."""
    home = (config.home / "dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    instance_file = home / "dagster.yaml"
    if not instance_file.exists():
        instance_file.write_text(DAGSTER_YAML, encoding="utf-8")
    return home


@app.command("ui")
def ui(
    host: Annotated[
        str, typer.Option(help="Address the Dagster UI listens on (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the Dagster UI.")] = 3000,
) -> None:
    """Start the Dagster UI and daemon (`dagster dev`) on the pipeline's definitions.

    Runs, partitions (one per cohort) and the monthly schedule can be watched and started there;
    the schedule is off until it is switched on in the UI. The instance lives in HOME/dagster.
    """
    config = settings()
    home = dagster_home(config)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "PERSONAMAP_HOME": str(config.home.resolve()),  # the code server may start elsewhere
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    command = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-m",
        "personamap.pipeline.definitions",
        "--host",
        host,
        "--port",
        str(port),
    ]
    console.print(f"Dagster UI on http://{host}:{port} (instance {home}); Ctrl-C stops it")
    sys.stdout.flush()
    # Become `dagster dev`, so that Ctrl-C or a SIGTERM to this process id reaches it and it
    # shuts down its webserver, daemon and code server. A SIGINT ignored by a background shell
    # would stay ignored across exec (and SIGTERM with it: dagster maps it to SIGINT).
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.execve(sys.executable, command, env)
