"""``personamap generate``, ``ingest`` and ``demo``: customer data in."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from personamap.adapters.database.customers import count_by_cohort
from personamap.cli.wiring import (
    SpecOption,
    catalog_context,
    console,
    database,
    resolve_paths,
    settings,
    spec_for,
)
from personamap.domain.cohort import months_between
from personamap.domain.synthetic import (
    DEMO_DRIFT,
    DEMO_MONTHS,
    DEMO_N_PER_MONTH,
    DEMO_SEED,
    DriftScenario,
    generate_cohorts,
    load_personas,
    parse_drift,
)
from personamap.errors import PersonamapError
from personamap.services.catalog import promote
from personamap.services.discovery import discover
from personamap.services.generate import FORMATS, FileFormat, ingest_cohorts, write_cohorts
from personamap.services.ingest import IngestResult, ingest_file


def _ingest_table(results: list[IngestResult]) -> Table:
    table = Table(title="ingest")
    for column in ("file", "rows", "loaded", "already present", "rejected", "rows/s"):
        table.add_column(column, justify="left" if column == "file" else "right")
    for r in results:
        table.add_row(
            r.source.name,
            f"{r.rows_total:,}",
            f"{r.rows_loaded:,}",
            f"{r.rows_already_present:,}",
            f"{r.rows_rejected:,}",
            f"{r.rows_per_second:,.0f}",
        )
    return table


def ingest(
    files: Annotated[
        list[Path], typer.Argument(help="CSV or Parquet files, or folders holding them.")
    ],
    spec: SpecOption = None,
) -> None:
    """Load customer files into the customer table, rejecting invalid rows with reasons.

    Invalid rows go to NAME.rejects.csv beside each input. Customers already present (same id)
    are skipped, so ingesting a file twice loads nothing new.
    """
    config = settings()
    feature_spec = spec_for(spec, config)
    engine = database(config)
    results = [ingest_file(path, spec=feature_spec, engine=engine) for path in resolve_paths(files)]
    console.print(_ingest_table(results))
    for r in results:
        if r.rows_rejected:
            console.print(
                f"{r.source.name}: {r.rows_rejected:,} rows rejected, reasons in {r.rejects_path}"
            )
        if r.rows_loaded == 0 and r.rows_already_present:
            earlier = (
                f" (ingested before as batch {r.earlier_batch_id})" if r.earlier_batch_id else ""
            )
            console.print(
                f"{r.source.name}: nothing new, every valid customer was already present{earlier}"
            )


def cohort_summary(title: str = "customers per cohort") -> Table:
    """The customer table's row counts per cohort, as a table."""
    config = settings()
    feature_spec = spec_for(None, config)
    counts = count_by_cohort(database(config), feature_spec, config.cohort_timezone)
    table = Table(title=f"{title} ({feature_spec.table}, months in {config.cohort_timezone})")
    table.add_column("cohort")
    table.add_column("customers", justify="right")
    for cohort, customers in counts.itertuples(index=False):
        table.add_row(str(cohort), f"{customers:,}")
    table.add_row("total", f"{int(counts['customers'].sum()):,}", style="bold")
    return table


