"""``personamap assign``, ``export`` and ``stream``: customers to personas, in batch and live."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from personamap.adapters.database.assignments import CustomerRange
from personamap.cli.wiring import (
    OutputFormat,
    SpecOption,
    catalog_context,
    console,
    database,
    settings,
    spec_for,
)
from personamap.errors import PersonamapError
from personamap.services.batch import (
    BatchResult,
    assign_batch,
    cohort_ranges,
    refresh_counts,
    since_range,
)

ENGINES = ("db", "spark")


def assign(
    cohort: Annotated[
        list[str] | None,
        typer.Option(help="Assign the customers of this cohort, YYYY-MM (repeatable)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Assign the customers who signed up on or after a date or time."),
    ] = None,
    unassigned: Annotated[
        bool,
        typer.Option("--unassigned", help="Assign every customer without an assignment yet."),
    ] = False,
    catalog_version: Annotated[
        str | None,
        typer.Option(help="Catalog version number or alias (default: production)."),
    ] = None,
    chunk_size: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Customers read, assigned and committed together "
            "(default: PERSONAMAP_BATCH_CHUNK_SIZE, else 100,000).",
        ),
    ] = None,
    engine: Annotated[
        str, typer.Option(help="Where to assign: db (the customer table) or spark.")
    ] = "db",
    input_: Annotated[
        str | None,
        typer.Option(
            "--input",
            help="Spark: customers as a Parquet or CSV path, or a jdbc: URL of the customer table.",
        ),
    ] = None,
    output: Annotated[
        str | None, typer.Option(help="Spark: where the assignments go (a Parquet folder).")
    ] = None,
    master: Annotated[
        str, typer.Option(help="Spark: the master URL, e.g. local[2] or spark://host:7077.")
    ] = "local[*]",
    spec: SpecOption = None,
) -> None:
    """Assign customers to personas in batch and record the assignments.

    Reads the customer table in chunks (memory stays bounded), assigns each chunk and commits it.
    Customers already assigned under the catalog version are skipped, so a re-run changes nothing
    and a run that was stopped half-way is completed by running it again. With `--engine spark`,
    a Spark cluster assigns the customers at --input and writes Parquet to --output.
    """
    if engine not in ENGINES:
        raise PersonamapError(f"--engine {engine!r}: use db or spark")
    if engine == "spark":
        if cohort or since or unassigned:
            raise PersonamapError(
                "--engine spark assigns everything at --input; "
                "--cohort, --since and --unassigned are for --engine db"
            )
        _assign_with_spark(input_, output, master, catalog_version, spec)
        return
    if input_ is not None or output is not None:
        raise PersonamapError("--input and --output are for --engine spark")
    chosen = [bool(cohort), since is not None, unassigned]
    if sum(chosen) != 1:
        raise PersonamapError("choose which customers to assign: --cohort, --since or --unassigned")
    config = settings()
    if cohort:
        ranges = cohort_ranges(cohort, config.cohort_timezone)
    elif since is not None:
        ranges = [since_range(since, config.cohort_timezone)]
    else:
        ranges = [CustomerRange()]  # every customer
    context = catalog_context(spec, config)
    with Progress(
        *Progress.get_default_columns()[:-1],
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task("assigning", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = assign_batch(
            context,
            ranges,
            version_or_alias=catalog_version,
            chunk_size=chunk_size or config.batch_chunk_size,
            progress=progress,
        )
    console.print(summary_table(result))
    if result.assigned:
        started = time.perf_counter()
        rows = refresh_counts(context, result.version)
        console.print(
            f"dashboard counts refreshed ({rows:,} cohort x persona rows) "
            f"in {time.perf_counter() - started:.1f} s"
        )
    already = result.selected - result.assigned
    console.print(
        f"{result.assigned:,} customers assigned with catalog version {result.version} "
        f"in {result.seconds:.1f} s ({result.rows_per_second:,.0f} rows/s)"
        + (f"; {already:,} were assigned meanwhile by another run" if already > 0 else "")
        + ("" if result.selected else "; every selected customer was already assigned")
    )


def summary_table(result: BatchResult) -> Table:
    """Customers per cohort and persona, with the poor-fit share."""
    personas = sorted(result.catalog.personas, key=lambda p: p.persona_id)
    table = Table(title=f"assigned with catalog version {result.version}")
    table.add_column("cohort")
    for persona in personas:
        table.add_column(f"{persona.persona_id} {persona.name}", justify="right")
    for column in ("poor fit", "customers"):
        table.add_column(column, justify="right")
    mix = result.mix
    cohorts = sorted(mix.index.get_level_values("cohort").unique()) if len(mix) else []
    for cohort in [*cohorts, None]:
        part = mix if cohort is None else mix.xs(cohort, level="cohort")
        by_persona = part.groupby(level="persona_id").sum()
        customers = int(by_persona["customers"].sum())
        cells = [
            _share(int(by_persona["customers"].get(p.persona_id, 0)), customers) for p in personas
        ]
        table.add_row(
            "total" if cohort is None else str(cohort),
            *cells,
            _share(int(by_persona["poor"].sum()), customers),
            f"{customers:,}",
            style="bold" if cohort is None else None,
        )
    return table


def _share(count: int, total: int) -> str:
    return f"{count:,} ({count / total:.1%})" if total else f"{count:,}"


def _assign_with_spark(
    input_: str | None,
    output: str | None,
    master: str,
    catalog_version: str | None,
    spec: str | None,
) -> None:
    if not input_ or not output:
        raise PersonamapError("--engine spark needs --input (customers) and --output (a folder)")
    from personamap.services.spark_assign import assign_with_spark

    config = settings()
    context = catalog_context(spec, config)
    started = time.perf_counter()
    result = assign_with_spark(
        context, input_=input_, output=output, master=master, version_or_alias=catalog_version
    )
    seconds = time.perf_counter() - started
    console.print(
        f"{result.rows:,} customers assigned with catalog version {result.version} on Spark "
        f"({master}) in {seconds:.1f} s, written to {result.output}"
    )


def export(
    file_format: OutputFormat = "csv",
    cohort: Annotated[
        list[str] | None,
        typer.Option(help="Only customers of this cohort, YYYY-MM (repeatable)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="The file to write (default: assignments.FORMAT in the current folder)."),
    ] = None,
    spec: SpecOption = None,
) -> None:
    """Write the current assignments, with persona names, to a CSV or Parquet file.

    Current means under the production catalog: the rows of the `customer_persona` view.
    """
    from personamap.services.export import export_assignments

    config = settings()
    path = out or Path(f"assignments.{file_format}")
    result = export_assignments(
        database(config),
        spec=spec_for(spec, config),
        model_name=config.model_name,
        path=path,
        file_format=file_format,
        ranges=cohort_ranges(cohort, config.cohort_timezone) if cohort else None,
        chunk_size=config.batch_chunk_size,
    )
    console.print(
        f"{result.rows:,} assignments (catalog version {result.version}) written to {result.path}"
    )


def stream(
    consumer: Annotated[
        str | None,
        typer.Option(help="This consumer's name in the group (default: host name and process id)."),
    ] = None,
    input_stream: Annotated[
        str | None,
        typer.Option("--input", help="Stream of customers (default: PERSONAMAP_STREAM_INPUT)."),
    ] = None,
    output_stream: Annotated[
        str | None,
        typer.Option("--output", help="Stream of assignments (default: PERSONAMAP_STREAM_OUTPUT)."),
    ] = None,
    dead_letter: Annotated[
        str | None,
        typer.Option(help="Stream of rejected messages (default: PERSONAMAP_STREAM_DEAD_LETTER)."),
    ] = None,
    group: Annotated[
        str | None, typer.Option(help="Consumer group (default: PERSONAMAP_STREAM_GROUP).")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Most messages handled at once.")
    ] = None,
    claim_idle: Annotated[
        float | None,
        typer.Option(
            min=0.001, help="Seconds after which a dead consumer's messages are re-claimed."
        ),
    ] = None,
    refresh: Annotated[
        float | None,
        typer.Option(min=0.001, help="Seconds between checks for a newly promoted catalog."),
    ] = None,
    spec: SpecOption = None,
) -> None:
    """Assign customers arriving on a Redis Stream, until SIGTERM or Ctrl-C.

    Valid messages are assigned, recorded in the database and published to the output stream;
    invalid ones go to the dead-letter stream with their reason. A message is acknowledged only
    after its assignment is committed. Run several consumers side by side: they share the work.
    """
    import os
    import signal
    import socket
    import threading

    from personamap.adapters.broker import Broker
    from personamap.services.stream import Consumer, StreamSettings

    config = settings()
    context = catalog_context(spec, config)
    broker = Broker(config.redis_url, maxlen=config.stream_maxlen)
    broker.ping()
    stream_settings = StreamSettings(
        input=input_stream or config.stream_input,
        output=output_stream or config.stream_output,
        dead_letter=dead_letter or config.stream_dead_letter,
        group=group or config.stream_group,
        consumer=consumer or f"{socket.gethostname()}-{os.getpid()}",
        batch_size=batch_size or config.stream_batch_size,
        claim_idle_seconds=claim_idle or config.stream_claim_idle_seconds,
        catalog_refresh_seconds=refresh or config.stream_catalog_refresh_seconds,
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    s = stream_settings
    worker = Consumer(context, broker, stream_settings)
    version, _ = worker.follower.current()  # fail now, not at the first message
    console.print(
        f"consumer {s.consumer!r} of group {s.group!r}: {s.input} -> {s.output} "
        f"(dead letters: {s.dead_letter}), catalog version {version}"
    )
    stats = worker.run(stop)
    broker.close()
    console.print(
        f"stopped: {stats.messages:,} messages, {stats.assigned:,} assignments recorded, "
        f"{stats.published:,} published, {stats.dead_lettered:,} dead-lettered, "
        f"{stats.claimed:,} re-claimed; catalog versions {stats.versions or 'none'}"
    )
