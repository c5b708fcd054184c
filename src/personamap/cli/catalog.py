"""``personamap catalog``: import, discover, show, rename and promote persona catalogs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from personamap.cli.wiring import SpecOption, catalog_context, console, settings
from personamap.domain.catalog import CANDIDATE, PRODUCTION, PersonaCatalog
from personamap.domain.discover import MIN_SHARE
from personamap.errors import PersonamapError
from personamap.services.catalog import effective_catalog, history, promote, rename
from personamap.services.discovery import DEFAULT_KS, discover
from personamap.services.vendor_import import import_catalog

app = typer.Typer(
    help="Persona catalogs: import vendor centroids, discover personas, promote, rename.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

VersionArgument = Annotated[
    str | None,
    typer.Argument(help="Catalog version number or alias (production, candidate)."),
]


def parse_ks(text: str) -> list[int]:
    """``4`` or ``2..10`` as a list of k."""
    try:
        if ".." in text:
            first, last = (int(part) for part in text.split("..", 1))
            ks = list(range(first, last + 1))
        else:
            ks = [int(text)]
    except ValueError as exc:
        raise PersonamapError(f"--k {text!r}: write one number (4) or a range (2..10)") from exc
    if not ks or min(ks) < 2:
        raise PersonamapError(f"--k {text!r}: k must be at least 2, and a range must not be empty")
    return ks


@app.command("train")
def train_cmd(
    cohort: Annotated[
        list[str], typer.Option(help="Cohort(s) to discover personas in, YYYY-MM (repeatable).")
    ],
    k: Annotated[
        str, typer.Option("--k", help="Number of personas (4) or a range to sweep (2..10).")
    ] = f"{DEFAULT_KS[0]}..{DEFAULT_KS[-1]}",
    min_share: Annotated[
        float, typer.Option(help="Smallest persona share k may produce.", min=0.0, max=0.5)
    ] = MIN_SHARE,
    seed: Annotated[int, typer.Option(help="Random state of the sweep.", min=0)] = 0,
    reason: Annotated[str, typer.Option(help="Why, for the audit trail.")] = "",
    spec: SpecOption = None,
) -> None:
    """Discover personas in cohorts and register them as the `candidate` catalog.

    One MLflow parent run with a nested run per k; k is chosen among this sweep only; matched
    personas keep the ids and names of the production catalog.
    """
    config = settings()
    context = catalog_context(spec, config)
    result = discover(
        context,
        cohort,
        ks=parse_ks(k),
        random_state=seed,
        min_share=min_share,
        actor=config.acting_user,
        reason=reason,
    )
    table = Table(title=f"sweep on {'+'.join(cohort)} ({result.customers:,} customers)")
    metrics = result.sweep.metrics_frame()
    table.add_column("k", justify="right")
    for column in metrics.columns:
        table.add_column(column.replace("_", " "), justify="right")
    for k_value, row in metrics.iterrows():
        style = "bold green" if k_value == result.chosen_k else None
        table.add_row(str(k_value), *(f"{v:,.3f}" for v in row), style=style)
    console.print(table)
    _print_catalog(
        result.version, result.catalog, f"registered as version {result.version} ({CANDIDATE})"
    )
    if result.matching is not None:
        m = result.matching
        console.print(
            f"identity: {len(m.mapping)} persona(s) matched to production, new ids "
            f"{list(m.new_ids) or 'none'}, vanished ids {list(m.vanished_ids) or 'none'}"
        )


@app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(help="Vendor centroids: CSV or JSON.")],
    reference: Annotated[
        list[str] | None,
        typer.Option(help="Reference cohort(s) for scaling and fit thresholds, YYYY-MM."),
    ] = None,
    reason: Annotated[str, typer.Option(help="Why, for the audit trail.")] = "",
    spec: SpecOption = None,
) -> None:
    """Import personas defined elsewhere (no training) and register them as the `candidate`.

    Scaling and fit thresholds come from the reference cohort when one is named, else from the
    spec's declared scales.
    """
    config = settings()
    context = catalog_context(spec, config)
    result = import_catalog(
        context, file, reference=reference or [], actor=config.acting_user, reason=reason
    )
    _print_catalog(
        result.version, result.catalog, f"registered as version {result.version} ({CANDIDATE})"
    )


@app.command("show")
def show_cmd(version: VersionArgument = None) -> None:
    """Print a catalog version (default: production) as a table."""
    context = catalog_context()
    number, catalog = effective_catalog(context, version)
    aliases = [a for a in (PRODUCTION, CANDIDATE) if context.registry.version_for(a) == number]
    _print_catalog(number, catalog, ", ".join(aliases) or "no alias")


@app.command("list")
def list_cmd() -> None:
    """List the catalog versions with their aliases and checks."""
    context = catalog_context()
    table = Table(title=f"catalog versions of {context.model_name!r}")
    for column in ("version", "aliases", "registered", "origin", "personas", "checks"):
        table.add_column(column)
    for v in context.registry.versions():
        table.add_row(
            str(v.version),
            ", ".join(v.aliases),
            v.created_at.strftime("%Y-%m-%d %H:%M UTC"),
            v.tags.get("personamap.origin", ""),
            v.tags.get("personamap.personas", ""),
            v.tags.get("personamap.checks", ""),
        )
    console.print(table)


@app.command("rename")
def rename_cmd(
    persona_id: Annotated[int, typer.Argument(help="The persona's id (ids never change).")],
    name: Annotated[str, typer.Argument(help="The new name, e.g. 'Sustainable Steve'.")],
    version: Annotated[
        str | None, typer.Option(help="Catalog version or alias (default: production).")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why, for the audit trail.")] = "",
) -> None:
    """Rename a persona; later catalogs that match it keep the new name."""
    config = settings()
    number, old = rename(
        catalog_context(config=config),
        persona_id,
        name,
        actor=config.acting_user,
        version_or_alias=version,
        reason=reason,
    )
    console.print(f"catalog version {number}: persona {persona_id} renamed {old!r} -> {name!r}")


@app.command("promote")
def promote_cmd(
    version: VersionArgument = None,
    reason: Annotated[str, typer.Option(help="Why (required, recorded in the audit trail).")] = "",
    force: Annotated[
        bool, typer.Option("--force", help="Promote even if the version's checks failed.")
    ] = False,
) -> None:
    """Move the `production` alias to a version (default: the candidate)."""
    config = settings()
    done = promote(
        catalog_context(config=config),
        version,
        reason=reason,
        actor=config.acting_user,
        force=force,
    )
    previous = f"version {done.from_version}" if done.from_version else "nothing"
    forced = " (checks overridden with --force)" if done.forced else ""
    console.print(f"production: {previous} -> version {done.to_version}{forced}")


@app.command("history")
def history_cmd(
    limit: Annotated[int, typer.Option(help="Most events to show.", min=1)] = 50,
) -> None:
    """List the audit trail: registrations, promotions and renames, newest first."""
    table = Table(title="catalog audit trail")
    for column in ("when (UTC)", "who", "action", "from", "to", "reason / details"):
        table.add_column(column)
    for event in history(catalog_context(), limit=limit):
        detail = event.reason
        if event.action == "rename":
            d = event.details
            detail = f"persona {d.get('persona_id')}: {d.get('from')!r} -> {d.get('to')!r} {detail}"
        table.add_row(
            event.at.strftime("%Y-%m-%d %H:%M:%S"),
            event.actor,
            event.action,
            str(event.from_version or ""),
            str(event.to_version or ""),
            detail.strip(),
        )
    console.print(table)


def _print_catalog(version: int, catalog: PersonaCatalog, note: str) -> None:
    checks = (
        "passed"
        if catalog.checks_passed
        else "FAILED: " + "; ".join(c.message for c in catalog.failed_checks)
    )
    table = Table(
        title=f"catalog version {version} ({note}) - {catalog.origin}, spec {catalog.spec.name}, "
        f"checks {checks}"
    )
    for column in ("id", "name", "share", "fit threshold", "description"):
        table.add_column(column, justify="right" if column in ("id", "share") else "left")
    thresholds = dict(zip(catalog.assigner.persona_ids_, catalog.assigner.thresholds_, strict=True))
    for persona in sorted(catalog.personas, key=lambda p: p.persona_id):
        threshold = thresholds[persona.persona_id]
        table.add_row(
            str(persona.persona_id),
            persona.name,
            f"{persona.share:.1%}",
            f"{threshold:.2f}",
            persona.description,
        )
    console.print(table)
