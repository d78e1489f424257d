"""`caudal quarantine ...` and `caudal lake ...`."""

from __future__ import annotations

import csv
import json
import sys
from datetime import date
from typing import Annotated, Any

import typer
from rich.markup import escape

from caudal.cli.console import err, fail, out
from caudal.cli.support import load_settings, run_with_container
from caudal.cli.tables import Column, print_table
from caudal.platform.bootstrap import Container

quarantine_app = typer.Typer(
    name="quarantine", help="Invalid events kept with their reason.", no_args_is_help=True
)
lake_app = typer.Typer(
    name="lake", help="The Parquet lake: SQL, flush, compact.", no_args_is_help=True
)
app = typer.Typer()  # what `events.capability` adds to `caudal`
app.add_typer(quarantine_app)
app.add_typer(lake_app)


def _print_rows(
    columns: list[str], rows: list[tuple[Any, ...]], fmt: str, wide: bool = False
) -> None:
    if fmt == "json":
        for row in rows:
            print(json.dumps(dict(zip(columns, row, strict=True)), default=str))
    elif fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        # every column is one the query asked for: fold long values rather than cut them
        shown = [[escape("" if v is None else str(v)) for v in row] for row in rows]
        print_table([Column(c) for c in columns], shown, wide=wide, hint=None)


@quarantine_app.command("list")
def quarantine_list(
    type_: Annotated[str | None, typer.Option("--type", help="Only this event type.")] = None,
    reason: Annotated[
        str | None,
        typer.Option(help="unknown_type, unknown_version, schema_violation, invalid_envelope."),
    ] = None,
    status: Annotated[str, typer.Option(help="held, replayed or all.")] = "held",
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
) -> None:
    """List quarantined events, newest first."""
    from caudal.events.quarantine import STATUSES, QuarantineFilter, list_entries

    if status not in STATUSES:
        fail(f"unknown status {status}", f"use --status {', '.join(STATUSES)}")
        raise typer.Exit(2)
    where = QuarantineFilter(
        type=type_,
        reason=reason,
        replayed=STATUSES[status],
    )

    async def work(container: Container) -> list[dict[str, Any]]:
        items, _ = await list_entries(container.database, where, limit, None)
        return items

    items = run_with_container(work)
    columns = ["id", "received_at", "status", "source", "type", "reason", "code", "field"]
    if fmt == "json":
        for item in items:
            print(json.dumps(item, default=str))
        return
    _print_rows(columns, [tuple(i[c] for c in columns) for i in items], fmt)
    err.print(f"{len(items)} event(s)")


@quarantine_app.command("replay")
def quarantine_replay(
    ctx: typer.Context,
    type_: Annotated[str | None, typer.Option("--type", help="Only this event type.")] = None,
) -> None:
    """Re-validate held events against today's schemas; publish the ones that pass."""
    from caudal.events.quarantine import ReplayReport, replay_in
    from caudal.platform.capability import start_all, stop_all

    async def work(container: Container) -> ReplayReport:
        # every capability: the CPF tokenizer a replayed event needs is the customers'
        capabilities = ctx.obj()
        await start_all(capabilities, container)
        try:
            return await replay_in(container, type_)
        finally:
            await stop_all(capabilities)

    report = run_with_container(work)
    out.print(
        f"[green]{len(report.replayed)} replayed[/] (now on the bus); "
        f"{len(report.still_invalid)} still invalid"
    )
    for failure in report.still_invalid[:20]:
        err.print(f"  {failure['id']}: {failure['code']}: {failure['message']}")
    if report.still_invalid:
        err.print(
            "[yellow]next:[/] fix or register the schema (POST /v1/schemas), then replay again"
        )


@quarantine_app.command("index-cpfs")
def quarantine_index_cpfs(ctx: typer.Context) -> None:
    """Index the CPFs of the entries sealed before that existed (once, after upgrading), so an
    erasure finds them; the events retention worker does it too, on its next round."""
    from caudal.events import runtime
    from caudal.events.retention import EventsRetention
    from caudal.platform.capability import start_all, stop_all

    async def work(container: Container) -> int:
        # every capability: the CPF tokenizer is the customers'
        capabilities = ctx.obj()
        await start_all(capabilities, container)
        try:
            sealer = runtime.get(container).sealer
            retention = EventsRetention(container.database, container.settings, sealer)
            async with container.database.connection() as conn:
                return await retention.index_cpfs(conn)
        finally:
            await stop_all(capabilities)

    out.print(f"[green]{run_with_container(work)} entries indexed[/]")


@lake_app.command("sql")
def lake_sql(
    statement: Annotated[
        str, typer.Argument(help='e.g. "SELECT type, count(*) FROM events GROUP BY 1"')
    ],
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    wide: Annotated[
        bool, typer.Option("--wide", help="Table at its natural width (no folding to 80).")
    ] = False,
) -> None:
    """Run SQL (DuckDB) over the lake. Views: `events` (everything, with `dt`), and one per
    source and type such as frontend.click_button_help or backend."selfie-uploaded"."""
    import duckdb

    from caudal.events.lake_files import LakeFiles, default_url
    from caudal.events.lake_query import query

    settings = load_settings()
    files = LakeFiles(settings.lake.url or default_url(settings.home))
    try:
        columns, rows = query(files, statement)
    except duckdb.Error as exc:
        fail(f"query failed: {exc}", "views: events, <source>.<type>; see docs/lake.md")
        raise typer.Exit(1) from exc
    _print_rows(columns, rows, "json" if as_json else fmt, wide)


@lake_app.command("flush")
def lake_flush() -> None:
    """Have the lake workers write what they hold now, and wait until the lake has caught up."""
    from caudal.events import runtime
    from caudal.events.sinks.lake import FlushResult, flush_now

    async def work(container: Container) -> FlushResult:
        async def lag() -> int:
            group_lag = getattr(container.bus, "group_lag", None)
            return int(await group_lag("lake")) if group_lag is not None else 0

        return await flush_now(container.database, runtime.lake_files(container), lag)

    result = run_with_container(work)
    out.print(f"{result.rows} event(s) written in {result.files} file(s)")
    if not result.caught_up:
        fail("the lake group still has events to deliver", "is a `caudal worker` running?")
        raise typer.Exit(1)


@lake_app.command("compact")
def lake_compact(
    day: Annotated[
        str | None, typer.Option("--date", help="Only partitions of this day (YYYY-MM-DD).")
    ] = None,
) -> None:
    """Merge each partition's files into one, without duplicate ids (atomic per partition)."""
    from caudal.events import runtime
    from caudal.events.lake_compact import CompactReport, compact

    if day is not None:
        try:
            date.fromisoformat(day)
        except ValueError as exc:
            fail(f"--date {day} is not a date", "use YYYY-MM-DD")
            raise typer.Exit(2) from exc

    async def work(container: Container) -> CompactReport:
        return await compact(container, runtime.lake_files(container), day)

    report = run_with_container(work)
    out.print(
        f"{report.partitions} partition(s) compacted: {report.files_before} file(s) -> "
        f"{report.files_after}, {report.rows_before} row(s) -> {report.rows_after}"
    )
