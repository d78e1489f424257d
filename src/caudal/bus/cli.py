"""`caudal bus ...`: consumer groups, lag, replay and dead letters."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, TypeVar

import typer
from rich.table import Table

from caudal.bus.outbox import Backlog, HasOutbox
from caudal.cli.console import fail, out
from caudal.cli.support import run_with_container
from caudal.cli.tables import Column, print_table
from caudal.platform.bootstrap import Container
from caudal.platform.bus.model import GroupStatus
from caudal.platform.bus.port import BusAdmin

app = typer.Typer(
    name="bus", help="The durable bus: groups, lag, replay, dead letters.", no_args_is_help=True
)
dlq_app = typer.Typer(
    name="dlq",
    help="Dead letters: list them, or re-drive them once the cause is fixed.",
    invoke_without_command=True,
)
app.add_typer(dlq_app)

T = TypeVar("T")


def _run(action: Callable[[BusAdmin], Awaitable[T]]) -> T:
    """Bootstrap (migrations included), run `action` on the bus admin port, clean up."""

    async def work(container: Container) -> T:
        bus = container.bus
        if not isinstance(bus, BusAdmin):
            fail("this bus backend has no admin operations")
            raise typer.Exit(2)
        try:
            return await action(bus)
        finally:
            close = getattr(bus, "close", None)  # the NATS connection
            if close is not None:
                await close()

    return run_with_container(work)


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time (`2020-10-12T20:01:14-0300`, `...Z`, a date), an age (`90m`, `2h`) or
    `now` (skip everything published so far)."""
    from caudal.platform.durations import parse_seconds

    now = now or datetime.now(UTC)
    if text.strip().lower() == "now":
        return now
    try:
        return now - timedelta(seconds=parse_seconds(text))
    except ValueError:
        pass
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(
            f"'{text}' is neither a time (2020-10-12T20:01:14-0300) nor an age (90m, 2h, 7d)"
        ) from exc
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def _group_json(g: GroupStatus) -> dict[str, object]:
    return {
        "group": g.group,
        "topics": list(g.topics),
        "partitions": g.partitions,
        "partitions_held": g.owned,
        "workers": g.members,
        "lag": g.lag,
        "oldest_pending_at": g.oldest_pending_at.isoformat() if g.oldest_pending_at else None,
        "retrying": g.retrying,
        "dead_letters": g.dead_letters,
        "last_error": g.last_error,
    }


def _age(value: datetime | None) -> str:
    if value is None:
        return "-"
    seconds = max((datetime.now(UTC) - value).total_seconds(), 0)
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


@app.command()
def status(
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON document, for scripts.")
    ] = False,
    wide: Annotated[
        bool, typer.Option("--wide", help="Every column (topics, partitions, last error).")
    ] = False,
) -> None:
    """Consumer groups: partitions held, live workers, lag, retries and dead letters (on NATS,
    also the outbox messages waiting for the relay)."""

    async def read(bus: BusAdmin) -> tuple[list[GroupStatus], Backlog | None]:
        backlog = await bus.outbox_backlog() if isinstance(bus, HasOutbox) else None
        return await bus.status(), backlog

    groups, backlog = _run(read)
    if as_json:
        print(json.dumps([_group_json(g) for g in groups]))
        return
    if not groups:
        out.print("No consumer group has run yet: start `caudal up` or `caudal worker`.")
        _print_backlog(backlog)
        return
    columns = [
        Column("group", whole=True),
        Column("topics", key=False),
        Column("workers", right=True),
        Column("partitions held", key=False, right=True),
        Column("lag", right=True),
        Column("oldest", right=True),
        Column("retrying", right=True),
        Column("dead letters", right=True),
        Column("last error", key=False),
    ]
    rows = [
        [
            g.group,
            ",".join(g.topics),
            str(g.members),
            f"{g.owned}/{g.partitions}",
            f"[yellow]{g.lag}[/]" if g.lag else "0",
            _age(g.oldest_pending_at),
            str(g.retrying),
            f"[red]{g.dead_letters}[/]" if g.dead_letters else "0",
            (g.last_error or "")[:200],
        ]
        for g in groups
    ]
    print_table(columns, rows, wide=wide, title="Consumer groups")
    _print_backlog(backlog)


