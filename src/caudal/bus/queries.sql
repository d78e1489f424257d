-- Named queries of the PostgreSQL bus adapter (bus/postgres.py). Parameters are psycopg's.

-- name: publish
-- One round trip per batch: insert every row. The batch is one JSON array of {topic, key,
-- partition, id, payload, headers, ks, kt, kv} objects, in publish order, read in one pass;
-- payloads and headers go into their `json` columns as the text they are; the kind (source,
-- type, version; absent: NULL) is the publisher's `message_kind`. `queries.publish_statement`
-- adds what stores a retried id once (`ON CONFLICT (message_id) DO NOTHING`), or leaves it out
-- where a duplicate id can fail the statement alone, and wraps it to notify listening workers.
INSERT INTO bus.messages (topic, key, partition, message_id, payload, headers,
                          kind_source, kind_type, kind_version)
SELECT r.topic, r.key, r.partition, r.id, r.payload, r.headers, r.ks, r.kt, r.kv
FROM ROWS FROM (json_to_recordset(%(rows)s::json)
                AS (topic text, key text, partition int, id text, payload json, headers json,
                    ks text, kt text, kv text))
     WITH ORDINALITY AS r(topic, key, partition, id, payload, headers, ks, kt, kv, n)
ORDER BY r.n

-- name: register_group
INSERT INTO bus.groups (group_name, topics, partitions)
VALUES (%(group)s, %(topics)s, %(partitions)s)
ON CONFLICT (group_name) DO UPDATE
SET topics = EXCLUDED.topics, partitions = EXCLUDED.partitions, updated_at = now()

-- name: create_offsets
INSERT INTO bus.offsets (group_name, partition)
SELECT %(group)s, p FROM generate_series(0, %(partitions)s - 1) AS p
ON CONFLICT DO NOTHING

-- name: heartbeat
-- Keep this member alive, renew its leases, forget members that stopped beating; returns the
-- live members in join order (the order every member derives its share from) and the
-- partitions this member still holds.
WITH beat AS (
    INSERT INTO bus.members (group_name, member_id) VALUES (%(group)s, %(member)s)
    ON CONFLICT (group_name, member_id) DO UPDATE SET heartbeat_at = now()
    RETURNING member_id, joined_at
), gone AS (
    DELETE FROM bus.members
    WHERE group_name = %(group)s AND member_id <> %(member)s
      AND heartbeat_at < now() - make_interval(secs => %(lease)s)
), renewed AS (
    UPDATE bus.offsets SET lease_until = now() + make_interval(secs => %(lease)s)
    WHERE group_name = %(group)s AND owner = %(member)s
    RETURNING partition
), live AS (
    SELECT member_id, joined_at FROM beat
    UNION ALL
    SELECT member_id, joined_at FROM bus.members
    WHERE group_name = %(group)s AND member_id <> %(member)s
      AND heartbeat_at >= now() - make_interval(secs => %(lease)s)
)
SELECT (SELECT array_agg(member_id ORDER BY joined_at, member_id) FROM live) AS members,
       coalesce((SELECT array_agg(partition) FROM renewed), '{}') AS partitions

-- name: members_moved
-- Tell the group's members (every process) to rebalance now: partitions were released, or a
-- member joined short of its share (bus/postgres_consumer.py, `rebalance`).
SELECT pg_notify('caudal_bus', %(topic)s)

-- name: release
UPDATE bus.offsets SET owner = NULL, lease_until = NULL
WHERE group_name = %(group)s AND owner = %(member)s AND partition = ANY(%(partitions)s)

