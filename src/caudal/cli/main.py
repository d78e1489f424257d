"""`caudal`: run the platform, migrate, mint tokens, check the configuration."""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

import caudal
from caudal.cli.console import err, fail, out
from caudal.cli.lazy import CapabilityCommands
from caudal.cli.support import load_settings
from caudal.platform import scopes
from caudal.platform.durations import parse_seconds

if TYPE_CHECKING:
    from caudal.events.sinks.port import Sink
    from caudal.platform.capability import Capability
    from caudal.platform.settings import Settings


def capabilities() -> list[Capability[Sink]]:
    """caudal's capabilities (`wiring.capabilities`), for the commands that run them."""
    # Imported when a command needs it: the composition root imports every capability and the
    # database driver (~0.4 s), which parsing a command line or printing help does not need.
    from caudal import wiring

    return wiring.capabilities()


class _Commands(CapabilityCommands):
    """Below this module's commands, each capability's own commands and groups, built from its
    `cli()` when one is used (`caudal worker` builds none of them)."""

    def capabilities(self) -> list[Capability[Sink]]:
        return capabilities()


app = typer.Typer(
    name="caudal",
    help="Event-driven data platform: events, customers, ledger, pipelines, monitoring.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=_Commands,
)


def _version(value: bool) -> None:
    if value:
        out.print(f"caudal {caudal.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """caudal command line."""
    # A command that needs what other capabilities provide (a port in `container.states`)
    # starts these; a capability's CLI cannot import the composition root (an import cycle).
    ctx.obj = capabilities


@app.command()
def up(
    host: Annotated[str | None, typer.Option(help="Bind address (CAUDAL_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (CAUDAL_PORT).")] = None,
    worker_processes: Annotated[
        str | None,
        typer.Option(
            help="Processes for the bus workers and the scheduler beside the API's: `auto` "
            "(1 on 2+ CPUs), N, or 0 for one process (CAUDAL_UP__WORKER_PROCESSES)."
        ),
    ] = None,
) -> None:
    """Run everything on one machine: API, workers and scheduler, on embedded defaults."""
    from caudal.cli import serve

    if worker_processes is not None:  # validated (and a bad value explained) with the rest
        os.environ["CAUDAL_UP__WORKER_PROCESSES"] = worker_processes
    serve.run_all(load_settings(host=host, port=port))


@app.command("up-worker", hidden=True)
def up_worker(
    index: Annotated[int, typer.Option(help="Which worker process of `caudal up` this is.")] = 1,
) -> None:
    """A worker process of `caudal up`, started and supervised by it (not for direct use)."""
    from caudal.cli import services

    services.run_up_worker(load_settings(), index)


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Bind address (CAUDAL_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (CAUDAL_PORT).")] = None,
) -> None:
    """Run only the HTTP API (scale it out with more processes behind a load balancer)."""
    from caudal.cli import serve

    serve.run_api(load_settings(host=host, port=port))


@app.command()
def worker(
    group: Annotated[
        list[str] | None,
        typer.Option("--group", "-g", help="Run only this consumer group; repeat for more."),
    ] = None,
) -> None:
    """Run only the bus consumers (any number may run against one database)."""
    from caudal.cli import services

    services.run_services(
        load_settings(), frozenset({"worker"}), frozenset(group) if group else None
    )


@app.command()
def scheduler() -> None:
    """Run only the scheduled jobs (nightly reconciliation, daily pipelines)."""
    from caudal.cli import services

    services.run_services(load_settings(), frozenset({"scheduler"}))


@app.command()
def migrate() -> None:
    """Apply pending database migrations."""
    from caudal import wiring
    from caudal.platform.bootstrap import database_owner_url, run_migrations

    settings = load_settings()
    with err.status("Connecting to PostgreSQL…"):
        owner_url, embedded = database_owner_url(settings)
    try:
        applied = run_migrations(
            settings,
            owner_url,
            on_apply=lambda m: err.print(f"  applying {m.domain}/{m.version:04d}_{m.name}"),
            packages=wiring.migration_packages(),
        )
    finally:
        if embedded is not None:
            embedded.stop()
    out.print(f"[green]{len(applied)} migration(s) applied[/]; the database is current.")


@app.command()
def token(
    scope: Annotated[
        list[str] | None, typer.Option("--scope", "-s", help="Scope to grant; repeat for more.")
    ] = None,
    ttl: Annotated[str, typer.Option(help="Lifetime: seconds, or 15m, 12h, 7d.")] = "1h",
    subject: Annotated[str, typer.Option(help="The token's subject (who uses it).")] = "cli",
    admin: Annotated[bool, typer.Option(help="Grant every scope.")] = False,
) -> None:
    """Mint a token; prints the token alone on stdout, for scripts."""
    from caudal.platform.auth import TokenService, load_or_create_secret

    settings = load_settings()
    granted = list(scopes.ALL) if admin else list(scope or [])
    unknown = sorted(set(granted) - set(scopes.ALL))
    if not granted or unknown:
        fail(
            f"unknown scope(s): {', '.join(unknown)}" if unknown else "no scope given",
            f"use --scope with one of: {', '.join(scopes.ALL)} (or --admin)",
        )
        raise typer.Exit(2)
    try:
        seconds = parse_seconds(ttl)
    except ValueError as exc:
        fail(str(exc))
        raise typer.Exit(2) from exc
    secret = settings.auth.secret
    if settings.auth.jwks_url and secret is None:
        fail("tokens come from your identity provider (CAUDAL_AUTH__JWKS_URL is set)")
        raise typer.Exit(2)
    value = secret.get_secret_value() if secret else load_or_create_secret(settings.home)
    print(TokenService(settings.auth, value).mint(subject, granted, seconds))


@app.command()
def doctor() -> None:
    """Show the effective configuration (secrets hidden) and check the database (and NATS
    JetStream when it carries the bus)."""
    from caudal.platform.db import migrations
    from caudal.platform.db.urls import app_url, describe
    from caudal.platform.settings import redacted

    settings = load_settings()
    out.print_json(json.dumps(_effective(redacted(settings), settings)))
    ok = True
    started = time.perf_counter()
    try:
        import psycopg
        from psycopg.rows import scalar_row

        from caudal.platform.bootstrap import database_owner_url

        owner_url, embedded = database_owner_url(settings)
        try:
            with psycopg.connect(owner_url, connect_timeout=5) as conn:
                server = (
                    conn.cursor(row_factory=scalar_row).execute("SHOW server_version").fetchone()
                )
                done = migrations.applied(conn) if _has_meta(conn) else set()
            pending = migrations.pending_keys(done)
            if not pending:
                with psycopg.connect(app_url(settings, owner_url), connect_timeout=5) as conn:
                    conn.execute("SELECT 1")
        finally:
            if embedded is not None:
                embedded.stop()
        elapsed = (time.perf_counter() - started) * 1000
        kind = "embedded" if embedded is not None else "external"
        out.print(
            f"[green]✓[/] database ({kind}) {describe(owner_url)}: PostgreSQL "
            f"{server or '?'} ({elapsed:.0f} ms)"
        )
        if pending:
            ok = False
            out.print(f"[yellow]![/] {len(pending)} pending migration(s): run `caudal migrate`")
        else:
            out.print("[green]✓[/] migrations current")
            out.print(f"[green]✓[/] application role '{settings.database_app_role}' connects")
    except Exception as exc:
        ok = False
        fail(
            f"database check failed: {type(exc).__name__}: {exc}",
            "check CAUDAL_DATABASE_URL, or unset it to use the embedded PostgreSQL",
        )
    if settings.bus.backend == "nats":
        ok = _nats_checked(settings) and ok
    raise typer.Exit(0 if ok else 1)


def _nats_checked(settings: Settings) -> bool:
    import asyncio

    from caudal.bus.nats_doctor import check

    findings = asyncio.run(check(settings.bus))
    for finding in findings:
        if finding.ok:
            out.print(f"[green]✓[/] {finding.text}")
        else:
            fail(finding.text, finding.hint)
    return all(f.ok for f in findings)


def _effective(shown: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """What each unset setting resolves to, rather than `null`."""
    from caudal.customers.crypto.keyfile import key_file
    from caudal.pipelines.pipeline import bucket_url, lake_url, warehouse_path

    home = settings.home
    shown["home"] = str(home.resolve())
    if settings.database_url is None:
        shown["database_url"] = f"embedded PostgreSQL in {home.resolve() / 'pgdata'}"
    shown["lake"]["url"] = lake_url(settings)
    pipelines = shown["pipelines"]
    pipelines["bucket_url"] = bucket_url(settings)
    pipelines["warehouse_path"] = str(warehouse_path(settings))
    if settings.pipelines.fakestore_url is None:
        pipelines["fakestore_url"] = "shipped FakeStore data set (in-process, offline)"
    if settings.events.routes is None:
        shown["events"]["routes"] = "shipped routes.yaml"
    shown["customers"]["keys_file"] = str(key_file(settings))
    if settings.auth.secret is None and settings.auth.jwks_url is None:
        shown["auth"]["secret"] = f"generated in {home.resolve() / 'secret.key'} (hidden)"
    return shown


def _has_meta(conn: object) -> bool:
    import psycopg
    from psycopg.rows import scalar_row

    assert isinstance(conn, psycopg.Connection)
    found = conn.cursor(row_factory=scalar_row).execute(
        "SELECT to_regclass('meta.schema_migrations')"
    )
    return found.fetchone() is not None


def run() -> None:
    app()
