-- Quarantined payloads sealed at rest (events/quarantine_seal.py): the clear `payload` column
-- is emptied; `sealed` holds the payload under a per-entry key, `wrapped_key` that key under the
-- day key `key_epoch` of the KMS (destroyed after the TTL), `tokens` the CPF tokens it holds
-- (so an erasure finds a customer's entries without opening them). Rows from before this
-- migration are sealed by the events retention worker, a batch at a time.
ALTER TABLE events.quarantine
    ALTER COLUMN payload DROP NOT NULL,
    ADD COLUMN sealed      bytea,
    ADD COLUMN wrapped_key bytea,
    ADD COLUMN key_epoch   text,
    ADD COLUMN tokens      text[] NOT NULL DEFAULT '{}';
CREATE INDEX quarantine_tokens ON events.quarantine USING gin (tokens);
CREATE INDEX quarantine_unsealed ON events.quarantine (id) WHERE payload IS NOT NULL;
