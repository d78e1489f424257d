-- Message payloads and headers as `json` (the text as published, validated) instead of `jsonb`.
-- No reader of the bus looks inside a payload in SQL on the hot path: every consumer group's
-- fetch reads `payload::text` and decodes it in Python. With `jsonb`, a publish converted every
-- payload to jsonb's binary form and every group's fetch rendered it back to text; `json` keeps
-- the text, so the fetch copies it out as it is: 4.8 -> 2.1 µs of PostgreSQL CPU per row and
-- group read, the publish as cheap as before, rows ~9 % smaller (bench/bus_row_ab.py,
-- bench/profiles/README.md, branch `ingest`). What `jsonb` refused and `json` would keep, a NUL character (`\u0000`), the publish
-- refuses itself (bus/json_text.py): sinks and dead letters write payloads as jsonb.
--
-- UPGRADE NOTE: ALTER COLUMN TYPE rewrites `bus.messages` and `bus.outbox` (and their indexes)
-- under an ACCESS EXCLUSIVE lock: publishing and consuming wait until it ends (13 s for
-- 1,000,000 events on a loaded 2-core machine). Run `caudal migrate` when the log is short
-- (after retention), or expect that pause (docs/operations.md, "Upgrading").
ALTER TABLE bus.messages ALTER COLUMN headers DROP DEFAULT;
ALTER TABLE bus.messages
    ALTER COLUMN payload TYPE json USING payload::json,
    ALTER COLUMN headers TYPE json USING headers::json;
ALTER TABLE bus.messages ALTER COLUMN headers SET DEFAULT '{}';

ALTER TABLE bus.outbox ALTER COLUMN headers DROP DEFAULT;
ALTER TABLE bus.outbox
    ALTER COLUMN payload TYPE json USING payload::json,
    ALTER COLUMN headers TYPE json USING headers::json;
ALTER TABLE bus.outbox ALTER COLUMN headers SET DEFAULT '{}';
