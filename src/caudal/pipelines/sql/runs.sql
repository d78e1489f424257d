-- PostgreSQL: the run history (pipelines.runs) and the warehouse table (pipelines.user_carts).

-- name: insert_run
INSERT INTO pipelines.runs (id, pipeline, run_date, trigger, source, status, requested_by)
VALUES (%(id)s, %(pipeline)s, %(run_date)s, %(trigger)s, %(source)s, 'running', %(requested_by)s)
RETURNING id, pipeline, run_date, trigger, source, status, rows, started_at, finished_at,
          duration_ms, outputs, error, requested_by;

-- name: finish_run
UPDATE pipelines.runs
SET status = %(status)s, rows = %(rows)s, finished_at = now(),
    duration_ms = %(duration_ms)s, outputs = %(outputs)s, error = %(error)s
WHERE id = %(id)s
RETURNING id, pipeline, run_date, trigger, source, status, rows, started_at, finished_at,
          duration_ms, outputs, error, requested_by;

-- name: abandon_stale
-- Called while holding the date's advisory lock: a run still 'running' is then a dead process's.
UPDATE pipelines.runs
SET status = 'abandoned', finished_at = now(),
    error = '{"code": "CAU-PIPELINES-ABANDONED", "message": "the process running it stopped"}'
WHERE pipeline = %(pipeline)s AND run_date = %(run_date)s AND status = 'running';

-- name: scheduled_run_exists
SELECT EXISTS (
    SELECT 1 FROM pipelines.runs
    WHERE pipeline = %(pipeline)s AND run_date = %(run_date)s
      AND trigger = 'schedule' AND status <> 'abandoned'
);

-- name: get_run
SELECT id, pipeline, run_date, trigger, source, status, rows, started_at, finished_at,
       duration_ms, outputs, error, requested_by
FROM pipelines.runs WHERE id = %(id)s;

-- name: list_runs
SELECT id, pipeline, run_date, trigger, source, status, rows, started_at, finished_at,
       duration_ms, outputs, error, requested_by
FROM pipelines.runs
WHERE (%(pipeline)s::text IS NULL OR pipeline = %(pipeline)s)
  AND (%(status)s::text IS NULL OR status = %(status)s)
ORDER BY started_at DESC, id
LIMIT %(limit)s;

-- name: warehouse_stage
CREATE TEMP TABLE staged_user_carts (
    user_id bigint, last_cart_date date, top_category text, total_quantity bigint, carts bigint,
    distinct_products bigint, cart_value numeric(15,2)
) ON COMMIT DROP;

-- name: warehouse_copy
COPY staged_user_carts FROM STDIN (FORMAT csv, HEADER true);

-- name: warehouse_delete
DELETE FROM pipelines.user_carts WHERE dt = %(dt)s;

-- name: warehouse_insert
INSERT INTO pipelines.user_carts (
    dt, user_id, last_cart_date, top_category, total_quantity, carts, distinct_products,
    cart_value, run_id
)
SELECT %(dt)s, user_id, last_cart_date, top_category, total_quantity, carts, distinct_products,
       cart_value, %(run_id)s
FROM staged_user_carts;
