-- People: users with a role and an argon2id password hash, and their sessions.
CREATE TABLE users (
    bureau_id      TEXT NOT NULL REFERENCES bureaus (id),
    username       TEXT NOT NULL,
    role           TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    disabled_at    TEXT,
    PRIMARY KEY (bureau_id, username)
);

CREATE TABLE sessions (
    id             BLOB PRIMARY KEY,
    token_sha256   TEXT NOT NULL UNIQUE,
    bureau_id      TEXT NOT NULL,
    username       TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    ended_at       TEXT,
    FOREIGN KEY (bureau_id, username) REFERENCES users (bureau_id, username)
);
