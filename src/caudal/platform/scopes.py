"""Every scope a route can require. `caudal up` prints an admin token holding all of them."""

from __future__ import annotations

EVENTS_WRITE = "events:write"
EVENTS_READ = "events:read"
SCHEMAS_WRITE = "schemas:write"
CUSTOMERS_PII = "customers:pii"
CUSTOMERS_SCORE = "customers:score"
CUSTOMERS_ACTIVITY = "customers:activity"
AUDIT_READ = "audit:read"
LEDGER_WRITE = "ledger:write"
LEDGER_READ = "ledger:read"
PIPELINES_RUN = "pipelines:run"
PIPELINES_READ = "pipelines:read"
MONITOR_READ = "monitor:read"
ADMIN = "admin"

ALL: tuple[str, ...] = (
    EVENTS_WRITE,
    EVENTS_READ,
    SCHEMAS_WRITE,
    CUSTOMERS_PII,
    CUSTOMERS_SCORE,
    CUSTOMERS_ACTIVITY,
    AUDIT_READ,
    LEDGER_WRITE,
    LEDGER_READ,
    PIPELINES_RUN,
    PIPELINES_READ,
    MONITOR_READ,
    ADMIN,
)
