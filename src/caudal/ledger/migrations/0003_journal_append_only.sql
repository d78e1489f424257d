-- The journal is append-only, as the audit log is: a posted transaction is corrected by a new
-- entry (a reversal), never rewritten. No code updates or deletes it, so the application role
-- loses UPDATE, and a trigger refuses UPDATE, DELETE and TRUNCATE even for the owner.
REVOKE UPDATE, DELETE, TRUNCATE ON ledger.transaction FROM caudal_runtime;

CREATE FUNCTION ledger.refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger.transaction is append-only: post a reversal instead'
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER transaction_append_only BEFORE UPDATE OR DELETE ON ledger.transaction
    FOR EACH ROW EXECUTE FUNCTION ledger.refuse_change();
CREATE TRIGGER transaction_no_truncate BEFORE TRUNCATE ON ledger.transaction
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_change();
