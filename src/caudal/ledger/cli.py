"""`caudal ledger ...`: operations on the ledger."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.table import Table

from caudal.cli.console import err, fail, out
from caudal.cli.support import run_with_container
from caudal.platform.bootstrap import Container

app = typer.Typer(name="ledger", help="Cash-flow ledger: reconciliation.", no_args_is_help=True)


def _date(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        fail(f"--{name} {value!r} is not a date", "use YYYY-MM-DD")
        raise typer.Exit(2) from exc


@app.command()
def reconcile(
    date_from: Annotated[
        str | None, typer.Option("--from", help="First day to check (YYYY-MM-DD).")
    ] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Last day to check.")] = None,
    fix: Annotated[
        bool, typer.Option("--fix", help="Rewrite the differing accounts from the journal.")
    ] = False,
) -> None:
    """Recompute every balance from the journal and list the differences (exit 1 if any
    remain)."""
    from caudal.ledger.reconcile import Reconciler, Report

    start, end = _date(date_from, "from"), _date(date_to, "to")
    if start is not None and end is not None and start > end:
        fail(f"--from {start} is after --to {end}", "give --from on or before --to")
        raise typer.Exit(2)

    async def work(container: Container) -> Report:
        with err.status("Recomputing balances from the journal…"):
            return await Reconciler(container.database).run(start, end, fix)

    report = run_with_container(work)
    if report.differences:
        table = Table("branch", "account", "dateref", "expected (D/C, acc D/C)", "stored")
        for d in report.differences[:200]:
            table.add_row(
                d.branch,
                d.account,
                d.dateref.isoformat(),
                " ".join(str(v) for v in d.expected) if d.expected else "-",
                " ".join(str(v) for v in d.actual) if d.actual else "-",
            )
        out.print(table)
    out.print(
        f"{len(report.differences)} difference(s)"
        + (f"; fixed, {report.remaining} remaining" if report.fixed else "")
        + f" (run {report.run_id})"
    )
    if report.remaining:
        fail(
            "balances differ from the journal",
            "run `caudal ledger reconcile --fix` to rewrite them from the journal",
        )
        raise typer.Exit(1)
