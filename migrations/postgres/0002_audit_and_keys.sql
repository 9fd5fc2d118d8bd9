-- The audit trail: append-only, hash-chained, content sealed (AES-256-GCM). Purging old
-- content under the retention policy clears `sealed` only; hashes stay, so the chain and the
-- Merkle checkpoints remain verifiable.
CREATE TABLE audit_log (
    seq         BIGINT PRIMARY KEY,         -- 0, 1, 2, … without gaps
    recorded_ms BIGINT NOT NULL,
    kind        TEXT   NOT NULL,
    sealed      TEXT,                       -- NULL once purged
    leaf_hash   BYTEA  NOT NULL,            -- RFC 6962 leaf hash of the canonical record
    chain_hash  BYTEA  NOT NULL,            -- SHA-256(previous chain_hash ‖ leaf_hash)
    purged_ms   BIGINT
);
CREATE INDEX audit_log_recorded ON audit_log (recorded_ms);

CREATE FUNCTION audit_log_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'audit_log is append-only';
    END IF;
    IF NEW.seq IS DISTINCT FROM OLD.seq OR NEW.recorded_ms IS DISTINCT FROM OLD.recorded_ms
       OR NEW.kind IS DISTINCT FROM OLD.kind OR NEW.leaf_hash IS DISTINCT FROM OLD.leaf_hash
       OR NEW.chain_hash IS DISTINCT FROM OLD.chain_hash
       OR (NEW.sealed IS NOT NULL AND NEW.sealed IS DISTINCT FROM OLD.sealed) THEN
        RAISE EXCEPTION 'audit_log rows can only be purged, never rewritten';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_guard();

-- The head of the log, locked by each append.
CREATE TABLE audit_head (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    next_seq   BIGINT NOT NULL,
    last_chain BYTEA  NOT NULL
);
INSERT INTO audit_head (id, next_seq, last_chain) VALUES (1, 0, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);

-- Signed Merkle checkpoints (also written to the checkpoint directory, outside the database).
CREATE TABLE audit_checkpoint (
    size       BIGINT PRIMARY KEY,
    root       BYTEA  NOT NULL,
    note       TEXT   NOT NULL,
    created_ms BIGINT NOT NULL
);

-- Data keys, wrapped by the master key; shredded (wrapped = NULL) under the retention policy.
CREATE TABLE data_keys (
    kid         TEXT   PRIMARY KEY,
    class       TEXT   NOT NULL,
    period      TEXT   NOT NULL,
    wrapped     TEXT,
    master_kid  TEXT   NOT NULL,
    created_ms  BIGINT NOT NULL,
    shredded_ms BIGINT
);
