-- The daily user-carts analysis in DuckDB SQL. The rules are documented in docs/pipelines.md.
--
-- Every source stages the same two tables, then the transform works on them alone:
--   cart_lines(cart_key VARCHAR, user_id BIGINT, cart_ts TIMESTAMP (UTC), product_id BIGINT,
--              quantity BIGINT, price DECIMAL(15,2) NULL: the line's own price, if it has one)
--   products(product_id BIGINT, category VARCHAR, price DECIMAL(15,2))
-- and optionally source_users(user_id BIGINT) when the source lists its users.

-- name: stage_fakestore_carts
CREATE TEMP TABLE cart_lines AS
WITH carts AS (
    SELECT id, userId, "date", unnest(products) AS line
    FROM read_json($path, format = 'array', columns = {
        id: 'BIGINT', userId: 'BIGINT', "date": 'VARCHAR',
        products: 'STRUCT(productId BIGINT, quantity BIGINT)[]'
    })
)
SELECT
    CAST(id AS VARCHAR)                                    AS cart_key,
    userId                                                 AS user_id,
    CAST(TRY_CAST("date" AS TIMESTAMPTZ) AS TIMESTAMP)     AS cart_ts,
    line.productId                                         AS product_id,
    line.quantity                                          AS quantity,
    CAST(NULL AS DECIMAL(15, 2))                           AS price
FROM carts;

-- name: stage_fakestore_products
CREATE TEMP TABLE products AS
SELECT DISTINCT ON (id) id AS product_id, category, price
FROM read_json($path, format = 'array', columns = {
    id: 'BIGINT', category: 'VARCHAR', price: 'DECIMAL(15,2)'
})
ORDER BY id;

-- name: stage_fakestore_users
CREATE TEMP TABLE source_users AS
SELECT DISTINCT id AS user_id
FROM read_json($path, format = 'array', columns = {id: 'BIGINT'})
WHERE id IS NOT NULL;

-- name: bronze_users
-- Users are kept in the lake as ids only: the analysis needs no more, and the lake must not hold
-- FakeStore's e-mails, phones, addresses or passwords.
SELECT id FROM read_json($path, format = 'array', columns = {id: 'BIGINT'});

-- name: stage_lake_events
-- add_to_cart frontend events (see the lake contract in docs/pipelines.md); a redelivered event
-- (same id) counts once. Without a cartId, a user's lines of one UTC day form one cart.
CREATE TEMP TABLE cart_lines AS
WITH events AS (
    SELECT id, occurred_at, data
    FROM read_parquet($glob, hive_partitioning = true, union_by_name = true)
    WHERE type = 'add_to_cart' AND CAST(dt AS DATE) <= $day
    QUALIFY row_number() OVER (PARTITION BY id ORDER BY received_at) = 1
)
SELECT
    coalesce(
        json_extract_string(data, '$.cartId'),
        json_extract_string(data, '$.userId') || '@' || CAST(CAST(occurred_at AS DATE) AS VARCHAR)
    )                                                                   AS cart_key,
    TRY_CAST(json_extract_string(data, '$.userId') AS BIGINT)          AS user_id,
    CAST(occurred_at AS TIMESTAMP)                                      AS cart_ts,
    TRY_CAST(json_extract_string(data, '$.productId') AS BIGINT)       AS product_id,
    TRY_CAST(json_extract_string(data, '$.quantity') AS BIGINT)        AS quantity,
    TRY_CAST(json_extract_string(data, '$.price') AS DECIMAL(15, 2))   AS price
FROM events;

-- name: empty_cart_lines
CREATE TEMP TABLE cart_lines (
    cart_key VARCHAR, user_id BIGINT, cart_ts TIMESTAMP, product_id BIGINT, quantity BIGINT,
    price DECIMAL(15, 2)
);

-- name: included_lines
-- The lines the run covers: every cart line dated before the end of the run date ($end, UTC).
-- Lines without a usable date stay in, so that the quality gate reports them.
CREATE TEMP TABLE lines AS
SELECT
    l.cart_key, l.user_id, l.cart_ts, l.product_id, l.quantity, p.category,
    coalesce(l.price, p.price) AS price
FROM cart_lines AS l
LEFT JOIN products AS p ON p.product_id = l.product_id
WHERE l.cart_ts IS NULL OR l.cart_ts < $end;

-- name: check_user_not_null
SELECT count(*), list(DISTINCT cart_key ORDER BY cart_key)[1:5]
FROM lines WHERE user_id IS NULL;

-- name: check_user_known
SELECT count(*), list(DISTINCT CAST(user_id AS VARCHAR) ORDER BY CAST(user_id AS VARCHAR))[1:5]
FROM lines WHERE user_id IS NOT NULL AND user_id NOT IN (SELECT user_id FROM source_users);

-- name: check_date_valid
SELECT count(*), list(DISTINCT cart_key ORDER BY cart_key)[1:5]
FROM lines WHERE cart_ts IS NULL;

-- name: check_product_known
SELECT count(*), list(DISTINCT coalesce(CAST(product_id AS VARCHAR), 'null') ORDER BY 1)[1:5]
FROM lines WHERE category IS NULL;

-- name: check_category_known
SELECT count(*), list(DISTINCT category ORDER BY category)[1:5]
FROM lines
WHERE category IS NOT NULL AND category NOT IN (SELECT category FROM known_categories);

-- name: check_quantity_positive
SELECT count(*), list(DISTINCT cart_key ORDER BY cart_key)[1:5]
FROM lines WHERE quantity IS NULL OR quantity <= 0;

-- name: check_price_present
SELECT count(*), list(DISTINCT coalesce(CAST(product_id AS VARCHAR), 'null') ORDER BY 1)[1:5]
FROM lines WHERE category IS NOT NULL AND price IS NULL;

-- name: user_carts
-- One row per user. top_category: the category with the most units across the user's lines;
-- a tie goes to the category added most recently (latest cart timestamp), then alphabetical.
CREATE TEMP TABLE user_carts AS
WITH per_category AS (
    SELECT user_id, category, sum(quantity) AS quantity, max(cart_ts) AS last_added
    FROM lines
    GROUP BY user_id, category
),
top_category AS (
    SELECT user_id, category
    FROM per_category
    QUALIFY row_number() OVER (
        PARTITION BY user_id ORDER BY quantity DESC, last_added DESC, category ASC
    ) = 1
),
per_user AS (
    SELECT
        user_id,
        CAST(max(cart_ts) AS DATE)                   AS last_cart_date,
        CAST(sum(quantity) AS BIGINT)                AS total_quantity,
        count(DISTINCT cart_key)                     AS carts,
        count(DISTINCT product_id)                   AS distinct_products,
        CAST(sum(quantity * price) AS DECIMAL(15, 2)) AS cart_value
    FROM lines
    GROUP BY user_id
)
SELECT
    u.user_id, u.last_cart_date, t.category AS top_category, u.total_quantity, u.carts,
    u.distinct_products, u.cart_value
FROM per_user AS u
JOIN top_category AS t USING (user_id)
ORDER BY u.user_id;

-- name: warehouse_create
CREATE TABLE IF NOT EXISTS wh.user_carts (
    dt                DATE          NOT NULL,
    user_id           BIGINT        NOT NULL,
    last_cart_date    DATE          NOT NULL,
    top_category      VARCHAR       NOT NULL,
    total_quantity    BIGINT        NOT NULL,
    carts             BIGINT        NOT NULL,
    distinct_products BIGINT        NOT NULL,
    cart_value        DECIMAL(15, 2) NOT NULL,
    run_id            VARCHAR       NOT NULL,
    PRIMARY KEY (dt, user_id)
);

-- name: warehouse_delete
DELETE FROM wh.user_carts WHERE dt = $dt;

-- name: warehouse_insert
INSERT INTO wh.user_carts
SELECT
    $dt, user_id, last_cart_date, top_category, total_quantity, carts, distinct_products,
    cart_value, $run_id
FROM read_parquet($path);
