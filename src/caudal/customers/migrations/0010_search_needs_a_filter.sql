-- Least privilege for Base A's search: the application role may find customers by CPF or by
-- name words, never page through all of them (with their wrapped keys). The search keeps its
-- query (0003) under another name the role cannot call; the function it calls checks first:
-- no filter, or a page outside 1-100 rows, is refused.
ALTER FUNCTION base_a.customer_search(bytea, bytea[], integer, integer)
    RENAME TO customer_search_unchecked;
REVOKE ALL ON FUNCTION base_a.customer_search_unchecked(bytea, bytea[], integer, integer)
    FROM PUBLIC, caudal_runtime;

CREATE FUNCTION base_a.customer_search(
    p_cpf_index bytea, p_tokens bytea[], p_limit integer, p_offset integer
) RETURNS TABLE (
    id uuid, cpf_index bytea, profile bytea, key_id text, wrapped bytea,
    created_at timestamptz, updated_at timestamptz, erased_at timestamptz, total bigint
)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_cpf_index IS NULL AND cardinality(coalesce(p_tokens, '{}')) = 0 THEN
        RAISE EXCEPTION 'base_a.customer_search needs a CPF or a name filter'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 100 OR p_offset IS NULL OR p_offset < 0 THEN
        RAISE EXCEPTION 'base_a.customer_search pages 1 to 100 rows'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
        SELECT * FROM base_a.customer_search_unchecked(p_cpf_index, p_tokens, p_limit, p_offset);
END
$$;
REVOKE ALL ON FUNCTION base_a.customer_search(bytea, bytea[], integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION base_a.customer_search(bytea, bytea[], integer, integer)
    TO caudal_runtime;
