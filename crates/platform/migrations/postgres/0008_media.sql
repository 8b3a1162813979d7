-- What the media workers measured and made: one row per clip, each worker filling its part,
-- so either may finish first and a redelivered job rewrites the same row.
CREATE TABLE clip_media (
    clip_id           UUID PRIMARY KEY REFERENCES clips (id),
    container         TEXT,
    duration_seconds  DOUBLE PRECISION,
    width             INTEGER,
    height            INTEGER,
    video_codec       TEXT,
    audio_codec       TEXT,
    frame_rate        DOUBLE PRECISION,
    rotation          INTEGER,
    creation_time     TIMESTAMPTZ,
    view_key          TEXT,
    subtitles_key     TEXT,
    poster_key        TEXT,
    view_size_bytes   BIGINT,
    transcoded_at     TIMESTAMPTZ,
    -- One 64-bit perceptual hash per second of the clip, 8 bytes big-endian each.
    fingerprint       BYTEA,
    fingerprinted_at  TIMESTAMPTZ
);

-- Where in the clip a finding is and how large it is (continuity findings), and which role
-- made it, so a role re-running its job replaces its own findings and no other's.
ALTER TABLE findings ADD COLUMN position_seconds DOUBLE PRECISION;
ALTER TABLE findings ADD COLUMN size_seconds DOUBLE PRECISION;
ALTER TABLE findings ADD COLUMN source TEXT NOT NULL DEFAULT 'retention';
