-- The erasure barrier records each erasure at its own time (the `customers.erased` notice's
-- received_at, set by the server; audit.erasures.at on a re-apply), never when it is handled
-- (again): a notice handled again (a replay of the group, a redelivery) or a re-applied log moves
-- nothing back. `handled_at` is when this erasure was first handled: the copies whose store knows
-- only when they were written (Base C, the PostgreSQL bus) go if written before it; any written
-- after passed the barrier, so are newer than the erasure (a customer registered again since).
ALTER TABLE events.erased_tokens ADD COLUMN handled_at timestamptz;
UPDATE events.erased_tokens SET handled_at = at;
ALTER TABLE events.erased_tokens
    ALTER COLUMN handled_at SET NOT NULL,
    ALTER COLUMN handled_at SET DEFAULT clock_timestamp();
