-- The durable bus: an append-only log of messages, consumer groups with committed offsets per
-- partition, leases so several workers share a group, and dead letters.
--
-- Ordering: a message's position is (xid, seq). `seq` comes from a sequence and commits out of
-- order; readers only read rows whose transaction is below the snapshot horizon
-- pg_snapshot_xmin(pg_current_snapshot()), so no row can later appear below a committed offset.
CREATE SCHEMA bus;

CREATE TABLE bus.messages (
    seq          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid          xid8        NOT NULL DEFAULT pg_current_xact_id(),
    topic        text        NOT NULL,
    key          text        NOT NULL,
    partition    integer     NOT NULL CHECK (partition >= 0),
    message_id   text        NOT NULL,
    payload      jsonb       NOT NULL,
    headers      jsonb       NOT NULL DEFAULT '{}',
    published_at timestamptz NOT NULL DEFAULT now()
);
-- Publishing the same message id twice stores it once (a retried publish is harmless).
CREATE UNIQUE INDEX messages_message_id ON bus.messages (message_id);
-- The read path: one partition of one topic after a position.
CREATE INDEX messages_read ON bus.messages (topic, partition, xid, seq);
CREATE INDEX messages_published_at ON bus.messages (published_at);

-- A consumer group, registered by its workers on start.
CREATE TABLE bus.groups (
    group_name  text        PRIMARY KEY,
    topics      text[]      NOT NULL,
    partitions  integer     NOT NULL CHECK (partitions > 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per (group, partition): the committed position, the lease, and retry state.
CREATE TABLE bus.offsets (
    group_name      text        NOT NULL REFERENCES bus.groups ON DELETE CASCADE,
    partition       integer     NOT NULL CHECK (partition >= 0),
    xid             xid8        NOT NULL DEFAULT '0',
    seq             bigint      NOT NULL DEFAULT 0,
    owner           text,
    lease_until     timestamptz,
    attempts        integer     NOT NULL DEFAULT 0,
    isolate_xid     xid8,
    isolate_seq     bigint,
    next_attempt_at timestamptz,
    last_error      text,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_name, partition)
);

-- Live workers of a group (heartbeats); partitions are shared fairly among them.
CREATE TABLE bus.members (
    group_name   text        NOT NULL REFERENCES bus.groups ON DELETE CASCADE,
    member_id    text        NOT NULL,
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_name, member_id)
);

-- Messages a group gave up on after the configured attempts, with the last error.
CREATE TABLE bus.dead_letters (
    id                   bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    group_name           text        NOT NULL,
    seq                  bigint      NOT NULL,
    xid                  xid8        NOT NULL,
    topic                text        NOT NULL,
    key                  text        NOT NULL,
    partition            integer     NOT NULL,
    message_id           text        NOT NULL,
    payload              jsonb       NOT NULL,
    headers              jsonb       NOT NULL,
    published_at         timestamptz NOT NULL,
    attempts             integer     NOT NULL,
    last_error           text        NOT NULL,
    failed_at            timestamptz NOT NULL DEFAULT now(),
    redrive_requested_at timestamptz,
    redriven_at          timestamptz,
    UNIQUE (group_name, seq)
);
CREATE INDEX dead_letters_pending ON bus.dead_letters (group_name)
    WHERE redriven_at IS NULL;

GRANT USAGE ON SCHEMA bus TO caudal_runtime;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA bus TO caudal_runtime;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA bus TO caudal_runtime;
