"""`caudal pipeline ...` (run, runs) and `caudal fakestore serve`."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from caudal.cli.console import err, fail, out
from caudal.cli.support import bootstrap_or_exit, load_settings, run_with_container
from caudal.cli.tables import Column, print_table
from caudal.pipelines.model import (
    SOURCES,
    STEPS,
    USER_CARTS,
    RunRequest,
    parse_run_date,
)
from caudal.platform.bootstrap import Container
from caudal.platform.errors import CaudalError

pipeline_app = typer.Typer(
    name="pipeline",
    help="Daily pipelines: run user-carts, show the run history.",
    no_args_is_help=True,
)
fakestore_app = typer.Typer(
    name="fakestore",
    help="A local FakeStore-format API (the shipped data set).",
    no_args_is_help=True,
)
app = typer.Typer()  # what `pipelines.capability` adds to `caudal`
app.add_typer(pipeline_app)
app.add_typer(fakestore_app)


@pipeline_app.command("run")
def run(
    name: Annotated[str, typer.Argument(help="The pipeline: user-carts.")],
    date: Annotated[
        str | None,
        typer.Option(help="Run date YYYY-MM-DD, today or yesterday (UTC; default today)."),
    ] = None,
    source: Annotated[
        str | None, typer.Option(help="fakestore or lake (default CAUDAL_PIPELINES__SOURCE).")
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            help="FakeStore-format API base URL (default CAUDAL_PIPELINES__FAKESTORE_URL)."
        ),
    ] = None,
) -> None:
    """Run a pipeline now, for one date, and record it in the run history."""
    from caudal.pipelines.runner import Runner

    if name != USER_CARTS:
        fail(f"unknown pipeline '{name}'", f"the pipelines are: {USER_CARTS}")
        raise typer.Exit(2)
    settings = load_settings()
    chosen = source or settings.pipelines.source
    if chosen not in SOURCES:
        fail(f"unknown source '{chosen}'", f"use --source {' or --source '.join(SOURCES)}")
        raise typer.Exit(2)
    try:
        run_date = parse_run_date(date)
    except CaudalError as exc:
        fail(exc.detail)
        raise typer.Exit(2) from exc
    request = RunRequest(
        run_date=run_date,
        source="lake" if chosen == "lake" else "fakestore",
        trigger="cli",
        requested_by="cli",
        base_url=base_url,
    )
    container = bootstrap_or_exit(settings)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise here
    try:
        runner = Runner(settings, container.app_url)
        with Progress(
            TextColumn("[bold]{task.description:<40}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=err,
            transient=False,
        ) as bar:
            task = bar.add_task(f"{USER_CARTS} {run_date.isoformat()}", total=len(STEPS))

            def progress(step: str, detail: str) -> None:
                done = STEPS.index(step) if step in STEPS else 0
                label = f"{step} {detail}".strip()
                bar.update(task, completed=done, description=label[:40])

            try:
                record = asyncio.run(runner.run(request, progress))
            except CaudalError as exc:
                fail(exc.detail, "wait for it to finish, or see `caudal pipeline runs`")
                raise typer.Exit(1) from exc
            if record is not None and record.status == "succeeded":
                bar.update(task, completed=len(STEPS), description="done")
    finally:
        container.close_embedded()
    assert record is not None
    if record.status != "succeeded":
        error = record.error or {}
        fail(
            f"run {record.id} failed: {error.get('message', 'unknown error')}",
            _hint(str(error.get("code", ""))),
        )
        raise typer.Exit(1)
    out.print(
        f"[green]✓[/] {USER_CARTS} {run_date.isoformat()}: {record.rows} user(s) "
        f"in {(record.duration_ms or 0) / 1000:.1f}s (run {record.id})",
        soft_wrap=True,
    )
    for url in record.outputs:
        out.print(f"  {url}", soft_wrap=True, highlight=False)


def _hint(code: str) -> str:
    if code.startswith("CAU-PIPELINES-SOURCE"):
        return (
            "check --base-url / CAUDAL_PIPELINES__FAKESTORE_URL (`caudal fakestore serve` runs "
            "one; unset it to read the shipped data set)"
        )
    if code == "CAU-PIPELINES-QUALITY":
        return "fix the source data; nothing was loaded or exported"
    return "see `caudal pipeline runs` and the logs"


@pipeline_app.command("runs")
def list_runs(
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest first.")] = 20,
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON (every field), for scripts.")
    ] = False,
    wide: Annotated[bool, typer.Option("--wide", help="Every column (outputs, trigger).")] = False,
) -> None:
    """The run history: status, rows, duration, outputs, error."""
    from caudal.pipelines import runs

    async def fetch(container: Container) -> list[runs.RunRecord]:
        async with container.database.connection() as conn:
            return await runs.recent(conn, limit=limit)

    found = run_with_container(fetch)
    if as_json:
        print(json.dumps([r.as_json() for r in found]))
        return
    if not found:
        out.print("no runs yet: `caudal pipeline run user-carts`")
        return
    columns = [
        Column("started (UTC)"),
        Column("pipeline", key=False),
        Column("date"),
        Column("trigger", key=False),
        Column("status"),
        Column("rows", right=True),
        Column("seconds", right=True),
        Column("error"),
        Column("outputs", key=False),
    ]
    rows = []
    for r in found:
        colour = {"succeeded": "green", "failed": "red", "running": "yellow"}.get(r.status, "dim")
        rows.append(
            [
                r.started_at.strftime("%Y-%m-%d %H:%M"),
                r.pipeline,
                r.run_date.isoformat(),
                r.trigger,
                f"[{colour}]{r.status}[/]",
                "" if r.rows is None else str(r.rows),
                "" if r.duration_ms is None else f"{r.duration_ms / 1000:.1f}",
                str((r.error or {}).get("message", "")),
                r.outputs[0].rsplit("/", 1)[0] if r.outputs else "",
            ]
        )
    print_table(columns, rows, wide=wide)


@fakestore_app.command("serve")
def serve(
    port: Annotated[int, typer.Option(help="Port.")] = 8090,
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    data: Annotated[
        Path | None,
        typer.Option(
            help="A folder with carts.json, products.json, users.json (default: shipped)."
        ),
    ] = None,
) -> None:
    """Serve the FakeStore data set (/carts, /products, /users) like fakestoreapi.com."""
    import uvicorn

    from caudal.pipelines.fakestore.server import RESOURCES, create_app

    if data is not None:
        missing = [r for r in RESOURCES if not (data / f"{r}.json").is_file()]
        if missing:
            fail(f"{data} lacks {', '.join(m + '.json' for m in missing)}")
            raise typer.Exit(2)
    err.print(f"FakeStore API on http://{host}:{port} (/carts, /products, /users)")
    uvicorn.run(create_app(data), host=host, port=port, log_level="warning", access_log=False)
