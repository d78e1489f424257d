-- Events: schema registry, ingestion idempotency, quarantine, and the state of the lake and
-- realtime sinks. Event ids are text (uuids for ingested events; other capabilities may differ).
CREATE SCHEMA events;

-- Schemas registered through the API (the shipped ones and a schemas directory are files).
CREATE TABLE events.schemas (
    type        text        NOT NULL,
    version     text        NOT NULL,
    source      text        NOT NULL CHECK (source IN ('frontend', 'backend', 'any')),
    description text        NOT NULL DEFAULT '',
    schema      jsonb       NOT NULL,
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (type, version)
);

-- One row per Idempotency-Key (per token subject): a retried request gets the same answer.
CREATE TABLE events.idempotency (
    subject      text        NOT NULL,
    key          text        NOT NULL,
    route        text        NOT NULL,
    request_hash text        NOT NULL,
    status       smallint    NOT NULL,
    response     bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject, key)
);
CREATE INDEX idempotency_created_at ON events.idempotency (created_at);

-- Invalid events, kept with their reason and raw payload until replayed.
CREATE TABLE events.quarantine (
    id          uuid        PRIMARY KEY,
    received_at timestamptz NOT NULL,
    source      text        NOT NULL,
    type        text,
    version     text,
    reason      text        NOT NULL,
    code        text        NOT NULL,
    message     text        NOT NULL,
    field       text,
    payload     jsonb       NOT NULL,
    trace_key   text,
    subject     text,
    replayed_at timestamptz,
    event_id    text
);
CREATE INDEX quarantine_recent ON events.quarantine (received_at DESC, id DESC);
CREATE INDEX quarantine_pending_type ON events.quarantine (type, received_at)
    WHERE replayed_at IS NULL;

-- The lake sink's durable buffer (Firehose-like): a delivered event lands here once (by id),
-- is claimed into a numbered batch, written as Parquet, then marked flushed. Flushed rows are
-- kept for CAUDAL_LAKE__DEDUPE_HOURS so a redelivery never writes a row twice.
CREATE TABLE events.lake_buffer (
    id          text        PRIMARY KEY,
    source      text        NOT NULL,
    type        text        NOT NULL,
    version     text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    trace_key   text,
    platform    text,
    device_id   text,
    data        text        NOT NULL,
    buffered_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    batch       text,
    flushed_at  timestamptz
);
CREATE INDEX lake_buffer_unclaimed ON events.lake_buffer (buffered_at) WHERE batch IS NULL;
CREATE INDEX lake_buffer_unflushed ON events.lake_buffer (batch)
    WHERE batch IS NOT NULL AND flushed_at IS NULL;
CREATE INDEX lake_buffer_flushed_at ON events.lake_buffer (flushed_at) WHERE flushed_at IS NOT NULL;
CREATE SEQUENCE events.lake_batch_seq;

-- The realtime sink: recent events (searchable) and per-minute counts.
CREATE TABLE events.recent (
    id          text        PRIMARY KEY,
    source      text        NOT NULL,
    type        text        NOT NULL,
    version     text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    trace_key   text,
    platform    text,
    device_id   text,
    data        jsonb       NOT NULL
);
CREATE INDEX recent_received ON events.recent (received_at DESC, id DESC);
CREATE INDEX recent_type ON events.recent (type, received_at DESC, id DESC);
CREATE INDEX recent_device ON events.recent (device_id, received_at DESC, id DESC);

CREATE TABLE events.minute_counts (
    minute   timestamptz NOT NULL,
    source   text        NOT NULL,
    type     text        NOT NULL,
    platform text        NOT NULL DEFAULT '',
    count    bigint      NOT NULL,
    PRIMARY KEY (minute, source, type, platform)
);

GRANT USAGE ON SCHEMA events TO caudal_runtime;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA events TO caudal_runtime;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA events TO caudal_runtime;
