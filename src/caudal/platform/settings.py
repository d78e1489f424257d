"""The one settings class. Built by `bootstrap()` at startup, never at import time."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class AuthSettings(BaseModel):
    """JWT verification: HS256 with a local secret by default, RS256 via JWKS for an IdP."""

    secret: SecretStr | None = Field(
        default=None,
        description="HS256 secret; generated into CAUDAL_HOME/secret.key when unset.",
    )
    jwks_url: str | None = Field(
        default=None, description="JWKS URL of an external identity provider (RS256)."
    )
    issuer: str = "caudal"
    audience: str = "caudal"
    leeway_seconds: int = Field(default=30, ge=0, le=600)
    default_ttl_seconds: int = Field(default=3600, gt=0)


class HttpSettings(BaseModel):
    max_body_bytes: int = Field(default=1024 * 1024, gt=0, description="Larger bodies get 413.")
    graceful_shutdown_seconds: float = Field(default=30.0, gt=0)
    workers: int = Field(default=1, ge=1, description="uvicorn worker processes for `caudal api`.")


class UpSettings(BaseModel):
    """`caudal up` (`CAUDAL_UP__*`); see docs/operations.md, "Sizing"."""

    worker_processes: int | Literal["auto"] = Field(
        default="auto",
        description="Child processes `caudal up` runs the bus workers and the scheduler in "
        "(the API process keeps only the groups that must run beside it). `auto`: 1 when this "
        "process may run on 2 CPUs or more (its CPU affinity; a cgroup CPU quota is not "
        "read), else 0; 0: everything in one process.",
    )

    @field_validator("worker_processes")
    @classmethod
    def _bounded(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 0 <= value <= 16:
            raise ValueError("must be `auto` or between 0 and 16")
        return value


class BusSettings(BaseModel):
    """The durable bus (`CAUDAL_BUS__*`); see docs/operations.md, "Bus"."""

    backend: Literal["postgres", "nats"] = Field(
        default="postgres",
        description="Bus adapter: `postgres` (the log in the database) or `nats` (JetStream).",
    )
    partitions: int = Field(
        default=16,
        ge=1,
        le=1024,
        description="Partitions by hash(key); workers of a group share them. Fixed per deployment.",
    )
    batch_size: int = Field(default=500, ge=1, le=10_000, description="Records per handle call.")
    max_attempts: int = Field(
        default=8, ge=1, description="Deliveries before a message goes to the dead letters."
    )
    retry_base_seconds: float = Field(default=0.5, ge=0, description="First retry delay.")
    retry_max_seconds: float = Field(default=60.0, ge=0, description="Retry delay cap.")
    lease_seconds: float = Field(
        default=15.0, gt=0, description="A dead worker's partitions are taken over after this."
    )
    poll_interval_seconds: float = Field(
        default=0.5, gt=0, description="Fallback poll when no notification arrives."
    )
    retention_days: float = Field(
        default=7.0, ge=0, description="Delete consumed messages older than this; 0 keeps all."
    )
    prefetch: bool = Field(
        default=True,
        description="PostgreSQL bus: read a group's next batch while the current one is written.",
    )
    linger_seconds: float = Field(
        default=0.02,
        ge=0,
        le=0.5,
        description="PostgreSQL bus: after a delivery short of a batch, wait this long before "
        "the next read (fewer, larger deliveries in a trickle; adds up to this much latency).",
    )
    nats_url: str = Field(
        default="nats://127.0.0.1:4222",
        description="NATS server URL(s), comma-separated for a cluster (`tls://` for TLS).",
    )
    nats_namespace: str = Field(
        default="caudal",
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Prefix of the JetStream subjects, streams and buckets of this deployment.",
    )
    nats_replicas: int = Field(
        default=1, ge=1, le=5, description="JetStream stream replicas (3 on a 3-node cluster)."
    )
    nats_duplicate_window_seconds: float = Field(
        default=600.0,
        gt=0,
        description="JetStream deduplication window: a re-sent message id within it is dropped.",
    )
    nats_user: str | None = Field(default=None, description="NATS user (with nats_password).")
    nats_password: SecretStr | None = Field(default=None, description="NATS password.")
    nats_token: SecretStr | None = Field(default=None, description="NATS auth token.")
    nats_creds: Path | None = Field(default=None, description="NATS credentials file (JWT+nkey).")
    nats_tls_ca: Path | None = Field(default=None, description="CA bundle to verify the server.")
    nats_tls_cert: Path | None = Field(default=None, description="Client certificate (mTLS).")
    nats_tls_key: Path | None = Field(default=None, description="Client key (mTLS).")


class WebhookSettings(BaseModel):
    """The `webhook` sink (`CAUDAL_WEBHOOK__*`): batches POSTed, HMAC-SHA256 signed."""

    url: str | None = Field(default=None, description="Receiver URL; unset: the sink refuses.")
    secret: SecretStr | None = Field(default=None, description="HMAC-SHA256 signing secret.")
    timeout_seconds: float = Field(default=10.0, gt=0)
    max_attempts: int = Field(default=5, ge=1, description="HTTP attempts per batch delivery.")
    backoff_seconds: float = Field(default=0.5, ge=0, description="First retry delay (doubles).")
    max_backoff_seconds: float = Field(default=30.0, ge=0)


class WebSettings(BaseModel):
    """The dashboard (`CAUDAL_WEB__*`): browser sessions and the live overview stream."""

    session_ttl_seconds: int = Field(
        default=8 * 3600,
        gt=0,
        description="Longest a browser session lasts; never past the login token's expiry.",
    )
    cookie_secure: bool | None = Field(
        default=None,
        description="Secure session cookie; unset: only when the request came over https.",
    )
    stream_interval_seconds: float = Field(
        default=2.0, ge=0.2, le=60, description="How often the overview stream pushes figures."
    )
    stream_max_seconds: float = Field(
        default=20.0,
        ge=1,
        description="An overview stream closes after this and the browser reconnects "
        "(keeps graceful shutdown short).",
    )
    outbox_warn_seconds: float = Field(
        default=30.0,
        gt=0,
        description="The overview flags the bus outbox (NATS) once its oldest waiting message "
        "is older than this: the relay is not forwarding (NATS away, no worker running).",
    )


class KmsSettings(BaseModel):
    """Where key material that must outlive no erasure lives (`CAUDAL_KMS__*`); see
    docs/customers.md, "Key management"."""

    backend: Literal["file"] = Field(
        default="file",
        description="KMS adapter: `file` (one 0600 file per key under `directory`).",
    )
    directory: Path | None = Field(
        default=None,
        description="Key directory of the file backend; default CAUDAL_HOME/kms. Keep it off "
        "the database's disks and out of database backups.",
    )


class CustomersSettings(BaseModel):
    """Customers (`CAUDAL_CUSTOMERS__*`): PII keys, pagination, score cache and scorecard."""

    master_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Master keys by id (base64 of 32 bytes) that wrap the customers' data keys. "
        "Empty: a key file in CAUDAL_HOME (customers.keys) generated on first run.",
    )
    active_key_id: str | None = Field(
        default=None, description="Which of master_keys wraps new data keys (default: last id)."
    )
    index_key: SecretStr | None = Field(
        default=None,
        description="Blind-index HMAC key (base64 of 32 bytes); required with master_keys.",
    )
    keys_file: Path | None = Field(
        default=None, description="Key file path; default CAUDAL_HOME/customers.keys."
    )
    epoch_capacity: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="Customers whose data keys share one key epoch: erasing one re-wraps the "
        "others of its epoch (cost of an erasure) under a fresh epoch key.",
    )
    page_size: int = Field(default=20, ge=1, le=100, description="GET /clientes page size.")
    score_cache_ttl_seconds: int = Field(default=300, gt=0)
    bureau_window_days: int = Field(
        default=90, gt=0, description="Bureau queries within this window lower the score."
    )


class EventsSettings(BaseModel):
    """Ingestion and schema registry (`CAUDAL_EVENTS__*`); see docs/configuration.md."""

    quarantine_ttl_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="Quarantined payloads open for this many days; then their day key is "
        "destroyed in the KMS (crypto-shredding) and only the metadata remains.",
    )
    max_items: int = Field(
        default=1000, ge=1, le=100_000, description="Events per ingestion request; more: 413."
    )
    max_depth: int = Field(
        default=32, ge=2, le=500, description="Nesting depth of an event's data; deeper: 422."
    )
    schemas_dir: Path | None = Field(
        default=None, description="Extra directory of schema files loaded beside the shipped ones."
    )
    validation_budget_seconds: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="Longest schema validation of one request (off the event loop); past it "
        "the events left are kept in quarantine (CAU-EVT-SCHEMA-BUDGET).",
    )
    idempotency_ttl_hours: float = Field(
        default=24.0, gt=0, description="How long an Idempotency-Key answers the same body."
    )
    retry_after_seconds: int = Field(
        default=5, ge=1, description="Retry-After sent with 503 when the bus is down."
    )
    routes: Path | None = Field(
        default=None,
        description="The router's routes.yaml (re-read on change). Unset: the shipped default.",
    )


class LakeSettings(BaseModel):
    """The `lake` sink (`CAUDAL_LAKE__*`): Parquet through fsspec, straight from the bus."""

    url: str | None = Field(
        default=None, description="fsspec URL of the lake root. Unset: file://CAUDAL_HOME/lake."
    )
    flush_max_events: int = Field(
        default=10_000, ge=1, description="Most events per delivery; a full one is written at once."
    )
    flush_max_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A small delivery waits up to half this since the last write.",
    )


class RealtimeSettings(BaseModel):
    """The `realtime` sink (`CAUDAL_REALTIME__*`): per-minute counts and recent events."""

    events_retention_hours: float = Field(
        default=24.0, gt=0, description="Recent events kept searchable for this long."
    )
    counts_retention_days: float = Field(
        default=30.0, gt=0, description="Per-minute counts kept for this long."
    )


class PipelinesSettings(BaseModel):
    """The daily user-carts pipeline (`CAUDAL_PIPELINES__*`); see docs/pipelines.md."""

    user_carts_cron: str = Field(
        default="0 2 * * *",
        description="When the scheduler runs user-carts (UTC cron); a run covers the day before.",
    )
    schedule_enabled: bool = Field(default=True, description="Run user-carts on the schedule.")
    source: Literal["fakestore", "lake"] = "fakestore"
    fakestore_url: str | None = Field(
        default=None,
        description="Base URL of a FakeStore-format API (e.g. https://fakestoreapi.com). "
        "Unset: the FakeStore data set shipped inside caudal, read in-process (offline).",
    )
    http_timeout_seconds: float = Field(default=30.0, gt=0)
    http_retries: int = Field(default=3, ge=0, le=10)
    http_backoff_seconds: float = Field(default=0.5, ge=0)
    http_max_retry_after_seconds: float = Field(default=60.0, ge=0)
    bucket_url: str | None = Field(
        default=None,
        description="Where exports go (fsspec URL). Unset: file://CAUDAL_HOME/exports.",
    )
    retention_days: int = Field(default=30, ge=0, description="Delete older exports; 0 keeps all.")
    warehouse: Literal["duckdb", "postgres"] = "duckdb"
    warehouse_path: Path | None = Field(
        default=None, description="DuckDB warehouse file. Unset: CAUDAL_HOME/warehouse.duckdb."
    )
    known_categories: list[str] = Field(
        default=["electronics", "jewelery", "men's clothing", "women's clothing"],
        description="The quality gate rejects any other category; empty accepts any.",
    )
    duckdb_memory_limit: str = Field(default="768MB", pattern=r"^\d+(\.\d+)?\s*[KMGT]i?B$")

    @field_validator("user_carts_cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from croniter import croniter

        if not croniter.is_valid(value):
            raise ValueError(f"'{value}' is not a cron expression (e.g. '0 2 * * *')")
        return value


class LedgerSettings(BaseModel):
    """The ledger (`CAUDAL_LEDGER__*`): impacts, posting engine, reads, reconciliation."""

    backdate_days: int = Field(
        default=7, ge=0, le=366, description="How many days back an impact's dateref may be."
    )
    max_batch: int = Field(
        default=1000, ge=1, le=10_000, description="Impacts per POST /v1/ledger/impacts."
    )
    topic: str = Field(default="ledger.impacts", description="Bus topic of accepted impacts.")
    consumer_group: str = Field(default="ledger-posting", description="Posting engine's group.")
    page_size: int = Field(default=100, ge=1, le=10_000, description="Default page size.")
    max_page_size: int = Field(default=1000, ge=1, le=100_000, description="Largest page.")
    flowapi_max_rows: int = Field(
        default=10_000, ge=1, description="Rows a FlowApi GET may return; more: 400."
    )
    reconcile_cron: str = Field(
        default="30 3 * * *", description="When the scheduler reconciles balances (UTC cron)."
    )
    reconcile_enabled: bool = Field(default=True, description="Run the nightly reconciliation.")
    consolidated_cache_seconds: float = Field(
        default=1.0, ge=0, le=60, description="Consolidated report micro-cache TTL; 0: none."
    )
    posting_batch_size: int = Field(
        default=1000, ge=1, le=10_000, description="Impacts per posting transaction (bus batch)."
    )


class Settings(BaseSettings):
    """Configuration from `CAUDAL_*` environment variables (nested keys with `__`)."""

    model_config = SettingsConfigDict(
        env_prefix="CAUDAL_",
        env_nested_delimiter="__",
        extra="ignore",
        validate_default=True,
    )

    home: Path = Field(default=Path(".caudal"), description="Local state: embedded DB, secrets.")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    env: Literal["dev", "test", "prod"] = "dev"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto",
        description="Logs on stderr: json lines, console (for a person), or auto: console on a "
        "terminal, json when piped.",
    )

    database_url: SecretStr | None = Field(
        default=None,
        description="Owner/migrator connection URL. Unset: an embedded PostgreSQL in CAUDAL_HOME.",
    )
    database_app_url: SecretStr | None = Field(
        default=None,
        description="URL the application uses (a role that owns no table). "
        "Unset: database_url with the user replaced by database_app_role.",
    )
    database_app_role: str = Field(default="caudal_app", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    database_app_password: SecretStr | None = None
    database_pool_min: int = Field(default=2, ge=1)
    database_pool_max: int = Field(default=16, ge=1)
    database_statement_timeout_ms: int = Field(default=30_000, ge=0)
    database_request_deadline_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="Each database use of an API request (pool wait included) ends within this "
        "or the request answers 503 + Retry-After (CAU-UNAVAILABLE), even if the server hangs.",
    )

    redis_url: SecretStr | None = None

    auth: AuthSettings = AuthSettings()
    http: HttpSettings = HttpSettings()
    up: UpSettings = UpSettings()
    pipelines: PipelinesSettings = PipelinesSettings()
    events: EventsSettings = EventsSettings()
    lake: LakeSettings = LakeSettings()
    realtime: RealtimeSettings = RealtimeSettings()
    web: WebSettings = WebSettings()
    bus: BusSettings = BusSettings()
    webhook: WebhookSettings = WebhookSettings()
    customers: CustomersSettings = CustomersSettings()
    kms: KmsSettings = KmsSettings()
    ledger: LedgerSettings = LedgerSettings()

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None


def redacted(settings: Settings) -> dict[str, Any]:
    """The effective configuration with every secret hidden, for `caudal doctor`: SecretStr
    dumps as '**********', and the credentials of a NATS URL (`nats://user:pass@host`, or
    `nats://token@host`) are masked."""
    shown: dict[str, Any] = settings.model_dump(mode="json")
    shown["bus"]["nats_url"] = _USERINFO.sub("://**********@", settings.bus.nats_url)
    return shown


# `scheme://userinfo@` in each URL of a comma-separated list (a password, or a token alone).
_USERINFO = re.compile(r"://[^/@,\s]+@")