def _print_backlog(backlog: Backlog | None) -> None:
    if backlog is None:
        return
    if not backlog.messages:
        out.print("Outbox: empty (every committed message is in JetStream).")
        return
    out.print(
        f"Outbox: [yellow]{backlog.messages}[/] committed message(s) waiting for the relay"
        f" (oldest {_age(datetime.now(UTC) - timedelta(seconds=backlog.oldest_age_s))});"
        " a running `caudal worker` forwards them"
        " while NATS is reachable."
    )


@app.command()
def replay(
    group: Annotated[str, typer.Option("--group", "-g", help="The consumer group to move.")],
    from_offset: Annotated[
        int | None, typer.Option("--from-offset", help="Redeliver from this offset on.", min=0)
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Redeliver what was published since a time, an age (2h, 7d) or now."),
    ] = None,
) -> None:
    """Move a group back (or forward) so it redelivers from an offset or a time."""
    if (from_offset is None) == (since is None):
        fail("give exactly one of --from-offset or --since", "e.g. --since 2h")
        raise typer.Exit(2)
    try:
        when = parse_since(since) if since is not None else None
    except ValueError as exc:
        fail(str(exc))
        raise typer.Exit(2) from exc
    try:
        count = _run(lambda bus: bus.replay(group, from_offset=from_offset, since=when))
    except LookupError as exc:
        fail(f"no consumer group '{group}'", "see `caudal bus status` for the groups")
        raise typer.Exit(1) from exc
    out.print(f"[green]group {group} moved[/]: {count} message(s) will be delivered again.")


@app.command("drop-group")
def drop_group(
    group: Annotated[str, typer.Argument(help="The group to forget.")],
) -> None:
    """Forget a consumer group that no longer runs (it holds back retention while it exists)."""
    if not _run(lambda bus: bus.drop_group(group)):
        fail(f"no consumer group '{group}'", "see `caudal bus status` for the groups")
        raise typer.Exit(1)
    out.print(f"[green]group {group} dropped[/]; its dead letters stay listed in `caudal bus dlq`.")


@dlq_app.callback()
def dlq(
    ctx: typer.Context,
    group: Annotated[str | None, typer.Option("--group", "-g", help="Only this group.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.", min=1)] = 100,
) -> None:
    """List dead letters (never their payloads: they may carry personal data)."""
    if ctx.invoked_subcommand is not None:
        return
    letters = _run(lambda bus: bus.dead_letters(group, limit))
    if not letters:
        out.print("[green]No dead letters.[/]")
        return
    table = Table(title="Dead letters")
    for column in ("id", "group", "topic", "offset", "message id", "attempts", "failed"):
        table.add_column(column)
    table.add_column("last error", overflow="fold")
    for d in letters:
        table.add_row(
            str(d.id),
            d.group,
            d.message.topic,
            str(d.offset),
            d.message.id,
            str(d.attempts) + (" (re-drive asked)" if d.redrive_requested else ""),
            d.failed_at.isoformat(timespec="seconds"),
            d.last_error[:300],
        )
    out.print(table)
    out.print("Fix the cause, then `caudal bus dlq redrive [--group G] [--id N]`.")


@dlq_app.command()
def redrive(
    group: Annotated[str | None, typer.Option("--group", "-g", help="Only this group.")] = None,
    ids: Annotated[
        list[int] | None, typer.Option("--id", help="Only this dead letter; repeat for more.")
    ] = None,
) -> None:
    """Deliver dead letters again to their group (its running workers pick them up)."""
    count = _run(lambda bus: bus.redrive(group, ids or ()))
    if not count:
        out.print("No dead letter matched.")
        return
    out.print(
        f"[green]{count} dead letter(s) queued for re-drive[/]; "
        "a worker of each group delivers them within a second or two (`caudal bus dlq`)."
    )
