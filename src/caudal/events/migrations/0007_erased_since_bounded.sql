-- The writers' gate, bounded (events/erasure_barrier.py): a mass erasure (thousands of tokens
-- within a batch's window) would hand every sink write all of them. Beyond 256 it answers
-- "many", and the writer asks again with its batch's candidate tokens (`among`: the 64-hex
-- windows of its data), looked up by primary key. The lock and snapshot are as before (0005).
DROP FUNCTION events.erased_since(timestamptz);
CREATE FUNCTION events.erased_since(since timestamptz, among text[] DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(1701994867);  -- events/erasure_barrier_postgres.py: LOCK
    -- one index probe that finds nothing, in the common case (ORDER BY: by the index on `at`,
    -- never a scan of the table that LIMIT would make look cheaper to the generic plan)
    IF among IS NULL THEN
        RETURN (SELECT CASE WHEN count(*) > 256 THEN '"many"'::jsonb  -- erasure_barrier_postgres.MANY
                            ELSE jsonb_object_agg(token, at) END
                  FROM (SELECT token, at FROM events.erased_tokens WHERE at > since ORDER BY at LIMIT 257) x);
    END IF;
    -- by primary key (OFFSET 0: never by the index on `at`, which would walk the whole erasure)
    RETURN (SELECT jsonb_object_agg(token, at)
              FROM (SELECT token, at FROM events.erased_tokens WHERE token = ANY(among) OFFSET 0) x
             WHERE at > since);
END
$$;

REVOKE ALL ON FUNCTION events.erased_since(timestamptz, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION events.erased_since(timestamptz, text[]) TO caudal_runtime;
