-- Browser sessions of the dashboard. The cookie holds a random value that is never stored:
-- the row is keyed by a hash of it, and the login token is sealed (AES-GCM) with a key derived
-- from it, so a copy of this table alone opens no session and reveals no token.
CREATE SCHEMA web;

CREATE TABLE web.sessions (
    id           text        PRIMARY KEY,
    subject      text        NOT NULL,
    scopes       text[]      NOT NULL,
    token_nonce  bytea       NOT NULL,
    token_sealed bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);

CREATE INDEX sessions_expires_at_idx ON web.sessions (expires_at);

GRANT USAGE ON SCHEMA web TO caudal_runtime;
GRANT SELECT, INSERT, DELETE ON web.sessions TO caudal_runtime;
