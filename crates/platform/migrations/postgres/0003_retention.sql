-- Retention (art. 21, 22): long-term class and legal holds, the archive tier, the recycle bin,
-- tombstones (purged_at: the row, its hashes and history stay), and the checksum scrub.
ALTER TABLE clips ADD COLUMN long_term_reason TEXT;
ALTER TABLE clips ADD COLUMN legal_hold BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clips ADD COLUMN archived_at TIMESTAMPTZ;
ALTER TABLE clips ADD COLUMN archive_key TEXT;
ALTER TABLE clips ADD COLUMN archive_locked_until TIMESTAMPTZ;
ALTER TABLE clips ADD COLUMN recycle_until TIMESTAMPTZ;
ALTER TABLE clips ADD COLUMN purged_at TIMESTAMPTZ;
ALTER TABLE clips ADD COLUMN verified_at TIMESTAMPTZ;
ALTER TABLE cases ADD COLUMN long_term BOOLEAN NOT NULL DEFAULT FALSE;

CREATE INDEX clips_to_archive ON clips (id) WHERE long_term_reason IS NOT NULL AND archived_at IS NULL;
CREATE INDEX clips_to_expire ON clips (recorded_at) WHERE state = 'catalogued';
CREATE INDEX clips_to_purge ON clips (recycle_until) WHERE state = 'recycled';
CREATE INDEX clips_to_scrub ON clips (verified_at NULLS FIRST, id) WHERE purged_at IS NULL;

-- Who set a clip's retention, and when.
CREATE TABLE retention_changes (
    id                BIGSERIAL PRIMARY KEY,
    clip_id           UUID NOT NULL REFERENCES clips (id),
    at                TIMESTAMPTZ NOT NULL,
    by_whom           TEXT NOT NULL,
    long_term_reason  TEXT,
    legal_hold        BOOLEAN NOT NULL
);

-- What the scrub (and, later, the media workers) found wrong with a clip.
CREATE TABLE findings (
    id        BIGSERIAL PRIMARY KEY,
    clip_id   UUID NOT NULL REFERENCES clips (id),
    at        TIMESTAMPTZ NOT NULL,
    kind      TEXT NOT NULL,
    severity  TEXT NOT NULL,
    detail    TEXT NOT NULL
);
CREATE INDEX findings_by_clip ON findings (clip_id, id);
