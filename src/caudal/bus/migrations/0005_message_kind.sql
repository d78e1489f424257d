-- The kind of a message, written by its publisher: the payload's top-level `source`, `type` and
-- `version` when all three are strings (a canonical event's; `bus.model.message_kind`), else
-- NULL. A consumer group with a kind filter (`KindFilter`, the `fetch_kinds` query) compares these
-- columns instead of parsing every payload it scans: reading the kind out of the `json` payload
-- in the fetch cost ~8 µs of PostgreSQL CPU per row and group (bench/profiles/README.md, "kind
-- filter"). A NULL kind (another shape, or a row published before this migration) is taken by
-- every group, whose handler decides.
--
-- Nullable columns without a default: PostgreSQL adds them without rewriting the table.
ALTER TABLE bus.messages
    ADD COLUMN kind_source text,
    ADD COLUMN kind_type text,
    ADD COLUMN kind_version text;
