-- The audit trail: append-only, hash-chained, content sealed (AES-256-GCM). Purging old
-- content under the retention policy clears `sealed` only; hashes stay, so the chain and the
-- Merkle checkpoints remain verifiable.
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY,        -- 0, 1, 2, … without gaps
    recorded_ms INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    sealed      TEXT,                       -- NULL once purged
    leaf_hash   BLOB    NOT NULL,           -- RFC 6962 leaf hash of the canonical record
    chain_hash  BLOB    NOT NULL,           -- SHA-256(previous chain_hash ‖ leaf_hash)
    purged_ms   INTEGER
) STRICT;
CREATE INDEX audit_log_recorded ON audit_log (recorded_ms);

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_rewrite BEFORE UPDATE ON audit_log
WHEN NEW.seq IS NOT OLD.seq OR NEW.recorded_ms IS NOT OLD.recorded_ms OR NEW.kind IS NOT OLD.kind
  OR NEW.leaf_hash IS NOT OLD.leaf_hash OR NEW.chain_hash IS NOT OLD.chain_hash
  OR (NEW.sealed IS NOT NULL AND NEW.sealed IS NOT OLD.sealed)
BEGIN
    SELECT RAISE(ABORT, 'audit_log rows can only be purged, never rewritten');
END;

-- The head of the log, locked by each append.
CREATE TABLE audit_head (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    next_seq   INTEGER NOT NULL,
    last_chain BLOB    NOT NULL
) STRICT;
INSERT INTO audit_head (id, next_seq, last_chain) VALUES (1, 0, zeroblob(32));

-- Signed Merkle checkpoints (also written to the checkpoint directory, outside the database).
CREATE TABLE audit_checkpoint (
    size       INTEGER PRIMARY KEY,
    root       BLOB    NOT NULL,
    note       TEXT    NOT NULL,
    created_ms INTEGER NOT NULL
) STRICT;

-- Data keys, wrapped by the master key; shredded (wrapped = NULL) under the retention policy.
CREATE TABLE data_keys (
    kid         TEXT    PRIMARY KEY,
    class       TEXT    NOT NULL,
    period      TEXT    NOT NULL,
    wrapped     TEXT,
    master_kid  TEXT    NOT NULL,
    created_ms  INTEGER NOT NULL,
    shredded_ms INTEGER
) STRICT;
