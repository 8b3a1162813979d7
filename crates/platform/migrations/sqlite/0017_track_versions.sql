-- GPS tracks are versioned, never overwritten (the place burned into copies must not change
-- behind them): one row per version, each in a blob of its own. Who uploaded a clip is kept so
-- only that station (or an archivist or leader) may add a version, and each copy records the
-- track version it was made with.
CREATE TABLE clip_tracks (
    clip_id     BLOB NOT NULL REFERENCES clips (id),
    version     INTEGER NOT NULL,
    object_key  TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size_bytes  INTEGER NOT NULL,
    added_at    TEXT NOT NULL,
    added_by    TEXT NOT NULL,
    PRIMARY KEY (clip_id, version)
);
ALTER TABLE clips ADD COLUMN uploaded_by TEXT;
ALTER TABLE clip_media ADD COLUMN track_sha256 TEXT;
ALTER TABLE copy_requests ADD COLUMN copy_track_sha256 TEXT;
