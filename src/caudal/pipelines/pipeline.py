"""The user-carts pipeline: extract -> quality gate -> transform -> load -> export -> retention.

Synchronous and CPU-bound (DuckDB does the work): the runner calls it in a worker thread.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import structlog

from caudal.pipelines import quality
from caudal.pipelines.bronze import Bronze
from caudal.pipelines.engine import Session
from caudal.pipelines.export import BucketExporter
from caudal.pipelines.fakestore.client import FakeStoreClient, FakeStoreDownloads
from caudal.pipelines.fakestore.shipped import ShippedFakeStore
from caudal.pipelines.model import Outcome, Progress, RunRequest, no_progress, today_utc
from caudal.pipelines.sources import CartSource, FakeStoreSource, LakeSource, StageContext
from caudal.pipelines.warehouse.duckdb_file import DuckDBWarehouse
from caudal.pipelines.warehouse.port import Warehouse
from caudal.pipelines.warehouse.postgres import PostgresWarehouse
from caudal.platform.settings import Settings

_log = structlog.get_logger("caudal.pipelines")


@dataclass
class UserCartsPipeline:
    source: CartSource
    warehouse: Warehouse
    exporter: BucketExporter
    bronze: Bronze
    staging_root: Path
    memory_limit: str
    known_categories: list[str]
    retention_days: int
    client: FakeStoreDownloads | None = None  # closed when the run ends

    def run(
        self,
        run_id: str,
        run_date: date,
        progress: Progress = no_progress,
        today: date | None = None,
    ) -> Outcome:
        staging = self.staging_root / run_id
        staging.mkdir(parents=True, exist_ok=True)
        session = Session(
            staging, memory_limit=self.memory_limit, known_categories=self.known_categories
        )
        try:
            progress("extract", self.source.name)
            ctx = StageContext(run_id, run_date, staging, self.bronze, progress)
            bronze = self.source.stage(session, ctx)
            session.include(run_date)

            progress("quality", "")
            results = quality.evaluate(
                session.check, has_users=session.has_users, has_categories=session.has_categories
            )
            quality.gate(results)

            progress("transform", "")
            rows = session.transform()
            csv, parquet = session.write(staging / "out")

            progress("load", self.warehouse.name)
            table = self.warehouse.replace(run_date, run_id, csv, parquet)

            progress("export", "")
            exported = self.exporter.export(run_date, run_id, rows, [csv, parquet])

            progress("retention", "")
            expired = self.exporter.retain(self.retention_days, today or today_utc(), keep=run_date)
            _log.info("user_carts_done", run_id=run_id, run_date=run_date.isoformat(), rows=rows)
            return Outcome(rows, [*exported.urls, table], bronze, expired)
        finally:
            session.close()
            if self.client is not None:
                self.client.close()
            shutil.rmtree(staging, ignore_errors=True)


def lake_url(settings: Settings) -> str:
    """CAUDAL_LAKE__URL, or the lake in CAUDAL_HOME (the ingest side writes it there too)."""
    configured: str | None = settings.lake.url
    return configured or f"file://{settings.home / 'lake'}"


def bucket_url(settings: Settings) -> str:
    return settings.pipelines.bucket_url or f"file://{settings.home / 'exports'}"


def warehouse_path(settings: Settings) -> Path:
    return settings.pipelines.warehouse_path or settings.home / "warehouse.duckdb"


def build(settings: Settings, app_database_url: str, request: RunRequest) -> UserCartsPipeline:
    """The pipeline as configured, for one run request."""
    conf = settings.pipelines
    base_url = request.base_url or conf.fakestore_url
    client: FakeStoreDownloads = (
        FakeStoreClient(
            base_url,
            timeout_s=conf.http_timeout_seconds,
            retries=conf.http_retries,
            backoff_s=conf.http_backoff_seconds,
            max_retry_after_s=conf.http_max_retry_after_seconds,
        )
        if base_url
        else ShippedFakeStore()  # no API configured: the data set inside the package
    )
    fakestore = FakeStoreSource(client)
    source: CartSource = (
        LakeSource(lake_url(settings), fakestore) if request.source == "lake" else fakestore
    )
    warehouse: Warehouse = (
        PostgresWarehouse(app_database_url)
        if conf.warehouse == "postgres"
        else DuckDBWarehouse(warehouse_path(settings))
    )
    return UserCartsPipeline(
        source=source,
        warehouse=warehouse,
        exporter=BucketExporter(bucket_url(settings)),
        bronze=Bronze(lake_url(settings)),
        staging_root=settings.home / "pipelines" / "staging",
        memory_limit=conf.duckdb_memory_limit,
        known_categories=list(conf.known_categories),
        retention_days=conf.retention_days,
        client=client,
    )
