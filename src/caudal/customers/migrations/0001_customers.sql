-- Customers: Base A (PII, encrypted by the application), Base B (score data), Base C (activity),
-- and the append-only audit log. The application role (caudal_runtime) owns nothing here.
--
-- Base A is reached ONLY through SECURITY DEFINER functions: the role has no privilege on its
-- tables, so it cannot SELECT them in bulk, UPDATE without a key, or DELETE at all; every
-- function touches one customer (or one capped page) at a time. PII never reaches the database
-- in clear: `profile` is an AES-GCM blob under the customer's data key, CPF and name words are
-- HMAC blind indexes.

CREATE SCHEMA base_a;
CREATE SCHEMA base_b;
CREATE SCHEMA base_c;
CREATE SCHEMA audit;

CREATE TABLE base_a.customers (
    id          uuid        PRIMARY KEY,
    cpf_index   bytea       UNIQUE,          -- HMAC of the CPF digits; NULL once erased
    profile     bytea,                       -- sealed JSON of every PII field; NULL once erased
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    erased_at   timestamptz
);
CREATE INDEX customers_listing ON base_a.customers (created_at, id) WHERE erased_at IS NULL;

-- One data key per customer, wrapped by a master key (key_id). Deleting the row is erasure.
CREATE TABLE base_a.data_keys (
    customer_id uuid        PRIMARY KEY REFERENCES base_a.customers (id),
    key_id      text        NOT NULL,
    wrapped     bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    rotated_at  timestamptz
);
CREATE INDEX data_keys_by_key_id ON base_a.data_keys (key_id);

-- Blind-indexed words of the name (exact word, case- and accent-insensitive search).
CREATE TABLE base_a.name_tokens (
    token       bytea NOT NULL,
    customer_id uuid  NOT NULL REFERENCES base_a.customers (id),
    PRIMARY KEY (token, customer_id)
);
CREATE INDEX name_tokens_by_customer ON base_a.name_tokens (customer_id);

-- What the functions return: the encrypted row and its wrapped key.
CREATE TYPE base_a.sealed_customer AS (
    id          uuid,
    cpf_index   bytea,
    profile     bytea,
    key_id      text,
    wrapped     bytea,
    created_at  timestamptz,
    updated_at  timestamptz,
    erased_at   timestamptz
);

CREATE FUNCTION base_a.customer_get(p_id uuid) RETURNS SETOF base_a.sealed_customer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT c.id, c.cpf_index, c.profile, k.key_id, k.wrapped, c.created_at, c.updated_at,
           c.erased_at
      FROM base_a.customers c LEFT JOIN base_a.data_keys k ON k.customer_id = c.id
     WHERE c.id = p_id
$$;

CREATE FUNCTION base_a.customer_by_cpf(p_cpf_index bytea) RETURNS SETOF base_a.sealed_customer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT c.id, c.cpf_index, c.profile, k.key_id, k.wrapped, c.created_at, c.updated_at,
           c.erased_at
      FROM base_a.customers c LEFT JOIN base_a.data_keys k ON k.customer_id = c.id
     WHERE c.cpf_index = p_cpf_index
$$;

CREATE FUNCTION base_a.customer_id_by_cpf(p_cpf_index bytea) RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT id FROM base_a.customers WHERE cpf_index = p_cpf_index
$$;

