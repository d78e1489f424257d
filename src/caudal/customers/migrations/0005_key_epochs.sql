-- Key epochs: every customer's data key is wrapped by the key of an epoch, whose material lives
-- in the KMS (platform/kms.py), never in PostgreSQL. Erasing a customer re-wraps the other data
-- keys of its epoch under a fresh epoch key and the application then destroys the old one, so
-- no copy of the erased customer's wrapped key (dead tuple, WAL, replica, backup) opens again.
--
-- A data key's `key_id` is the name of its epoch key in the KMS (`customers-epoch-...`); legacy
-- rows wrapped by a master key of the key file are moved into epochs at startup.
--
-- States: `pending` (created in its own committed transaction before its KMS key exists, so a
-- crash leaves a row the sweeper finds and destroys), `live` (holds keys), `retired` (its KMS key
-- is destroyed or about to be: the application destroys it right after the commit, the sweeper
-- again at every start).

CREATE TABLE base_a.key_epochs (
    id          text        PRIMARY KEY CHECK (id LIKE 'customers-epoch-%'),
    state       text        NOT NULL CHECK (state IN ('pending', 'live', 'retired')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    retired_at  timestamptz
);

-- The erasure log: one row per erasure or epoch re-key, outside Base A, without PII. It is what
-- `caudal customers reapply-erasures` replays after a backup restore: which customer (and CPF
-- token, to find its events) to erase again, and the epoch-mates' data keys as re-wrapped under
-- the new epoch (ciphertext only: useless without the KMS), so a restored backup opens them.
CREATE TABLE audit.erasures (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    erasure_id      uuid        NOT NULL UNIQUE,
    at              timestamptz NOT NULL DEFAULT now(),
    customer_id     uuid,                    -- NULL: a re-key without erasure (key rotation)
    cpf_index       bytea,                   -- the token the customer's events carry
    old_epoch       text,
    new_epoch       text,
    rekeyed_ids     uuid[]      NOT NULL DEFAULT '{}',
    rekeyed_wrapped bytea[]     NOT NULL DEFAULT '{}'
);
CREATE TRIGGER erasures_append_only BEFORE UPDATE OR DELETE ON audit.erasures
    FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();
CREATE TRIGGER erasures_no_truncate BEFORE TRUNCATE ON audit.erasures
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();
REVOKE ALL ON audit.erasures FROM PUBLIC;

-- A live epoch with room for one more data key (newest first), or NULL.
CREATE FUNCTION base_a.epoch_with_room(p_capacity integer) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT e.id FROM base_a.key_epochs e
     WHERE e.state = 'live'
       AND (SELECT count(*) FROM base_a.data_keys k WHERE k.key_id = e.id) < p_capacity
     ORDER BY e.created_at DESC, e.id DESC
     LIMIT 1
$$;

-- Step 1 of a new epoch (committed alone): the row exists before the KMS key does.
CREATE FUNCTION base_a.epoch_pending(p_id text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO base_a.key_epochs (id, state) VALUES (p_id, 'pending')
$$;

-- Step 2 for an epoch that takes new customers: its KMS key now exists.
CREATE FUNCTION base_a.epoch_activate(p_id text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    UPDATE base_a.key_epochs SET state = 'live' WHERE id = p_id AND state = 'pending'
$$;

-- Epochs whose KMS key must go: retired ones, and pending ones abandoned by a crash (older than
-- the grace period; a pending epoch in use is promoted within milliseconds). Marks the
-- abandoned ones retired.
CREATE FUNCTION base_a.epochs_to_destroy(p_grace interval) RETURNS SETOF text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE base_a.key_epochs SET state = 'retired', retired_at = now()
     WHERE id IN (SELECT id FROM base_a.key_epochs
                   WHERE state = 'pending' AND created_at < now() - p_grace
                     FOR UPDATE SKIP LOCKED);
    RETURN QUERY SELECT id FROM base_a.key_epochs WHERE state = 'retired' ORDER BY id;
END
$$;

-- New customers only get data keys under a live epoch; FOR SHARE waits for an erasure re-keying
-- that epoch and then refuses (serialization_failure: the caller retries with a fresh key), so no
-- key is ever stored under an epoch whose KMS key is being destroyed.
CREATE OR REPLACE FUNCTION base_a.customer_save(
    p_id uuid, p_cpf_index bytea, p_profile bytea, p_key_id text, p_wrapped bytea,
    p_tokens bytea[]
) RETURNS boolean  -- true when created
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    created boolean;
BEGIN
    INSERT INTO base_a.customers AS c (id, cpf_index, profile)
    VALUES (p_id, p_cpf_index, p_profile)
    ON CONFLICT (id) DO UPDATE
        SET cpf_index = excluded.cpf_index, profile = excluded.profile, updated_at = now()
        WHERE c.erased_at IS NULL
    RETURNING (xmax = 0) INTO created;
    IF created IS NULL THEN
        RAISE EXCEPTION 'customer % was erased', p_id USING ERRCODE = 'P0002';
    END IF;
    IF created THEN
        PERFORM 1 FROM base_a.key_epochs WHERE id = p_key_id AND state = 'live' FOR SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'key epoch % is not live', p_key_id
                USING ERRCODE = 'serialization_failure';
        END IF;
        INSERT INTO base_a.data_keys (customer_id, key_id, wrapped)
        VALUES (p_id, p_key_id, p_wrapped);
    END IF;
    DELETE FROM base_a.name_tokens WHERE customer_id = p_id;
    INSERT INTO base_a.name_tokens (token, customer_id)
    SELECT DISTINCT t, p_id FROM unnest(p_tokens) t;
    RETURN created;
END
$$;

-- Erasure, step 1: lock the customer and its epoch; return the epoch and the wrapped data keys
-- of every customer in it (the erased one included), which the caller re-wraps under a new
-- epoch. Bounded by CAUDAL_CUSTOMERS__EPOCH_CAPACITY. No row: nothing to erase.
CREATE FUNCTION base_a.customer_erase_begin(p_id uuid)
RETURNS TABLE (epoch text, customer_id uuid, wrapped bytea)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_epoch text;
BEGIN
    PERFORM 1 FROM base_a.customers c WHERE c.id = p_id AND c.erased_at IS NULL FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT k.key_id INTO v_epoch FROM base_a.data_keys k WHERE k.customer_id = p_id;
    IF v_epoch IS NULL OR v_epoch NOT LIKE 'customers-epoch-%' THEN
        -- no key, or a legacy master-wrapped one: nothing to re-key
        RETURN QUERY SELECT v_epoch, p_id, NULL::bytea;
        RETURN;
    END IF;
    PERFORM 1 FROM base_a.key_epochs e WHERE e.id = v_epoch FOR UPDATE;
    RETURN QUERY SELECT k.key_id, k.customer_id, k.wrapped FROM base_a.data_keys k
                  WHERE k.key_id = v_epoch ORDER BY k.customer_id;
END
$$;

-- Erasure, step 2 (same transaction): the epoch-mates' keys move to p_new (exactly the
-- epoch's other members, or it refuses), the old epoch is retired, the customer's key, name
-- tokens and profile go, and the erasure log gets its row. Returns the CPF index it had.
CREATE FUNCTION base_a.customer_erase_rekeyed(
    p_id uuid, p_old text, p_new text, p_ids uuid[], p_wrapped bytea[], p_erasure uuid
) RETURNS bytea
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    old_index bytea;
BEGIN
    SELECT cpf_index INTO old_index FROM base_a.customers
     WHERE id = p_id AND erased_at IS NULL FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF p_new IS NOT NULL THEN
        PERFORM base_a.epoch_rekey(p_old, p_new, p_id, p_ids, p_wrapped);
    END IF;
    DELETE FROM base_a.data_keys WHERE customer_id = p_id;
    DELETE FROM base_a.name_tokens WHERE customer_id = p_id;
    UPDATE base_a.customers
       SET cpf_index = NULL, profile = NULL, erased_at = now(), updated_at = now()
     WHERE id = p_id;
    INSERT INTO audit.erasures
        (erasure_id, customer_id, cpf_index, old_epoch, new_epoch, rekeyed_ids, rekeyed_wrapped)
    VALUES (p_erasure, p_id, old_index, p_old, p_new, coalesce(p_ids, '{}'),
            coalesce(p_wrapped, '{}'));
    RETURN old_index;
END
$$;

-- Move every key of epoch p_old except p_except's to p_new (pending -> live), retire p_old.
-- Not granted: called by customer_erase_rekeyed and, as the owner, by `caudal keys rotate`.
CREATE FUNCTION base_a.epoch_rekey(
    p_old text, p_new text, p_except uuid, p_ids uuid[], p_wrapped bytea[]
) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    moved integer;
    members integer;
BEGIN
    PERFORM 1 FROM base_a.key_epochs WHERE id = p_old AND state = 'live' FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'key epoch % is not live', p_old USING ERRCODE = 'serialization_failure';
    END IF;
    SELECT count(*) INTO members FROM base_a.data_keys
     WHERE key_id = p_old AND customer_id IS DISTINCT FROM p_except;
    UPDATE base_a.data_keys k
       SET key_id = p_new, wrapped = n.wrapped, rotated_at = now()
      FROM unnest(coalesce(p_ids, '{}'), coalesce(p_wrapped, '{}')) AS n(id, wrapped)
     WHERE k.customer_id = n.id AND k.key_id = p_old AND k.customer_id IS DISTINCT FROM p_except;
    GET DIAGNOSTICS moved = ROW_COUNT;
    IF moved <> members THEN
        RAISE EXCEPTION 'key epoch % changed while being re-keyed', p_old
            USING ERRCODE = 'serialization_failure';
    END IF;
    UPDATE base_a.key_epochs SET state = 'live' WHERE id = p_new AND state = 'pending';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'key epoch % is not pending', p_new USING ERRCODE = 'P0002';
    END IF;
    UPDATE base_a.key_epochs SET state = 'retired', retired_at = now() WHERE id = p_old;
END
$$;

-- The upgrade from master-key wrapping: a bounded batch of legacy keys, and their adoption by an
-- epoch (only if still legacy and unchanged).
CREATE FUNCTION base_a.legacy_data_keys(p_limit integer)
RETURNS TABLE (customer_id uuid, key_id text, wrapped bytea)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT k.customer_id, k.key_id, k.wrapped FROM base_a.data_keys k
     WHERE k.key_id NOT LIKE 'customers-epoch-%'
     ORDER BY k.customer_id LIMIT least(greatest(p_limit, 0), 500)
$$;

CREATE FUNCTION base_a.epoch_adopt(
    p_epoch text, p_ids uuid[], p_old_key_ids text[], p_wrapped bytea[]
) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    moved integer;
BEGIN
    PERFORM 1 FROM base_a.key_epochs WHERE id = p_epoch AND state = 'live' FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'key epoch % is not live', p_epoch USING ERRCODE = 'serialization_failure';
    END IF;
    UPDATE base_a.data_keys k
       SET key_id = p_epoch, wrapped = n.wrapped, rotated_at = now()
      FROM unnest(p_ids, p_old_key_ids, p_wrapped) AS n(id, old_key_id, wrapped)
     WHERE k.customer_id = n.id AND k.key_id = n.old_key_id;
    GET DIAGNOSTICS moved = ROW_COUNT;
    RETURN moved;
END
$$;

-- Erasure always re-keys now: the one-step function is for the owner only.
REVOKE EXECUTE ON FUNCTION base_a.customer_erase(uuid) FROM caudal_runtime;
REVOKE ALL ON FUNCTION
    base_a.epoch_with_room(integer),
    base_a.epoch_pending(text),
    base_a.epoch_activate(text),
    base_a.epochs_to_destroy(interval),
    base_a.customer_erase_begin(uuid),
    base_a.customer_erase_rekeyed(uuid, text, text, uuid[], bytea[], uuid),
    base_a.epoch_rekey(text, text, uuid, uuid[], bytea[]),
    base_a.legacy_data_keys(integer),
    base_a.epoch_adopt(text, uuid[], text[], bytea[])
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    base_a.epoch_with_room(integer),
    base_a.epoch_pending(text),
    base_a.epoch_activate(text),
    base_a.epochs_to_destroy(interval),
    base_a.customer_erase_begin(uuid),
    base_a.customer_erase_rekeyed(uuid, text, text, uuid[], bytea[], uuid),
    base_a.legacy_data_keys(integer),
    base_a.epoch_adopt(text, uuid[], text[], bytea[])
TO caudal_runtime;
