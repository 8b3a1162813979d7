-- Clips whose record beside the original in the blob store (the sidecar, for rebuilding a
-- lost catalogue) is out of date. Triggers mark a clip when anything the sidecar carries
-- changes, wherever in the code the change is made; the custody role writes the sidecar and
-- clears the mark if no change came in between (the generation did not move).
CREATE TABLE sidecars_due (
    clip_id     BLOB PRIMARY KEY,
    generation  INTEGER NOT NULL
);

CREATE TRIGGER sidecar_due_on_insert AFTER INSERT ON clips
BEGIN
    INSERT INTO sidecars_due (clip_id, generation) VALUES (NEW.id, 1)
        ON CONFLICT (clip_id) DO UPDATE SET generation = generation + 1;
END;

CREATE TRIGGER sidecar_due_on_update AFTER UPDATE OF
    canonical_name, category, description, place, latitude, longitude, important,
    classified_at, classified_by, long_term_reason, legal_hold, purged_at, confidentiality,
    matter, party, kind, document_type ON clips
BEGIN
    INSERT INTO sidecars_due (clip_id, generation) VALUES (NEW.id, 1)
        ON CONFLICT (clip_id) DO UPDATE SET generation = generation + 1;
END;

CREATE TRIGGER sidecar_due_on_link AFTER INSERT ON case_clips
BEGIN
    INSERT INTO sidecars_due (clip_id, generation) VALUES (NEW.clip_id, 1)
        ON CONFLICT (clip_id) DO UPDATE SET generation = generation + 1;
END;

CREATE TRIGGER sidecar_due_on_unlink AFTER DELETE ON case_clips
BEGIN
    INSERT INTO sidecars_due (clip_id, generation) VALUES (OLD.clip_id, 1)
        ON CONFLICT (clip_id) DO UPDATE SET generation = generation + 1;
END;

CREATE TRIGGER sidecar_due_on_case AFTER UPDATE ON cases
BEGIN
    INSERT INTO sidecars_due (clip_id, generation)
        SELECT clip_id, 1 FROM case_clips WHERE case_id = NEW.id
        ON CONFLICT (clip_id) DO UPDATE SET generation = generation + 1;
END;

-- Clips catalogued before sidecars existed get theirs on the first pass.
INSERT INTO sidecars_due (clip_id, generation) SELECT id, 1 FROM clips;