-- name: claim
-- Take up to `count` partitions that nobody holds (released, or whose lease expired: a dead
-- member's), lowest first. SKIP LOCKED: two members claiming at once take different ones.
UPDATE bus.offsets SET owner = %(member)s, lease_until = now() + make_interval(secs => %(lease)s)
WHERE (group_name, partition) IN (
    SELECT group_name, partition FROM bus.offsets
    WHERE group_name = %(group)s AND owner IS DISTINCT FROM %(member)s
      AND (owner IS NULL OR lease_until IS NULL OR lease_until < now())
    ORDER BY partition
    LIMIT %(count)s
    FOR UPDATE SKIP LOCKED
)
RETURNING partition

-- name: leave
WITH released AS (
    UPDATE bus.offsets SET owner = NULL, lease_until = NULL
    WHERE group_name = %(group)s AND owner = %(member)s
)
DELETE FROM bus.members WHERE group_name = %(group)s AND member_id = %(member)s

-- name: fetch
-- The next positions of every partition this member holds and may work on now. Only rows whose
-- transaction is below the snapshot horizon are read: every transaction that could still commit
-- a position below them has finished, so nothing can appear later behind a committed offset.
-- A partition in isolation (after a failed batch) delivers one record at a time. One ordered
-- index range per (partition, topic), so a long backlog costs no more than a short one.
-- No payload here: every group of a worker reads the same messages, and the process decodes
-- each once (bus/message_cache.py); `fetch_messages` reads those this process has not seen.
-- `held_*`: partitions whose next positions another group of the process read lately
-- (bus/fetched_runs.py), with the position the member expects there (`xid`, `seq`), the last
-- position it holds after it (`last_xid`, `last_seq`) and how many more it may take (`more`):
-- when the stored position is the expected one, the partition is read from that last position
-- on, for that many rows (`held` true); otherwise from the stored position, as any other.
SELECT o.partition, o.xid::text AS from_xid, o.seq AS from_seq, o.attempts,
       o.isolate_xid IS NOT NULL AS isolated, h.partition IS NOT NULL AS held,
       m.xids, m.seqs, m.message_ids, m.published_ats
FROM bus.offsets AS o
LEFT JOIN unnest(%(held_partitions)s::int[], %(held_xids)s::xid8[], %(held_seqs)s::bigint[],
                 %(held_last_xids)s::xid8[], %(held_last_seqs)s::bigint[], %(held_more)s::int[])
     AS h(partition, xid, seq, last_xid, last_seq, more)
     ON h.partition = o.partition AND h.xid = o.xid AND h.seq = o.seq
-- One row per partition, its positions as arrays (in order): no partition columns repeated per
-- position, and the client reads four arrays instead of a row per position.
LEFT JOIN LATERAL (
    SELECT array_agg(m.xid::text ORDER BY m.xid, m.seq) AS xids,
           array_agg(m.seq ORDER BY m.xid, m.seq) AS seqs,
           array_agg(m.message_id ORDER BY m.xid, m.seq) AS message_ids,
           array_agg(m.published_at ORDER BY m.xid, m.seq) AS published_ats
    FROM (
        SELECT m.* FROM unnest(%(topics)s::text[]) AS t(topic)
        CROSS JOIN LATERAL (
            SELECT m.seq, m.xid, m.message_id, m.published_at
            FROM bus.messages AS m
            WHERE m.topic = t.topic AND m.partition = o.partition
              AND (m.xid, m.seq) > (coalesce(h.last_xid, o.xid), coalesce(h.last_seq, o.seq))
              AND m.xid < pg_snapshot_xmin(pg_current_snapshot())
            ORDER BY m.xid, m.seq
            LIMIT CASE WHEN o.isolate_xid IS NOT NULL THEN 1 ELSE coalesce(h.more, %(limit)s) END
        ) AS m
        ORDER BY m.xid, m.seq
        LIMIT CASE WHEN o.isolate_xid IS NOT NULL THEN 1 ELSE coalesce(h.more, %(limit)s) END
    ) AS m
) AS m ON true
WHERE o.group_name = %(group)s AND o.owner = %(member)s
  AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= now())
  AND (m.seqs IS NOT NULL OR h.partition IS NOT NULL)
