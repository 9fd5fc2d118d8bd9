-- Messages from clinicians, their detection result, and what they became: handoffs to the
-- clinical workflow and ticket intents for the service desk. Written in one transaction.
-- Message text and anything a person wrote is sealed (`envelope`, `body`: AES-256-GCM under the
-- message / handoff data keys, so retention can crypto-shred it); the rest is ids, codes and times.
CREATE TABLE message (
    id                TEXT    PRIMARY KEY,
    tenant            TEXT    NOT NULL,
    user_key          TEXT    NOT NULL,
    client_message_id TEXT    NOT NULL,
    launch_ref        TEXT    NOT NULL,
    created_ms        BIGINT NOT NULL,
    envelope          TEXT    NOT NULL,
    detection         TEXT    NOT NULL,
    route             TEXT    NOT NULL,
    category          TEXT    NOT NULL,
    urgent            BIGINT NOT NULL,
    UNIQUE (user_key, client_message_id)
);

CREATE TABLE handoff (
    id              TEXT    PRIMARY KEY,
    message_id      TEXT    NOT NULL REFERENCES message (id),
    tenant          TEXT    NOT NULL,
    queue           TEXT    NOT NULL,
    unit            TEXT    NOT NULL,
    category        TEXT    NOT NULL,
    urgent          BIGINT NOT NULL,
    status          TEXT    NOT NULL,
    tier            BIGINT NOT NULL,
    created_ms      BIGINT NOT NULL,
    due_ms          BIGINT NOT NULL,
    acknowledged_by TEXT,
    acknowledged_ms BIGINT,
    claimed_by      TEXT,
    resolved_ms     BIGINT,
    updated_ms      BIGINT NOT NULL,
    version         BIGINT NOT NULL
);
CREATE INDEX handoff_open ON handoff (status, due_ms);
CREATE INDEX handoff_message ON handoff (message_id);

CREATE TABLE handoff_note (
    id         TEXT    PRIMARY KEY,
    handoff_id TEXT    NOT NULL REFERENCES handoff (id),
    author     TEXT    NOT NULL,
    created_ms BIGINT NOT NULL,
    body       TEXT    NOT NULL
);
CREATE INDEX handoff_note_handoff ON handoff_note (handoff_id);

CREATE TABLE ticket_intent (
    id         TEXT    PRIMARY KEY,
    message_id TEXT    NOT NULL REFERENCES message (id),
    category   TEXT    NOT NULL,
    created_ms BIGINT NOT NULL,
    status     TEXT    NOT NULL
);
CREATE INDEX ticket_intent_message ON ticket_intent (message_id);