-- One page (at most 100 rows) of live customers, optionally filtered by CPF index and by name
-- words (a customer must have every word). `total` is the count of all matches.
CREATE FUNCTION base_a.customer_search(
    p_cpf_index bytea, p_tokens bytea[], p_limit integer, p_offset integer
) RETURNS TABLE (
    id uuid, cpf_index bytea, profile bytea, key_id text, wrapped bytea,
    created_at timestamptz, updated_at timestamptz, erased_at timestamptz, total bigint
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH matches AS (
        SELECT c.id, c.created_at
          FROM base_a.customers c
         WHERE c.erased_at IS NULL
           AND (p_cpf_index IS NULL OR c.cpf_index = p_cpf_index)
           AND (cardinality(coalesce(p_tokens, '{}')) = 0 OR (
                SELECT count(DISTINCT t.token) FROM base_a.name_tokens t
                 WHERE t.customer_id = c.id AND t.token = ANY (p_tokens)
               ) = (SELECT count(DISTINCT u) FROM unnest(p_tokens) u))
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

-- Insert a new customer with its wrapped data key, or replace the sealed profile of one.
CREATE FUNCTION base_a.customer_save(
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
        INSERT INTO base_a.data_keys (customer_id, key_id, wrapped)
        VALUES (p_id, p_key_id, p_wrapped);
    END IF;
    DELETE FROM base_a.name_tokens WHERE customer_id = p_id;
    INSERT INTO base_a.name_tokens (token, customer_id)
    SELECT DISTINCT t, p_id FROM unnest(p_tokens) t;
    RETURN created;
END
$$;

-- Erasure (LGPD): destroy the data key (crypto-shredding) and every index of one customer.
-- Returns the CPF index it had (for the customers.erased event), NULL if already erased.
CREATE FUNCTION base_a.customer_erase(p_id uuid) RETURNS bytea
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    old_index bytea;
BEGIN
    SELECT cpf_index INTO old_index FROM base_a.customers
     WHERE id = p_id AND erased_at IS NULL FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    DELETE FROM base_a.data_keys WHERE customer_id = p_id;
    DELETE FROM base_a.name_tokens WHERE customer_id = p_id;
    UPDATE base_a.customers
       SET cpf_index = NULL, profile = NULL, erased_at = now(), updated_at = now()
     WHERE id = p_id;
    RETURN old_index;
END
$$;

REVOKE ALL ON ALL TABLES IN SCHEMA base_a FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA base_a FROM PUBLIC;
GRANT USAGE ON SCHEMA base_a TO caudal_runtime;
GRANT EXECUTE ON FUNCTION
    base_a.customer_get(uuid),
    base_a.customer_by_cpf(bytea),
    base_a.customer_id_by_cpf(bytea),
    base_a.customer_search(bytea, bytea[], integer, integer),
    base_a.customer_save(uuid, bytea, bytea, text, bytea, bytea[]),
    base_a.customer_erase(uuid)
TO caudal_runtime;

-- Base B: what the score needs beyond Base A. Keyed by customer; no name, no CPF.
CREATE TABLE base_b.score_data (
    customer_id     uuid        PRIMARY KEY,
    fontes_de_renda jsonb       NOT NULL DEFAULT '[]',
    bens            jsonb       NOT NULL DEFAULT '[]',
    updated_at      timestamptz NOT NULL DEFAULT now()
);
GRANT USAGE ON SCHEMA base_b TO caudal_runtime;
GRANT SELECT, INSERT, UPDATE, DELETE ON base_b.score_data TO caudal_runtime;

-- Base C: one row per CPF index with the latest of each kind, plus the timeline.
CREATE TABLE base_c.activity (
    cpf_index           bytea       PRIMARY KEY,
    ultima_consulta     jsonb,
    ultima_consulta_at  timestamptz,
    ultima_consulta_id  text,
    movimentacao        jsonb,
    movimentacao_at     timestamptz,
    movimentacao_id     text,
    ultima_compra       jsonb,
    ultima_compra_at    timestamptz,
    ultima_compra_id    text,
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE base_c.events (
    event_id    text        PRIMARY KEY,
    cpf_index   bytea       NOT NULL,
    type        text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    data        jsonb       NOT NULL,
    stored_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_timeline ON base_c.events (cpf_index, occurred_at DESC, event_id DESC);
GRANT USAGE ON SCHEMA base_c TO caudal_runtime;
GRANT SELECT, INSERT, UPDATE, DELETE ON base_c.activity, base_c.events TO caudal_runtime;

-- The audit log: append-only for everyone (the role may only INSERT and SELECT; a trigger
-- refuses UPDATE, DELETE and TRUNCATE even for the owner). It records facts, never PII.
CREATE TABLE audit.log (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    subject     text        NOT NULL,
    action      text        NOT NULL,
    customer_id uuid,
    trace_key   text,
    detail      jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX log_by_customer ON audit.log (customer_id, id);
CREATE INDEX log_by_subject ON audit.log (subject, id);

CREATE FUNCTION audit.refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit.log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER log_append_only BEFORE UPDATE OR DELETE ON audit.log
    FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();
CREATE TRIGGER log_no_truncate BEFORE TRUNCATE ON audit.log
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();

REVOKE ALL ON audit.log FROM PUBLIC;
GRANT USAGE ON SCHEMA audit TO caudal_runtime;
GRANT SELECT, INSERT ON audit.log TO caudal_runtime;
