-- The catalogue archive staff work in (art. 15-18): roles on tokens, naming, classification,
-- deadlines, places, cases and the device registry.
ALTER TABLE api_tokens ADD COLUMN role TEXT NOT NULL DEFAULT 'officer';

ALTER TABLE clips ADD COLUMN canonical_name TEXT;
ALTER TABLE clips ADD COLUMN category TEXT;
ALTER TABLE clips ADD COLUMN description TEXT;
ALTER TABLE clips ADD COLUMN place TEXT;
ALTER TABLE clips ADD COLUMN latitude REAL;
ALTER TABLE clips ADD COLUMN longitude REAL;
ALTER TABLE clips ADD COLUMN important BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clips ADD COLUMN classified_at TEXT;
ALTER TABLE clips ADD COLUMN classified_by TEXT;
-- Due times, fixed when the clip is catalogued from the calendar then in force.
ALTER TABLE clips ADD COLUMN upload_due_at TEXT;
ALTER TABLE clips ADD COLUMN upload_hard_due_at TEXT;
ALTER TABLE clips ADD COLUMN classify_due_at TEXT;
ALTER TABLE clips ADD COLUMN calendar_complete BOOLEAN NOT NULL DEFAULT TRUE;
-- Names, descriptions, places and original file names, for text search.
ALTER TABLE clips ADD COLUMN search_text TEXT NOT NULL DEFAULT '';

CREATE INDEX clips_by_bureau_device ON clips (bureau_id, device_id, recorded_at);
CREATE INDEX clips_by_bureau_officer ON clips (bureau_id, officer_id, recorded_at);
CREATE INDEX clips_by_bureau_category ON clips (bureau_id, category, recorded_at);
CREATE INDEX clips_by_bureau_place ON clips (bureau_id, latitude, longitude);
CREATE INDEX clips_unclassified ON clips (bureau_id, classify_due_at) WHERE classified_at IS NULL;
-- The overdue gauges count late uploads of the last 30 days every reconciler pass.
CREATE INDEX clips_by_received ON clips (received_at);
-- Overdue searches walk unclassified clips newest first.
CREATE INDEX clips_unclassified_newest ON clips (bureau_id, id DESC) WHERE classified_at IS NULL;

CREATE TABLE classifications (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    clip_id         BLOB NOT NULL REFERENCES clips (id),
    at              TEXT NOT NULL,
    by_whom         TEXT NOT NULL,
    category        TEXT NOT NULL,
    description     TEXT NOT NULL,
    place           TEXT,
    important       BOOLEAN NOT NULL,
    canonical_name  TEXT NOT NULL
);
CREATE INDEX classifications_by_clip ON classifications (clip_id, id);

CREATE TABLE cases (
    id                 BLOB PRIMARY KEY,
    bureau_id          TEXT NOT NULL REFERENCES bureaus (id),
    reference          TEXT NOT NULL,
    title              TEXT NOT NULL,
    state              TEXT NOT NULL,
    opened_at          TEXT NOT NULL,
    closed_at          TEXT,
    filing_due_at      TEXT,
    filed_at           TEXT,
    calendar_complete  BOOLEAN NOT NULL DEFAULT TRUE,
    UNIQUE (bureau_id, reference)
);
CREATE INDEX cases_awaiting_filing ON cases (bureau_id, filing_due_at) WHERE state = 'closed';

CREATE TABLE case_clips (
    case_id    BLOB NOT NULL REFERENCES cases (id),
    clip_id    BLOB NOT NULL REFERENCES clips (id),
    linked_at  TEXT NOT NULL,
    linked_by  TEXT NOT NULL,
    PRIMARY KEY (case_id, clip_id)
);
CREATE INDEX case_clips_by_clip ON case_clips (clip_id);

CREATE TABLE devices (
    bureau_id      TEXT NOT NULL REFERENCES bureaus (id),
    device_id      TEXT NOT NULL,
    team           TEXT NOT NULL,
    officer_id     TEXT,
    registered_at  TEXT NOT NULL,
    PRIMARY KEY (bureau_id, device_id)
);
