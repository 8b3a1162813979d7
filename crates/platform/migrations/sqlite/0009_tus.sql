-- Resumable (tus) uploads: where each one stands, so any replica can take the next request,
-- also after a restart. One row per upload, beside its pending_uploads row; both go when the
-- clip is recorded or the upload is terminated or expires.
CREATE TABLE tus_uploads (
    clip_id        BLOB PRIMARY KEY,
    bureau_id      TEXT NOT NULL REFERENCES bureaus (id),
    upload_length  INTEGER NOT NULL,
    upload_offset  INTEGER NOT NULL,
    -- The Upload-Metadata header as sent, checked again when the upload completes.
    metadata       TEXT NOT NULL,
    object_key     TEXT NOT NULL,
    multipart_id   TEXT NOT NULL,
    -- JSON: the parts the blob store took (number, size, sha256, etag).
    parts          TEXT NOT NULL,
    -- SHA-256 state over the bytes in those parts (crates/core resumable.rs).
    hash_state     TEXT NOT NULL,
    -- Bytes received after the last part, too few for a part of their own yet.
    tail           BLOB NOT NULL,
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL
);

CREATE INDEX tus_uploads_by_expiry ON tus_uploads (expires_at);
