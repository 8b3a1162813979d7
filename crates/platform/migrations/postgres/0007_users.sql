-- People: users with a role and an argon2id password hash, and their sessions.
CREATE TABLE users (
    bureau_id      TEXT NOT NULL REFERENCES bureaus (id),
    username       TEXT NOT NULL,
    role           TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    disabled_at    TIMESTAMPTZ,
    PRIMARY KEY (bureau_id, username)
);

CREATE TABLE sessions (
    id             UUID PRIMARY KEY,
    token_sha256   TEXT NOT NULL UNIQUE,
    bureau_id      TEXT NOT NULL,
    username       TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL,
    ended_at       TIMESTAMPTZ,
    FOREIGN KEY (bureau_id, username) REFERENCES users (bureau_id, username)
);
