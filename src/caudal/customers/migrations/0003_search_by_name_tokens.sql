-- Name search driven by the name-token index: the customers having every wanted word are found
-- through base_a.name_tokens' primary key (token, customer_id) instead of a correlated count per
-- customer. Same signature, same results.
CREATE OR REPLACE FUNCTION base_a.customer_search(
    p_cpf_index bytea, p_tokens bytea[], p_limit integer, p_offset integer
) RETURNS TABLE (
    id uuid, cpf_index bytea, profile bytea, key_id text, wrapped bytea,
    created_at timestamptz, updated_at timestamptz, erased_at timestamptz, total bigint
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH wanted AS (
        SELECT DISTINCT u AS token FROM unnest(coalesce(p_tokens, '{}')) u
    ), named AS (
        SELECT t.customer_id
          FROM base_a.name_tokens t JOIN wanted w ON w.token = t.token
         GROUP BY t.customer_id
        HAVING count(*) = (SELECT count(*) FROM wanted)
    ), matches AS (
        SELECT c.id, c.created_at
          FROM base_a.customers c
         WHERE c.erased_at IS NULL
           AND (p_cpf_index IS NULL OR c.cpf_index = p_cpf_index)
           AND (NOT EXISTS (SELECT 1 FROM wanted) OR c.id IN (SELECT customer_id FROM named))
    ), counted AS (
        SELECT count(*) AS total FROM matches
    ), page AS (
        SELECT m.id FROM matches m ORDER BY m.created_at, m.id
         LIMIT least(greatest(p_limit, 0), 100) OFFSET greatest(p_offset, 0)
    )
    SELECT c.id, c.cpf_index, c.profile, k.key_id, k.wrapped, c.created_at, c.updated_at,
           c.erased_at, counted.total
      FROM counted
      LEFT JOIN page ON true
      LEFT JOIN base_a.customers c ON c.id = page.id
      LEFT JOIN base_a.data_keys k ON k.customer_id = c.id
     ORDER BY c.created_at, c.id
$$;
