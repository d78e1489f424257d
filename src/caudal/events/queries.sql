-- Named queries of the events domain. Parameters are psycopg's.

-- name: schemas_all
SELECT type, version, source, description, schema FROM events.schemas ORDER BY created_at

-- name: schemas_stamp
SELECT count(*), max(created_at) FROM events.schemas

-- name: schema_insert
INSERT INTO events.schemas (type, version, source, description, schema, created_by)
VALUES (%(type)s, %(version)s, %(source)s, %(description)s, %(schema)s, %(created_by)s)
ON CONFLICT (type, version) DO NOTHING
RETURNING type

-- name: idempotency_claim
-- Inserted: this request is the first with its key. No row: a retry (or a concurrent twin,
-- which this statement waits for) got here first; the caller rolls back and answers its body.
INSERT INTO events.idempotency (subject, key, route, request_hash, status, response)
VALUES (%(subject)s, %(key)s, %(route)s, %(hash)s, %(status)s, %(response)s)
ON CONFLICT (subject, key) DO NOTHING
RETURNING 1

-- name: idempotency_get
SELECT route, request_hash, status, response
FROM events.idempotency
WHERE subject = %(subject)s AND key = %(key)s

-- name: idempotency_purge
DELETE FROM events.idempotency WHERE created_at < now() - make_interval(secs => %(seconds)s)

-- name: quarantine_insert
-- The payload is sealed (events/quarantine_seal.py): `payload` stays NULL. Behind the erasure
-- barrier (events/erasure_barrier.py): an entry holding a token erased since it was received
-- (less the margin) is not kept; the gate is NULL in the common case.
WITH erased AS MATERIALIZED (
    -- by the entries' own tokens (primary key lookups): bounded after a mass erasure too
    SELECT coalesce(events.erased_since(
        %(received_at)s - %(margin)s::interval,
        ARRAY(SELECT jsonb_array_elements_text(x::jsonb) FROM unnest(%(tokens)s::text[]) x)
    ), '{}') AS tokens
)
INSERT INTO events.quarantine
    (id, received_at, source, type, version, reason, code, message, field, trace_key, subject,
     sealed, wrapped_key, key_epoch, tokens)
SELECT id, %(received_at)s, source, type, version, reason, code, message, field,
       %(trace_key)s, %(subject)s, sealed, wrapped_key, key_epoch,
       coalesce((SELECT array_agg(x) FROM jsonb_array_elements_text(tokens) x), '{}')
FROM unnest(
    %(ids)s::uuid[], %(sources)s::text[], %(types)s::text[], %(versions)s::text[],
    %(reasons)s::text[], %(codes)s::text[], %(messages)s::text[], %(fields)s::text[],
    %(sealed)s::bytea[], %(wrapped_keys)s::bytea[], %(key_epochs)s::text[],
    %(tokens)s::text[]::jsonb[]
) AS t(id, source, type, version, reason, code, message, field, sealed, wrapped_key, key_epoch,
       tokens)
WHERE (SELECT tokens FROM erased) = '{}'
   OR NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(t.tokens) x
                   WHERE (SELECT tokens FROM erased) ? x)

-- name: quarantine_pending
SELECT id, received_at, source, payload, trace_key, subject, key_epoch, wrapped_key, sealed
FROM events.quarantine
WHERE replayed_at IS NULL AND (%(type)s::text IS NULL OR type = %(type)s)
ORDER BY received_at, id
LIMIT %(limit)s

-- name: quarantine_sealed_payload
SELECT payload, key_epoch, wrapped_key, sealed, source, type, version
FROM events.quarantine WHERE id = %(id)s

-- name: quarantine_unsealed
-- Rows stored in clear before payloads were sealed, a batch at a time.
SELECT id, payload::text FROM events.quarantine WHERE payload IS NOT NULL
ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED

-- name: quarantine_seal_row
UPDATE events.quarantine
SET payload = NULL, sealed = %(sealed)s, wrapped_key = %(wrapped_key)s, key_epoch = %(key_epoch)s,
    tokens = %(tokens)s, cpf_indexed = true
WHERE id = %(id)s

-- name: quarantine_unindexed
-- Entries sealed before their payload's CPFs were indexed (migration 0008), a batch at a time.
SELECT id, key_epoch, wrapped_key, sealed FROM events.quarantine
WHERE NOT cpf_indexed AND payload IS NULL
ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED

