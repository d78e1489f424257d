-- Pipelines: run history and the PostgreSQL warehouse table of the daily user-carts analysis.
CREATE SCHEMA IF NOT EXISTS pipelines;

CREATE TABLE pipelines.runs (
    id           uuid        PRIMARY KEY,
    pipeline     text        NOT NULL,
    run_date     date        NOT NULL,
    trigger      text        NOT NULL CHECK (trigger IN ('cli', 'api', 'schedule')),
    source       text        NOT NULL,
    status       text        NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'abandoned')),
    rows         bigint,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    duration_ms  bigint,
    outputs      jsonb       NOT NULL DEFAULT '[]'::jsonb,
    error        jsonb,
    requested_by text        NOT NULL
);

-- At most one run per pipeline and date is in flight, whichever process started it.
CREATE UNIQUE INDEX runs_one_running_per_date
    ON pipelines.runs (pipeline, run_date) WHERE status = 'running';
-- The scheduler runs a date once: a second scheduled run of the same date cannot be recorded.
CREATE UNIQUE INDEX runs_one_scheduled_per_date
    ON pipelines.runs (pipeline, run_date) WHERE trigger = 'schedule' AND status <> 'abandoned';
CREATE INDEX runs_recent ON pipelines.runs (started_at DESC);

-- The warehouse table when CAUDAL_PIPELINES__WAREHOUSE=postgres: one partition per run date (dt).
CREATE TABLE pipelines.user_carts (
    dt                date          NOT NULL,
    user_id           bigint        NOT NULL,
    last_cart_date    date          NOT NULL,
    top_category      text          NOT NULL,
    total_quantity    bigint        NOT NULL,
    carts             bigint        NOT NULL,
    distinct_products bigint        NOT NULL,
    cart_value        numeric(15,2) NOT NULL,
    run_id            uuid          NOT NULL,
    PRIMARY KEY (dt, user_id)
);

GRANT USAGE ON SCHEMA pipelines TO caudal_runtime;
GRANT SELECT, INSERT, UPDATE ON pipelines.runs TO caudal_runtime;
GRANT SELECT, INSERT, DELETE ON pipelines.user_carts TO caudal_runtime;
