-- Supervision (art. 6, 7, 8, 25): the enforcement tasks of a bureau's plan, the recordings
-- linked to them by hand (the rule that links by officer and time is applied when a task is
-- read), the art. 7 moments marked as filmed or excused, and an art. 8 reason for a task not
-- filmed at all.
CREATE TABLE enforcement_tasks (
    id                UUID PRIMARY KEY,
    bureau_id         TEXT NOT NULL REFERENCES bureaus (id),
    external_id       TEXT NOT NULL,
    enterprise        TEXT NOT NULL,
    kind              TEXT NOT NULL,
    starts_at         TIMESTAMPTZ NOT NULL,
    ends_at           TIMESTAMPTZ NOT NULL,
    -- The officers' numbers, as a JSON array.
    officers          TEXT NOT NULL,
    place             TEXT,
    case_ref          TEXT,
    not_filmed        TEXT,
    not_filmed_note   TEXT,
    created_at        TIMESTAMPTZ NOT NULL,
    created_by        TEXT NOT NULL,
    UNIQUE (bureau_id, external_id)
);
CREATE INDEX enforcement_tasks_by_window ON enforcement_tasks (bureau_id, ends_at);

CREATE TABLE task_clips (
    task_id    UUID NOT NULL REFERENCES enforcement_tasks (id),
    clip_id    UUID NOT NULL REFERENCES clips (id),
    linked_at  TIMESTAMPTZ NOT NULL,
    linked_by  TEXT NOT NULL,
    PRIMARY KEY (task_id, clip_id)
);

CREATE TABLE task_moments (
    task_id     UUID NOT NULL REFERENCES enforcement_tasks (id),
    moment      INTEGER NOT NULL CHECK (moment BETWEEN 1 AND 16),
    -- The clips that show it, as a JSON array of ids; empty when excused.
    clips       TEXT NOT NULL,
    not_filmed  TEXT,
    note        TEXT,
    marked_at   TIMESTAMPTZ NOT NULL,
    marked_by   TEXT NOT NULL,
    PRIMARY KEY (task_id, moment)
);