ORDER BY o.partition

-- name: fetch_kinds
-- `fetch` for a group with a kind filter (bus/kind_sql.py): per partition, a window of up to
-- `scan` positions is read on the same index range; the group gets only the rows its filter
-- takes (`wanted`), the first `limit` of them, and, when fewer are in the window, the window's
-- last row (`wanted` false) if it is not one of them: the member commits to it, so what was
-- left out was passed once and for all. A row's kind is in its `kind_*` columns (written by the
-- publisher: bus migration 0005), so no payload is parsed here; a row without one is always taken
-- (its handler decides). A filter on types alone (`by` 'type': names, 'type_like': patterns;
-- bus/kind_sql.py) is one `= ANY` / `LIKE ANY` per row, not a join of the alternatives (CASE
-- runs only the branch `by` names). `nth` and `last` count rows (a ROWS frame, cheaper than
-- the default RANGE one, which looks for peers: (xid, seq) has none). `full`: the window held
-- `scan` positions, so more may follow it (the member then reads again without lingering).
SELECT o.partition, o.xid::text AS from_xid, o.seq AS from_seq, o.attempts,
       o.isolate_xid IS NOT NULL AS isolated,
       w.seq, w.xid::text AS xid, w.message_id, w.published_at, w.wanted,
       w.scanned >= %(scan)s AS full
FROM bus.offsets AS o
CROSS JOIN LATERAL (
    SELECT s.*,
           count(*) FILTER (WHERE s.wanted) OVER w AS nth,
           lead(s.seq) OVER w IS NULL AS last,
           count(*) OVER () AS scanned,
           CASE WHEN o.isolate_xid IS NOT NULL THEN 1 ELSE %(limit)s END AS take
    FROM (
        SELECT m.* FROM unnest(%(topics)s::text[]) AS t(topic)
        CROSS JOIN LATERAL (
            SELECT m.seq, m.xid, m.message_id, m.published_at,
                   m.kind_source IS NULL OR m.kind_type IS NULL OR m.kind_version IS NULL
                   OR CASE %(by)s::text
                      WHEN 'type' THEN m.kind_type = ANY(%(types)s::text[])
                      WHEN 'type_like' THEN m.kind_type LIKE ANY(%(types)s::text[])
                      ELSE EXISTS (
                          SELECT FROM unnest(%(sources)s::text[], %(types)s::text[],
                                             %(versions)s::text[]) AS f(source, type, version)
                          WHERE (f.source IS NULL OR m.kind_source LIKE f.source)
                            AND (f.type IS NULL OR m.kind_type LIKE f.type)
                            AND (f.version IS NULL OR m.kind_version = f.version))
                      END AS wanted
            FROM bus.messages AS m
            WHERE m.topic = t.topic AND m.partition = o.partition
              AND (m.xid, m.seq) > (o.xid, o.seq)
              AND m.xid < pg_snapshot_xmin(pg_current_snapshot())
            ORDER BY m.xid, m.seq
            LIMIT %(scan)s
        ) AS m
        ORDER BY m.xid, m.seq
        LIMIT %(scan)s
    ) AS s
    WINDOW w AS (ORDER BY s.xid, s.seq ROWS UNBOUNDED PRECEDING)
) AS w
WHERE o.group_name = %(group)s AND o.owner = %(member)s
  AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= now())
  AND (w.wanted AND w.nth <= w.take OR w.last AND NOT w.wanted AND w.nth < w.take)
ORDER BY o.partition, w.xid, w.seq

-- name: fetch_messages
-- The messages of the fetched positions that this process has not decoded yet. One that is gone
-- meanwhile was erased (bus/erasure.py): it is not delivered, as if it had never been fetched.
SELECT m.seq, m.topic, m.key, m.message_id, m.payload::text AS payload,
       m.headers::text AS headers
FROM bus.messages AS m
WHERE m.seq = ANY(%(seqs)s::bigint[])

