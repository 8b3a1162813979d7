-- Copy requests (art. 23): who asked for which clip for whom, who decided, and the download.
CREATE TABLE copy_requests (
    id                      BLOB PRIMARY KEY,
    bureau_id               TEXT NOT NULL REFERENCES bureaus (id),
    clip_id                 BLOB NOT NULL REFERENCES clips (id),
    party                   TEXT NOT NULL,
    purpose                 TEXT NOT NULL,
    requested_by            TEXT NOT NULL,
    requested_at            TEXT NOT NULL,
    state                   TEXT NOT NULL,
    decided_by              TEXT,
    decided_at              TEXT,
    reason                  TEXT,
    expires_at              TEXT,
    download_token_sha256   TEXT UNIQUE,
    downloads               INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX copy_requests_by_bureau ON copy_requests (bureau_id, requested_at);
