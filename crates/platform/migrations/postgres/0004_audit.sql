-- The audit trail (art. 25): one hash chain per bureau, append-only, with signed checkpoints.
CREATE TABLE audit_log (
    bureau_id  TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT,
    detail     TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL,
    PRIMARY KEY (bureau_id, seq)
);

CREATE INDEX audit_log_by_target ON audit_log (bureau_id, target);

CREATE TABLE audit_checkpoints (
    bureau_id  TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    hash       TEXT NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    signature  TEXT NOT NULL,
    PRIMARY KEY (bureau_id, seq)
);

-- Whatever role the services connect as, rows of the trail can be added, never changed or
-- taken away. (A superuser can disable triggers; the hash chain and the signed checkpoints
-- are what catch that.)
CREATE FUNCTION custodian_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME;
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION custodian_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION custodian_append_only();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION custodian_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION custodian_append_only();
