-- Base C: the `/clientes/{cpf}/consultar` body rendered when the projection writes the row, so
-- the lookup returns stored text instead of building JSON from three jsonb columns on every
-- read (bench/profiles/README.md: ~16 µs of PostgreSQL per request).
--
-- The rendering is this one function, used by the trigger below and by the read for a row
-- still without its body. A trigger rather than a column in the upsert: every writer of the
-- row, whatever its version (an older worker during a rolling upgrade), leaves a body that
-- matches the columns. The column is added without a default (no table rewrite, no long lock);
-- rows projected before this migration get their body on their next write and are rendered at
-- read until then, with the same bytes. The body holds nothing the columns do not (no CPF):
-- erasure deletes the row, and the body with it.
ALTER TABLE base_c.activity ADD COLUMN consulta text;

-- Seed 002's shape, byte for byte what the read built before: the blocks' fields in order,
-- money as a JSON number, json_build_object's own spacing.
CREATE FUNCTION base_c.consulta_body(a base_c.activity) RETURNS text
LANGUAGE sql STABLE AS $$
SELECT json_build_object(
    'ultima_consulta', CASE WHEN a.ultima_consulta IS NULL THEN NULL ELSE json_build_object(
        'empresa', a.ultima_consulta->'empresa',
        'data_consulta', a.ultima_consulta->'data_consulta',
        'tipo_empresa', a.ultima_consulta->'tipo_empresa') END,
    'movimentacao_financeira', CASE WHEN a.movimentacao IS NULL THEN NULL ELSE json_build_object(
        'tipo_movimentacao', a.movimentacao->'tipo_movimentacao',
        'data_movimentacao', a.movimentacao->'data_movimentacao',
        'valor', (a.movimentacao->>'valor')::numeric,
        'descricao', a.movimentacao->'descricao') END,
    'ultima_compra', CASE WHEN a.ultima_compra IS NULL THEN NULL ELSE json_build_object(
        'data_compra', a.ultima_compra->'data_compra',
        'valor', (a.ultima_compra->>'valor')::numeric,
        'bandeira_cartao', a.ultima_compra->'bandeira_cartao',
        'produto', a.ultima_compra->'produto',
        'tipo', a.ultima_compra->'tipo',
        'codigo_transacao', a.ultima_compra->'codigo_transacao') END
)::text
$$;

CREATE FUNCTION base_c.render_consulta() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.consulta := base_c.consulta_body(NEW);
    RETURN NEW;
END
$$;

CREATE TRIGGER activity_consulta BEFORE INSERT OR UPDATE ON base_c.activity
    FOR EACH ROW EXECUTE FUNCTION base_c.render_consulta();
