-- When the intake received the event a bus message carries (a canonical event's `received_at`),
-- for the erasure's deletes (bus/erasure.py): a message received before the erasure (+ the
-- barrier's margin) goes, a newer one (a customer registered again with the same CPF before the
-- erasure was first handled) stays. NULL when the payload is not a canonical event or its time
-- does not parse: the erasure then falls back to the publication time. Called only on the rows
-- that hold an erased token (never on the read or publish path), so the exception block's
-- subtransaction is paid per erased row.
CREATE FUNCTION bus.received_at(payload json) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (payload->>'received_at')::timestamptz;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;