-- name: commit
-- Advance partitions after a successful delivery. Compare-and-set on the position read, so a
-- replay (or a lost lease) in the meantime wins; returns the partitions actually advanced.
UPDATE bus.offsets AS o
SET xid = v.xid, seq = v.seq, next_attempt_at = NULL, last_error = NULL,
    -- still inside a failed batch: the next record was attempted once already, in that batch
    attempts = CASE WHEN (v.xid, v.seq) < (o.isolate_xid, o.isolate_seq) THEN 1 ELSE 0 END,
    isolate_xid = CASE WHEN (v.xid, v.seq) >= (o.isolate_xid, o.isolate_seq)
                       THEN NULL ELSE o.isolate_xid END,
    isolate_seq = CASE WHEN (v.xid, v.seq) >= (o.isolate_xid, o.isolate_seq)
                       THEN NULL ELSE o.isolate_seq END,
    updated_at = now()
FROM unnest(%(partitions)s::int[], %(from_xids)s::xid8[], %(from_seqs)s::bigint[],
            %(xids)s::xid8[], %(seqs)s::bigint[])
     AS v(partition, from_xid, from_seq, xid, seq)
WHERE o.group_name = %(group)s AND o.partition = v.partition AND o.owner = %(member)s
  AND o.xid = v.from_xid AND o.seq = v.from_seq
RETURNING o.partition

-- name: fail
-- A delivery failed: count the attempt, isolate the records up to the end of the failed batch
-- (they are retried one by one), and wait before the next attempt.
UPDATE bus.offsets AS o
SET attempts = o.attempts + 1,
    isolate_xid = coalesce(o.isolate_xid, v.last_xid),
    isolate_seq = coalesce(o.isolate_seq, v.last_seq),
    next_attempt_at = now() + make_interval(secs => v.delay),
    last_error = %(error)s,
    updated_at = now()
FROM unnest(%(partitions)s::int[], %(from_xids)s::xid8[], %(from_seqs)s::bigint[],
            %(last_xids)s::xid8[], %(last_seqs)s::bigint[], %(delays)s::float8[])
     AS v(partition, from_xid, from_seq, last_xid, last_seq, delay)
WHERE o.group_name = %(group)s AND o.partition = v.partition AND o.owner = %(member)s
  AND o.xid = v.from_xid AND o.seq = v.from_seq

-- name: dead_letter
-- Give up on one record: keep it with its last error and move the partition past it.
WITH moved AS (
    UPDATE bus.offsets AS o
    SET xid = %(xid)s::xid8, seq = %(seq)s, next_attempt_at = NULL, last_error = NULL,
        attempts = CASE WHEN (%(xid)s::xid8, %(seq)s::bigint) < (o.isolate_xid, o.isolate_seq)
                        THEN 1 ELSE 0 END,
        isolate_xid = CASE WHEN (%(xid)s::xid8, %(seq)s::bigint) >= (o.isolate_xid, o.isolate_seq)
                           THEN NULL ELSE o.isolate_xid END,
        isolate_seq = CASE WHEN (%(xid)s::xid8, %(seq)s::bigint) >= (o.isolate_xid, o.isolate_seq)
                           THEN NULL ELSE o.isolate_seq END,
        updated_at = now()
    WHERE o.group_name = %(group)s AND o.partition = %(partition)s AND o.owner = %(member)s
      AND o.xid = %(from_xid)s::xid8 AND o.seq = %(from_seq)s
    RETURNING o.partition
)
INSERT INTO bus.dead_letters (group_name, seq, xid, topic, key, partition, message_id, payload,
                              headers, published_at, attempts, last_error)
SELECT %(group)s, %(seq)s, %(xid)s::xid8, %(topic)s, %(key)s, %(partition)s, %(message_id)s,
       %(payload)s::jsonb, %(headers)s::jsonb, %(published_at)s, %(attempts)s, %(error)s
