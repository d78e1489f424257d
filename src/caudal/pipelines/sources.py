"""Where cart lines come from: a FakeStore-format API, or `add_to_cart` events in the lake.

A source stages `cart_lines` and `products` (and `source_users` if it lists users) into the run's
DuckDB session; see `sql/user_carts.sql` for their columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Protocol

import duckdb

from caudal.pipelines import queries
from caudal.pipelines.bronze import Bronze
from caudal.pipelines.engine import Session
from caudal.pipelines.fakestore.client import FakeStoreDownloads
from caudal.pipelines.model import Progress, lake_unreadable, source_malformed
from caudal.pipelines.storage import filesystem, is_local

_IN_FILE = re.compile(r' in file "[^"]*"')


@dataclass(frozen=True)
class StageContext:
    run_id: str
    run_date: date
    staging: Path
    bronze: Bronze
    progress: Progress


class CartSource(Protocol):
    name: str

    def stage(self, session: Session, ctx: StageContext) -> list[str]:
        """Stage the inputs; return the URLs of what was kept in the lake (bronze)."""


class FakeStoreSource:
    """`/carts`, `/products` and `/users` of a FakeStore-format API."""

    name = "fakestore"

    def __init__(self, client: FakeStoreDownloads) -> None:
        self.client = client

    def fetch(self, endpoint: str, ctx: StageContext) -> Path:
        dest = ctx.staging / f"{endpoint}.json"
        got = 0

        def seen(n: int) -> None:
            nonlocal got
            got += n
            ctx.progress("extract", f"/{endpoint} {got / 1e6:.1f} MB")

        ctx.progress("extract", f"/{endpoint}")
        self.client.download(endpoint, dest, seen)
        return dest

    def stage_file(self, session: Session, query: str, endpoint: str, path: Path) -> None:
        try:
            session.run(query, {"path": str(path)})
        except duckdb.Error as exc:
            raise source_malformed(self.client.url(endpoint), _first_line(exc)) from exc

    def stage_products(self, session: Session, ctx: StageContext) -> list[str]:
        products = self.fetch("products", ctx)
        self.stage_file(session, "stage_fakestore_products", "products", products)
        return [ctx.bronze.keep(self.name, "products", ctx.run_date, ctx.run_id, products)]

    def stage(self, session: Session, ctx: StageContext) -> list[str]:
        carts = self.fetch("carts", ctx)
        self.stage_file(session, "stage_fakestore_carts", "carts", carts)
        kept = [ctx.bronze.keep(self.name, "carts", ctx.run_date, ctx.run_id, carts)]
        kept += self.stage_products(session, ctx)
        users = self.fetch("users", ctx)
        self.stage_file(session, "stage_fakestore_users", "users", users)
        ids_only = ctx.staging / "users.ids.json"
        session.con.execute(
            "COPY (" + queries.duck("bronze_users").rstrip(";") + f") TO '{_literal(ids_only)}' "
            "(FORMAT json, ARRAY true)",
            {"path": str(users)},
        )
        kept.append(ctx.bronze.keep(self.name, "users", ctx.run_date, ctx.run_id, ids_only))
        session.has_users = True
        return kept


class LakeSource:
    """`add_to_cart` frontend events in the lake; the product catalogue from the FakeStore API."""

    name = "lake"

    def __init__(self, lake_url: str, catalogue: FakeStoreSource) -> None:
        self.lake_url = lake_url
        self.catalogue = catalogue

    def stage(self, session: Session, ctx: StageContext) -> list[str]:
        fs, root = filesystem(self.lake_url)
        folder = f"{root}/frontend/add_to_cart"
        ctx.progress("extract", "add_to_cart events in the lake")
        files = fs.glob(f"{folder}/dt=*/part-*.parquet")
        if files:
            if is_local(fs):
                glob = f"{folder}/dt=*/part-*.parquet"
            else:
                session.register_filesystem(fs)
                glob = self.lake_url.rstrip("/") + "/frontend/add_to_cart/dt=*/part-*.parquet"
            try:
                session.run("stage_lake_events", {"glob": glob, "day": ctx.run_date})
            except duckdb.Error as exc:
                raise lake_unreadable(glob, _first_line(exc)) from exc
        else:
            session.run("empty_cart_lines")
        return self.catalogue.stage_products(session, ctx)


def _first_line(exc: BaseException) -> str:
    """DuckDB's reason, without the local staging path (an internal detail)."""
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    first = _IN_FILE.sub("", text.splitlines()[0])
    return first.removeprefix("Invalid Input Error: ")


def _literal(path: Path) -> str:
    return str(path).replace("'", "''")
