-- Bureaus, their API tokens, uploads in progress and the clips themselves.
CREATE TABLE bureaus (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_tokens (
    id            UUID PRIMARY KEY,
    bureau_id     TEXT NOT NULL REFERENCES bureaus (id),
    token_sha256  TEXT NOT NULL UNIQUE,
    label         TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    revoked_at    TIMESTAMPTZ
);

-- An upload whose bytes may be in the blob store but that is not a clip yet. The row goes in
-- the same transaction that records the clip; one left behind names an object to remove.
CREATE TABLE pending_uploads (
    clip_id     UUID PRIMARY KEY,
    bureau_id   TEXT NOT NULL REFERENCES bureaus (id),
    object_key  TEXT NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE clips (
    id                UUID PRIMARY KEY,
    bureau_id         TEXT NOT NULL REFERENCES bureaus (id),
    device_id         TEXT NOT NULL,
    officer_id        TEXT NOT NULL,
    recorded_at       TIMESTAMPTZ NOT NULL,
    original_name     TEXT NOT NULL,
    case_ref          TEXT,
    object_key        TEXT NOT NULL UNIQUE,
    size_bytes        BIGINT NOT NULL CHECK (size_bytes >= 0),
    sha256            TEXT NOT NULL CHECK (length(sha256) = 64),
    state             TEXT NOT NULL,
    state_changed_at  TIMESTAMPTZ NOT NULL,
    received_at       TIMESTAMPTZ NOT NULL,
    failure_reason    TEXT,
    -- How often, and when last, the reconciler re-published this clip's pending work.
    publish_round     INTEGER NOT NULL DEFAULT 0,
    nudged_at         TIMESTAMPTZ
);

CREATE INDEX clips_by_bureau ON clips (bureau_id, id DESC);
CREATE INDEX clips_by_bureau_recorded ON clips (bureau_id, recorded_at);
CREATE INDEX clips_by_state ON clips (state, state_changed_at);

-- Every state change, with when and why: the clip's history as the catalogue saw it.
CREATE TABLE clip_transitions (
    id          BIGSERIAL PRIMARY KEY,
    clip_id     UUID NOT NULL REFERENCES clips (id),
    from_state  TEXT,
    to_state    TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    reason      TEXT
);
CREATE INDEX clip_transitions_by_clip ON clip_transitions (clip_id, id);