FROM moved
ON CONFLICT (group_name, seq) DO UPDATE
SET attempts = EXCLUDED.attempts, last_error = EXCLUDED.last_error, failed_at = now(),
    redrive_requested_at = NULL, redriven_at = NULL
RETURNING id

-- name: redrive_pending
-- Dead letters an operator asked to deliver again, on the partitions this member holds.
SELECT d.id, d.seq, d.topic, d.key, d.message_id, d.payload::text AS payload,
       d.headers::text AS headers, d.published_at, d.attempts
FROM bus.dead_letters AS d
JOIN bus.offsets AS o ON o.group_name = d.group_name AND o.partition = d.partition
WHERE d.group_name = %(group)s AND o.owner = %(member)s
  AND d.redrive_requested_at IS NOT NULL AND d.redriven_at IS NULL
ORDER BY d.id
LIMIT %(limit)s

-- name: redrive_done
UPDATE bus.dead_letters SET redriven_at = now() WHERE id = %(id)s

-- name: redrive_failed
UPDATE bus.dead_letters
SET redrive_requested_at = NULL, attempts = attempts + 1, last_error = %(error)s, failed_at = now()
WHERE id = %(id)s

-- name: group_lag
-- Messages after the group's positions: index ranges per (partition, topic), O(lag).
SELECT coalesce(sum(p.pending), 0)::bigint
FROM bus.offsets AS o
JOIN bus.groups AS g ON g.group_name = o.group_name
CROSS JOIN LATERAL unnest(g.topics) AS t(topic)
CROSS JOIN LATERAL (
    SELECT count(*) AS pending FROM bus.messages AS m
    WHERE m.topic = t.topic AND m.partition = o.partition AND (m.xid, m.seq) > (o.xid, o.seq)
) AS p
WHERE o.group_name = %(group)s

-- name: status
WITH pending AS (
    SELECT o.group_name, sum(p.pending) AS lag, min(p.first_at) AS oldest
    FROM bus.offsets AS o
    JOIN bus.groups AS g ON g.group_name = o.group_name
    CROSS JOIN LATERAL unnest(g.topics) AS t(topic)
    CROSS JOIN LATERAL (
        SELECT count(*) AS pending,
               (SELECT f.published_at FROM bus.messages AS f
                WHERE f.topic = t.topic AND f.partition = o.partition
                  AND (f.xid, f.seq) > (o.xid, o.seq)
                ORDER BY f.xid, f.seq LIMIT 1) AS first_at
        FROM bus.messages AS m
        WHERE m.topic = t.topic AND m.partition = o.partition AND (m.xid, m.seq) > (o.xid, o.seq)
    ) AS p
    GROUP BY o.group_name
)
SELECT g.group_name AS "group", g.topics, g.partitions,
       (SELECT count(*) FROM bus.offsets AS o
        WHERE o.group_name = g.group_name AND o.owner IS NOT NULL AND o.lease_until >= now())
           AS owned,
       (SELECT count(*) FROM bus.members AS mb
        WHERE mb.group_name = g.group_name
          AND mb.heartbeat_at >= now() - make_interval(secs => %(lease)s)) AS members,
       coalesce(p.lag, 0)::bigint AS lag,
       (SELECT count(*) FROM bus.dead_letters AS d
        WHERE d.group_name = g.group_name AND d.redriven_at IS NULL) AS dead_letters,
       (SELECT count(*) FROM bus.offsets AS o
        WHERE o.group_name = g.group_name AND o.last_error IS NOT NULL) AS retrying,
       (SELECT o.last_error FROM bus.offsets AS o
        WHERE o.group_name = g.group_name AND o.last_error IS NOT NULL
        ORDER BY o.updated_at DESC LIMIT 1) AS last_error,
       p.oldest AS oldest_pending_at
