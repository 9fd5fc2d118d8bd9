-- Key/value entries with optional expiry: single-use values (launch, state, codes),
-- replay guards (jti) and small caches when Redis is not configured.
CREATE TABLE kv (
    ns         TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    value      BLOB    NOT NULL,
    expires_at INTEGER,            -- unix milliseconds; NULL = never
    PRIMARY KEY (ns, key)
) STRICT;
CREATE INDEX kv_expires ON kv (expires_at) WHERE expires_at IS NOT NULL;

-- Every request the sandbox EHR's FHIR API received (sandbox only; synthetic data).
CREATE TABLE sandbox_journal (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms     INTEGER NOT NULL,
    tenant    TEXT    NOT NULL,
    method    TEXT    NOT NULL,
    path      TEXT    NOT NULL,
    query     TEXT,
    status    INTEGER NOT NULL,
    kind      TEXT    NOT NULL,
    client_id TEXT
) STRICT;
