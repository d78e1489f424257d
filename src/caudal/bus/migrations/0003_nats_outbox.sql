-- The outbox of the NATS JetStream bus adapter (CAUDAL_BUS__BACKEND=nats): `publish(conn=...)`
-- writes here in the caller's transaction; the relay (bus/nats_relay.py) forwards committed rows
-- to JetStream in (xid, seq) order, below the snapshot horizon like the PostgreSQL bus readers,
-- and deletes them once JetStream has stored them. Empty when the backend is `postgres`.
CREATE TABLE bus.outbox (
    seq          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid          xid8        NOT NULL DEFAULT pg_current_xact_id(),
    topic        text        NOT NULL,
    key          text        NOT NULL,
    message_id   text        NOT NULL,
    payload      jsonb       NOT NULL,
    headers      jsonb       NOT NULL DEFAULT '{}',
    published_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_order ON bus.outbox (xid, seq);

GRANT SELECT, INSERT, DELETE ON bus.outbox TO caudal_runtime;
