-- Set-based lookup of customer ids by CPF blind index (the customers.activity sink resolves a
-- whole batch of bureau queries in one call to invalidate their cached scores).
CREATE FUNCTION base_a.customer_ids_by_cpf(p_cpf_indexes bytea[])
RETURNS TABLE (cpf_index bytea, id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT c.cpf_index, c.id FROM base_a.customers c WHERE c.cpf_index = ANY (p_cpf_indexes)
$$;
REVOKE ALL ON FUNCTION base_a.customer_ids_by_cpf(bytea[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION base_a.customer_ids_by_cpf(bytea[]) TO caudal_runtime;