def generate(
    spec: SpecOption = None,
    personas: Annotated[
        Path | None,
        typer.Option(help="Persona definition file (default: the one shipped for the spec)."),
    ] = None,
    first: Annotated[str, typer.Option("--from", help="First month, YYYY-MM.")] = DEMO_MONTHS[0],
    last: Annotated[str, typer.Option("--to", help="Last month, YYYY-MM.")] = DEMO_MONTHS[-1],
    customers: Annotated[int, typer.Option(min=1, help="Customers per month.")] = DEMO_N_PER_MONTH,
    drift: Annotated[
        str,
        typer.Option(
            help="Drift scenario for the drift months: none, shift, spread, emerging or mix, "
            "optionally with parameters, e.g. 'shift:persona=1,magnitude=3'."
        ),
    ] = "shift",
    drift_month: Annotated[
        list[str] | None,
        typer.Option(
            help="A month that undergoes the drift (repeatable; default: the middle month).",
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option(min=0, help="Seed; each month is seeded from it.")
    ] = DEMO_SEED,
    out: Annotated[Path, typer.Option(help="Folder for the cohort files.")] = Path("data"),
    file_format: Annotated[
        str, typer.Option("--format", help=f"File format: {' or '.join(FORMATS)}.")
    ] = "csv",
    ingest: Annotated[
        bool, typer.Option("--ingest", help="Load into the database instead of writing files.")
    ] = False,
) -> None:
    """Draw synthetic monthly cohorts of customers from a persona definition.

    Every month is an independent sample seeded from --seed; the drift months differ from the
    personas by the chosen scenario. The default is the demo: January to May 2025, 500 customers
    a month, a persona shifted in March.
    """
    config = settings()
    feature_spec = spec_for(spec, config)
    definition = load_personas(feature_spec, personas)
    months = months_between(first, last)
    scenario = parse_drift(drift)
    chosen = drift_month if drift_month else [months[len(months) // 2]]
    plan = {m: scenario for m in chosen} if scenario != DriftScenario() else {}
    cohorts = generate_cohorts(
        feature_spec, definition, months, n_per_month=customers, seed=seed, drift=plan
    )
    if ingest:
        console.print(_ingest_table(ingest_cohorts(cohorts, feature_spec, database(config))))
        return
    if file_format not in FORMATS:
        raise PersonamapError(f"--format {file_format!r}: use one of {', '.join(FORMATS)}")
    fmt: FileFormat = "csv" if file_format == "csv" else "parquet"
    paths = write_cohorts(cohorts, feature_spec, out, fmt)
    table = Table(title=f"generated cohorts ({feature_spec.name}, seed {seed})")
    for column in ("month", "customers", "drift", "file"):
        table.add_column(column)
    for cohort, path in zip(cohorts, paths, strict=True):
        table.add_row(cohort.month, f"{len(cohort.frame):,}", str(cohort.drift), str(path))
    console.print(table)


def demo(
    spec: SpecOption = None,
) -> None:
    """Run the persona lifecycle end to end on the embedded default.

    Generates the demo cohorts (January to May 2025, March drifted) as files under the home
    folder, ingests January, discovers personas in it and promotes them; then runs the monthly
    pipeline over January to May with that folder as its inbox: it ingests each month, assigns
    it, checks it for drift against January, and retrains a candidate for the drifted month.
    A second run loads nothing new.
    """
    from personamap.cli.pipeline import print_findings, run_table  # imports Dagster: only here
    from personamap.pipeline.resources import PipelineServices
    from personamap.pipeline.run import run_cohorts

    config = settings()
    feature_spec = spec_for(spec, config)
    folder = config.home / "demo" / feature_spec.name
    definition = load_personas(feature_spec)
    cohorts = generate_cohorts(
        feature_spec,
        definition,
        DEMO_MONTHS,
        n_per_month=DEMO_N_PER_MONTH,
        seed=DEMO_SEED,
        drift=DEMO_DRIFT,
    )
    paths = write_cohorts(cohorts, feature_spec, folder)
    console.rule(f"1. generated {len(paths)} monthly cohorts into {folder}")
    engine = database(config)
    results = [ingest_file(paths[0], spec=feature_spec, engine=engine)]
    console.rule(f"2. ingested {DEMO_MONTHS[0]}")
    console.print(_ingest_table(results))

    console.rule(f"3. discovered personas in {DEMO_MONTHS[0]} and promoted them")
    context = catalog_context(spec, config)
    found = discover(context, [DEMO_MONTHS[0]], actor=config.acting_user, reason="demo")
    promoted = promote(
        context, found.version, reason="demo: personas discovered in January", actor="demo"
    )
    personas = ", ".join(f"{p.persona_id} {p.name!r}" for p in found.catalog.personas)
    console.print(
        f"{found.chosen_k} personas found among k={found.sweep.ks[0]}..{found.sweep.ks[-1]} "
        f"on {found.customers:,} customers: {personas}"
    )
    console.print(
        f"catalog version {promoted.to_version} is now production "
        f"(see `personamap catalog show`, MLflow store {config.mlflow_tracking_uri})"
    )

    console.rule(f"4. ran the monthly pipeline over {DEMO_MONTHS[0]} to {DEMO_MONTHS[-1]}")
    services = PipelineServices.from_settings(config, context=context, inbox=folder)
    runs = run_cohorts(services, DEMO_MONTHS)
    console.print(run_table(runs, title=f"pipeline (inbox {folder})"))
    print_findings(runs)
    console.print(cohort_summary())
    console.print(
        "review a candidate with `personamap catalog show candidate`, promote it with "
        "`personamap catalog promote --reason ...`; watch runs with `personamap pipeline ui`"
    )
