-- The erasure barrier (events/erasure_barrier.py): when each CPF token was last erased, so that
-- no sink writes a copy of an event received before that erasure, whatever it fetched, held,
-- cached or had redelivered before. One row per token (a second erasure moves `at`); the token
-- is the CPF's keyed blind index, as in audit.erasures and the `customers.erased` message.
CREATE TABLE events.erased_tokens (
    token text        PRIMARY KEY,
    at    timestamptz NOT NULL
);
CREATE INDEX erased_tokens_at ON events.erased_tokens (at);

-- A sink's gate, called inside its write: the shared barrier lock (held to the end of the
-- writer's transaction: an erasure, which takes it exclusively to record its tokens before it
-- deletes, waits for the write to commit), then the tokens erased after `since` with their
-- erasure time. VOLATILE, so the SELECT takes its own snapshot after the lock is granted: it
-- sees every erasure that committed before, even when the calling statement's snapshot is
-- older. NULL when none (the common case: an index probe that finds nothing).
CREATE FUNCTION events.erased_since(since timestamptz) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(1701994867);  -- events/erasure_barrier_postgres.py: LOCK
    RETURN (SELECT jsonb_object_agg(token, at) FROM events.erased_tokens WHERE at > since);
END
$$;

REVOKE ALL ON FUNCTION events.erased_since(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION events.erased_since(timestamptz) TO caudal_runtime;
GRANT SELECT, INSERT, UPDATE, DELETE ON events.erased_tokens TO caudal_runtime;
