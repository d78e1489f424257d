-- When the intake received each Base C event (the canonical event's `received_at`): an erasure
-- removes only the events received before it (+ the barrier's margin, as the barrier drops:
-- events/erasure_barrier.py), so a customer registered again with the same CPF between the
-- erasure and its (asynchronous) first handling keeps the new data. `stored_at` could not tell:
-- the new customer's events are stored before that handling too. NULL for the rows stored
-- before this migration: those go if stored before the erasure was first handled, as before.
-- A nullable column without a default: PostgreSQL adds it without rewriting the table.
ALTER TABLE base_c.events ADD COLUMN received_at timestamptz;
