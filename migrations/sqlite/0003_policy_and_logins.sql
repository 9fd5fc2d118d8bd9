-- Activated policy versions (numbered), with who activated and approved, and the diff.
CREATE TABLE policy_version (
    version      BIGINT  PRIMARY KEY,
    document     TEXT    NOT NULL,
    activated_by TEXT    NOT NULL,
    activated_ms BIGINT  NOT NULL,
    approved_by  TEXT,
    diff         TEXT    NOT NULL,
    draft_id     TEXT
);

-- Drafts: validated documents waiting for preview, approval and activation.
CREATE TABLE policy_draft (
    id                TEXT    PRIMARY KEY,
    document          TEXT    NOT NULL,
    author            TEXT    NOT NULL,
    created_ms        BIGINT  NOT NULL,
    base_version      BIGINT  NOT NULL,
    approved_by       TEXT,
    approved_ms       BIGINT,
    activated_version BIGINT
);

-- chartdesk's own record of logins, for "last login" where the EHR exposes no AuditEvent.
CREATE TABLE login_history (
    user_key TEXT   NOT NULL,
    tenant   TEXT   NOT NULL,
    at_ms    BIGINT NOT NULL,
    location TEXT
);
CREATE INDEX login_history_user ON login_history (user_key, at_ms);
