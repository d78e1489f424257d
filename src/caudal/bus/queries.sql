-- Named queries of the PostgreSQL bus adapter (bus/postgres.py). Parameters are psycopg's.

-- name: publish
-- One round trip per batch: insert every row (a retried id is stored once) and notify the
-- listening workers of the topics written (delivered when the transaction commits).
WITH ins AS (
    INSERT INTO bus.messages (topic, key, partition, message_id, payload, headers)
    SELECT * FROM unnest(
        %(topics)s::text[], %(keys)s::text[], %(partitions)s::int[], %(ids)s::text[],
        %(payloads)s::text[]::jsonb[], %(headers)s::text[]::jsonb[]
    )
    ON CONFLICT (message_id) DO NOTHING
    RETURNING topic
)
SELECT pg_notify('caudal_bus', topic) FROM (SELECT DISTINCT topic FROM ins) AS t