-- name: quarantine_add_tokens
UPDATE events.quarantine
SET tokens = ARRAY(SELECT DISTINCT x FROM unnest(tokens || %(tokens)s::text[]) x ORDER BY 1),
    cpf_indexed = true
WHERE id = %(id)s

-- name: quarantine_update_failure
UPDATE events.quarantine
SET reason = %(reason)s, code = %(code)s, message = %(message)s, field = %(field)s
WHERE id = %(id)s

-- name: quarantine_mark_replayed
UPDATE events.quarantine SET replayed_at = now(), event_id = %(event_id)s
WHERE id = %(id)s AND replayed_at IS NULL

-- name: realtime_rows
-- A fragment of `realtime_insert` and `realtime_write` (`-- include:`): the batch's rows into
-- events.recent, after the erasure barrier's gate (events/erasure_barrier.py), CTE `erased`,
-- which runs once, before the first row is inserted: the rows go in only if it is what the
-- caller filtered them by (`expected`; NULL, the common case, when no erasure concerns the
-- batch). Otherwise nothing is written and the caller filters and writes again.
INSERT INTO events.recent
    (id, source, type, version, occurred_at, received_at, trace_key, platform, device_id, data)
SELECT r->>0, r->>1, r->>2, r->>3, (r->>4)::timestamptz, (r->>5)::timestamptz, r->>6,
       r->>7, r->>8, r->9
-- one JSON array of rows (sinks/rows.py), or none: the gate is checked once, not per row
FROM jsonb_array_elements(CASE WHEN (SELECT tokens FROM erased)
                                    IS NOT DISTINCT FROM %(expected)s::jsonb
                               THEN %(rows)s::jsonb END) AS r

-- name: realtime_insert
-- The common case (sinks/realtime.py): a batch none of whose events is stored yet. A plain
-- INSERT (no conflict arbiter per row), and the batch's per-minute counts summed by the worker
-- (`minutes`... `counts`, one element per minute and kind) upserted in the same statement, once
-- every row is in (the scalar subquery runs first, to the end of `fresh`) and only if the rows
-- went in (not when the gate refused the batch): counts never run ahead of rows. A stored event
-- in the batch (a redelivery) fails the whole statement on `recent_pkey`, so nothing is written
-- or counted, and the caller writes the batch with `realtime_write`.
WITH erased AS MATERIALIZED (SELECT events.erased_since(%(since)s, %(among)s::text[]) AS tokens),
fresh AS (
    -- include: realtime_rows
    RETURNING 1
),
counted AS (
    INSERT INTO events.minute_counts AS c (minute, source, type, platform, count)
    SELECT * FROM unnest(%(minutes)s::timestamptz[], %(sources)s::text[], %(types)s::text[],
                         %(platforms)s::text[], %(counts)s::bigint[])
    WHERE (SELECT count(*) FROM fresh) > 0
    ORDER BY 1, 2, 3, 4  -- one lock order for every writer, `realtime_write`'s: no deadlock
    ON CONFLICT (minute, source, type, platform) DO UPDATE SET count = c.count + excluded.count
)
SELECT tokens FROM erased

-- name: realtime_write
-- Idempotent on the event id: only newly stored events are counted (a redelivered batch, after
-- `realtime_insert` refused it). Returns the erasure barrier's gate, as `realtime_insert` does.
WITH erased AS MATERIALIZED (SELECT events.erased_since(%(since)s, %(among)s::text[]) AS tokens),
fresh AS (
    -- include: realtime_rows
    ON CONFLICT (id) DO NOTHING
    RETURNING source, type, platform, received_at
),
counted AS (
    INSERT INTO events.minute_counts AS c (minute, source, type, platform, count)
    SELECT date_trunc('minute', received_at), source, type, coalesce(platform, ''), count(*)
    FROM fresh
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4  -- one lock order for every writer: no deadlock between workers
    ON CONFLICT (minute, source, type, platform) DO UPDATE SET count = c.count + excluded.count
)
SELECT tokens FROM erased

-- name: realtime_purge_events
DELETE FROM events.recent WHERE received_at < now() - make_interval(secs => %(seconds)s)

-- name: realtime_purge_counts
DELETE FROM events.minute_counts WHERE minute < now() - make_interval(secs => %(seconds)s)
