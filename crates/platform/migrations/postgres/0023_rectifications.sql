-- Rectification within a time limit (责令限期整改, art. 25): a finding of supervision ordered
-- mended by a responsible person by a deadline in working days, answered, and accepted or
-- reopened by a leader; every step kept.
CREATE TABLE rectifications (
    id                 UUID PRIMARY KEY,
    bureau_id          TEXT NOT NULL REFERENCES bureaus (id),
    -- The finding ordered mended: its kind (no_recording, late_upload, ...) and article.
    finding_kind       TEXT NOT NULL,
    article            TEXT NOT NULL,
    -- The officer or team the finding concerns, and the task, case or clip it names.
    subject            TEXT,
    reference          TEXT,
    detail             TEXT NOT NULL,
    -- Who answers: an officer's number or a person's username.
    responsible        TEXT NOT NULL,
    state              TEXT NOT NULL,
    due_at             TIMESTAMPTZ NOT NULL,
    calendar_complete  BOOLEAN NOT NULL,
    ordered_by         TEXT NOT NULL,
    ordered_at         TIMESTAMPTZ NOT NULL,
    -- Whether an answer ever came after its limit.
    answered_late      BOOLEAN NOT NULL DEFAULT FALSE,
    closed_at          TIMESTAMPTZ
);
CREATE INDEX rectifications_by_bureau ON rectifications (bureau_id, ordered_at);
CREATE INDEX rectifications_waiting ON rectifications (state, due_at);

CREATE TABLE rectification_steps (
    id                BIGSERIAL PRIMARY KEY,
    rectification_id  UUID NOT NULL REFERENCES rectifications (id),
    step              TEXT NOT NULL,
    at                TIMESTAMPTZ NOT NULL,
    by_whom           TEXT NOT NULL,
    text              TEXT NOT NULL,
    -- The new limit an order or a reopening set.
    due_at            TIMESTAMPTZ
);
CREATE INDEX rectification_steps_by_order ON rectification_steps (rectification_id, id);
