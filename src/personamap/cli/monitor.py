"""``personamap monitor``: drift of a cohort against the reference; exit code 1 means drift."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from personamap.cli.wiring import SpecOption, catalog_context, console, settings
from personamap.services.monitor import monitor_cohort, notifier_from, policy_from
from personamap.services.retrain import retrain_after_drift


def monitor(
    reference: Annotated[str, typer.Option(help="Reference cohort, YYYY-MM.")],
    current: Annotated[str, typer.Option(help="Cohort to check, YYYY-MM, or 'latest'.")] = "latest",
    retrain: Annotated[
        bool,
        typer.Option(
            "--retrain", help="On drift, retrain a candidate and compare it with production."
        ),
    ] = False,
    out: Annotated[
        Path | None, typer.Option(help="Folder for the HTML report (default: HOME/reports).")
    ] = None,
    spec: SpecOption = None,
) -> None:
    """Check a cohort for drift in features, persona mix and fit quality.

    Stores the run, writes a self-contained HTML report, alerts on drift. Exit code: 0 no drift,
    1 drift, 2 error.
    """
    config = settings()
    context = catalog_context(spec, config)
    notifier = notifier_from(config)
    result = monitor_cohort(
        context,
        reference=reference,
        current=current,
        policy=policy_from(config),
        report_dir=out or config.home / "reports",
        notifier=notifier,
    )
    report = result.report
    title = f"cohort {report.current} against {report.reference}"
    table = Table(title=f"{title} (catalog v{result.catalog_version})")
    for column in ("view", "metric", "p-value", "effect", "value", "threshold", "drifted"):
        table.add_column(
            column, justify="right" if column in ("p-value", "value", "threshold") else "left"
        )
    for m in report.metrics:
        table.add_row(
            m.kind,
            m.name,
            f"{m.p_value:.2g}",
            m.effect_name,
            f"{m.effect:.3f}",
            f"{m.threshold:g}",
            "DRIFT" if m.drifted else "",
            style="red" if m.drifted else None,
        )
    console.print(table)
    verdict = "DRIFT: " + "; ".join(report.reasons) if report.drifted else "no drift"
    console.print(f"{report.current}: {verdict}")
    console.print(f"report: {result.report_path}")
    if result.delivery is not None:
        console.print(f"alert: {result.delivery.status}")
    if report.drifted and retrain:
        done = retrain_after_drift(
            context,
            result,
            window=config.retrain_window,
            actor=config.acting_user,
            auto_promote=config.auto_promote,
            margin=config.auto_promote_margin,
            notifier=notifier,
        )
        state = "promoted" if done.promoted else "registered as candidate, awaiting approval"
        console.print(
            f"retrained: version {done.candidate_version} {state}; poor fit on {report.current}: "
            f"champion {done.comparison['champion']['poor_fit_rate']:.1%}, "
            f"challenger {done.comparison['challenger']['poor_fit_rate']:.1%}"
        )
    raise typer.Exit(1 if report.drifted else 0)
