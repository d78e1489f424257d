"""`caudal demo`: live, realistic traffic so a new user sees the dashboard move."""

from __future__ import annotations

import asyncio
from typing import Annotated

import httpx
import typer

from caudal.cli.console import err, fail, out
from caudal.cli.support import load_settings
from caudal.demo.runner import Demo, DemoError, Tally
from caudal.platform import scopes

DEMO_SCOPES = (
    scopes.EVENTS_WRITE,
    scopes.CUSTOMERS_PII,
    scopes.CUSTOMERS_SCORE,
    scopes.LEDGER_WRITE,
)


def _local_token(ttl_seconds: int) -> str:
    """A token for the demo's scopes, signed with this machine's CAUDAL_HOME secret."""
    from caudal.platform.auth import TokenService

    settings = load_settings()
    secret = settings.auth.secret
    if secret is not None:
        value = secret.get_secret_value()
    else:
        path = settings.home / "secret.key"
        if settings.auth.jwks_url or not path.exists():
            fail(
                f"no token given and no signing secret in {settings.home}",
                "pass --token (the admin token `caudal up` printed) or set CAUDAL_HOME",
            )
            raise typer.Exit(2)
        value = path.read_text("utf-8").strip()
    return TokenService(settings.auth, value).mint("demo", DEMO_SCOPES, ttl_seconds)


def _report(tally: Tally, elapsed: float) -> None:
    events = sum(tally.events.values())
    parts = [f"{kind} {count}" for kind, count in sorted(tally.events.items())]
    line = f"[bold]{elapsed:5.0f}s[/] {events} events sent ({', '.join(parts) or 'none yet'})"
    failed = sum(tally.failed.values())
    if failed:
        worst = ", ".join(f"{k}: {v}" for k, v in sorted(tally.last_error.items()))
        line += f" · [yellow]{failed} refused[/] (last: {worst})"
    err.print(line)


def demo(
    url: Annotated[
        str | None,
        typer.Option(
            help="caudal's base URL. Default: the `caudal up` running from CAUDAL_HOME "
            "(its run.json), else CAUDAL_HOST/CAUDAL_PORT."
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="CAUDAL_TOKEN",
            help="Token to send with (needs events:write; customers:pii, customers:score and "
            "ledger:write for those kinds). Default: one minted from CAUDAL_HOME's secret.",
        ),
    ] = None,
    rate: Annotated[float, typer.Option(min=0.5, max=5000, help="Events per second.")] = 20.0,
    duration: Annotated[
        float, typer.Option(min=0, help="Seconds to run; 0 runs until Ctrl-C.")
    ] = 0.0,
    seed: Annotated[int | None, typer.Option(help="Random seed, for repeatable traffic.")] = None,
) -> None:
    """Send realistic live traffic: Android/iOS clicks, uploads, card purchases, bureau queries,
    customers and ledger impacts, through the HTTP API."""
    if url is None:
        from caudal.platform import runfile

        settings = load_settings()
        url = runfile.running_url(settings.home) or (
            f"http://{runfile.client_host(settings.host)}:{settings.port}"
        )
    bearer = token or _local_token(int(duration) + 3600 if duration else 12 * 3600)

    async def main() -> Tally:
        async with httpx.AsyncClient(
            base_url=url,
            headers={"Authorization": f"Bearer {bearer}"},
            timeout=10,
            limits=httpx.Limits(max_connections=32),
            trust_env=False,
        ) as client:
            runner = Demo(client, seed)
            await runner.probe()
            for kind, why in runner.skipped.items():
                err.print(f"[yellow]note:[/] skipping {kind} traffic: {why}")
            err.print(
                f"sending about {rate:g} events/s to {url} ({', '.join(runner.kinds)})"
                + (f" for {duration:g}s" if duration else "; Ctrl-C stops")
                + f"; watch it at {url}/"
            )
            await runner.seed_customers()
            return await runner.run(rate, duration or None, _report)

    try:
        tally = asyncio.run(main())
    except DemoError as exc:
        fail(str(exc))
        raise typer.Exit(1) from exc
    except KeyboardInterrupt:
        err.print("stopped.")
        return
    out.print(f"[green]done:[/] {sum(tally.events.values())} events sent")


app = typer.Typer()  # what `demo.capability` adds to `caudal`
app.command("demo")(demo)