FROM bus.groups AS g
LEFT JOIN pending AS p ON p.group_name = g.group_name
ORDER BY g.group_name

-- name: set_positions
-- Replay: put partitions at the given positions and clear their retry state.
UPDATE bus.offsets AS o
SET xid = v.xid, seq = v.seq, attempts = 0, isolate_xid = NULL, isolate_seq = NULL,
    next_attempt_at = NULL, last_error = NULL, updated_at = now()
FROM unnest(%(partitions)s::int[], %(xids)s::xid8[], %(seqs)s::bigint[]) AS v(partition, xid, seq)
WHERE o.group_name = %(group)s AND o.partition = v.partition

-- name: first_positions
-- Per partition of the group: the position just before its first message matching the target
-- (seq >= offset, or published at/after a time), or its head (last message) when none matches.
SELECT o.partition,
       coalesce(f.xid, h.xid, o.xid)::text AS xid,
       coalesce(f.seq - 1, h.seq, o.seq) AS seq
FROM bus.offsets AS o
JOIN bus.groups AS g ON g.group_name = o.group_name
LEFT JOIN LATERAL (
    SELECT m.xid, m.seq FROM bus.messages AS m
    WHERE m.partition = o.partition AND m.topic = ANY(g.topics)
      AND (%(offset)s::bigint IS NULL OR m.seq >= %(offset)s::bigint)
      AND (%(since)s::timestamptz IS NULL OR m.published_at >= %(since)s::timestamptz)
      AND m.xid < pg_snapshot_xmin(pg_current_snapshot())
    ORDER BY m.xid, m.seq LIMIT 1
) AS f ON true
LEFT JOIN LATERAL (
    SELECT m.xid, m.seq FROM bus.messages AS m
    WHERE m.partition = o.partition AND m.topic = ANY(g.topics)
      AND m.xid < pg_snapshot_xmin(pg_current_snapshot())
    ORDER BY m.xid DESC, m.seq DESC LIMIT 1
) AS h ON true
WHERE o.group_name = %(group)s
ORDER BY o.partition

-- name: dead_letters
SELECT id, group_name AS "group", seq, topic, key, message_id, payload::text AS payload,
       headers::text AS headers, attempts, last_error, published_at, failed_at,
       redrive_requested_at IS NOT NULL AS redrive_requested
FROM bus.dead_letters
WHERE redriven_at IS NULL AND (%(group)s::text IS NULL OR group_name = %(group)s::text)
ORDER BY id
LIMIT %(limit)s

-- name: request_redrive
UPDATE bus.dead_letters SET redrive_requested_at = now()
WHERE redriven_at IS NULL
  AND (%(group)s::text IS NULL OR group_name = %(group)s::text)
  AND (cardinality(%(ids)s::bigint[]) = 0 OR id = ANY(%(ids)s::bigint[]))

-- name: retention
-- Delete up to `limit` messages older than the retention that every group reading their topic
-- has consumed (dead letters keep their own copy).
DELETE FROM bus.messages
WHERE seq IN (
    SELECT m.seq FROM bus.messages AS m
    WHERE m.published_at < now() - make_interval(secs => %(seconds)s)
      AND NOT EXISTS (
          SELECT 1 FROM bus.groups AS g
          JOIN bus.offsets AS o ON o.group_name = g.group_name AND o.partition = m.partition
          WHERE m.topic = ANY(g.topics) AND (m.xid, m.seq) > (o.xid, o.seq))
    ORDER BY m.published_at
    LIMIT %(limit)s
)

-- name: drop_group
-- Forget a consumer group (its offsets and members; its dead letters stay for inspection).
DELETE FROM bus.groups WHERE group_name = %(group)s

-- name: retention_dead_letters
-- Re-driven dead letters are kept as long as messages, then forgotten.
DELETE FROM bus.dead_letters
WHERE redriven_at IS NOT NULL AND redriven_at < now() - make_interval(secs => %(seconds)s)
