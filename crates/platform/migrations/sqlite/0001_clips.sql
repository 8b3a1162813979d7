-- Bureaus, their API tokens, uploads in progress and the clips themselves.
CREATE TABLE bureaus (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE api_tokens (
    id            BLOB PRIMARY KEY,
    bureau_id     TEXT NOT NULL REFERENCES bureaus (id),
    token_sha256  TEXT NOT NULL UNIQUE,
    label         TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    revoked_at    TEXT
);

-- An upload whose bytes may be in the blob store but that is not a clip yet. The row goes in
-- the same transaction that records the clip; one left behind names an object to remove.
CREATE TABLE pending_uploads (
    clip_id     BLOB PRIMARY KEY,
    bureau_id   TEXT NOT NULL REFERENCES bureaus (id),
    object_key  TEXT NOT NULL,
    started_at  TEXT NOT NULL
);

CREATE TABLE clips (
    id                BLOB PRIMARY KEY,
    bureau_id         TEXT NOT NULL REFERENCES bureaus (id),
    device_id         TEXT NOT NULL,
    officer_id        TEXT NOT NULL,
    recorded_at       TEXT NOT NULL,
    original_name     TEXT NOT NULL,
    case_ref          TEXT,
    object_key        TEXT NOT NULL UNIQUE,
    size_bytes        INTEGER NOT NULL CHECK (size_bytes >= 0),
    sha256            TEXT NOT NULL CHECK (length(sha256) = 64),
    state             TEXT NOT NULL,
    state_changed_at  TEXT NOT NULL,
    received_at       TEXT NOT NULL,
    failure_reason    TEXT,
    -- How often, and when last, the reconciler re-published this clip's pending work.
    publish_round     INTEGER NOT NULL DEFAULT 0,
    nudged_at         TEXT
);

CREATE INDEX clips_by_bureau ON clips (bureau_id, id DESC);
CREATE INDEX clips_by_bureau_recorded ON clips (bureau_id, recorded_at);
CREATE INDEX clips_by_state ON clips (state, state_changed_at);

-- Every state change, with when and why: the clip's history as the catalogue saw it.
CREATE TABLE clip_transitions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    clip_id     BLOB NOT NULL REFERENCES clips (id),
    from_state  TEXT,
    to_state    TEXT NOT NULL,
    at          TEXT NOT NULL,
    reason      TEXT
);
CREATE INDEX clip_transitions_by_clip ON clip_transitions (clip_id, id);
