-- Credentials that end (issue #15): an API token may be given an expiry, after which it
-- answers 401 like a revoked one.
ALTER TABLE api_tokens ADD COLUMN expires_at TEXT;

-- Failed logins per key ('account:BUREAU/NAME' or 'address:IP'), shared by every custody
-- process so that running more of them gives a guesser no more tries. Rows are forgotten once
-- their window and block are over.
CREATE TABLE login_throttles (
    key                TEXT PRIMARY KEY,
    failures           INTEGER NOT NULL,
    window_started_at  TEXT,
    blocked_until      TEXT,
    locked             BOOLEAN NOT NULL,
    refused            INTEGER NOT NULL,
    refused_since      TEXT,
    audit_bureau       TEXT,
    updated_at         TEXT NOT NULL
);
CREATE INDEX login_throttles_by_update ON login_throttles (updated_at);
