-- The ticket outbox: a ticket intent carries its sealed, redacted ticket and its delivery state.
-- status: pending → delivered | dead-letter (a dead-letter can be put back to pending).
ALTER TABLE ticket_intent ADD COLUMN payload TEXT NOT NULL DEFAULT '';
ALTER TABLE ticket_intent ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ticket_intent ADD COLUMN next_attempt_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ticket_intent ADD COLUMN claimed_until_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ticket_intent ADD COLUMN external_ref TEXT;
ALTER TABLE ticket_intent ADD COLUMN last_error TEXT;
ALTER TABLE ticket_intent ADD COLUMN updated_ms INTEGER NOT NULL DEFAULT 0;
CREATE INDEX ticket_intent_due ON ticket_intent (status, next_attempt_ms);
