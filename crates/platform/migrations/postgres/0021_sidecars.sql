-- Clips whose record beside the original in the blob store (the sidecar, for rebuilding a
-- lost catalogue) is out of date. Triggers mark a clip when anything the sidecar carries
-- changes, wherever in the code the change is made; the custody role writes the sidecar and
-- clears the mark if no change came in between (the generation did not move).
CREATE TABLE sidecars_due (
    clip_id     UUID PRIMARY KEY,
    generation  BIGINT NOT NULL
);

CREATE FUNCTION mark_sidecar_due(clip UUID) RETURNS VOID AS $$
    INSERT INTO sidecars_due (clip_id, generation) VALUES (clip, 1)
        ON CONFLICT (clip_id) DO UPDATE SET generation = sidecars_due.generation + 1;
$$ LANGUAGE sql;

CREATE FUNCTION sidecar_due_for_clip() RETURNS TRIGGER AS $$
BEGIN
    PERFORM mark_sidecar_due(NEW.id);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION sidecar_due_for_link() RETURNS TRIGGER AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM mark_sidecar_due(OLD.clip_id);
    ELSE
        PERFORM mark_sidecar_due(NEW.clip_id);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION sidecar_due_for_case() RETURNS TRIGGER AS $$
BEGIN
    PERFORM mark_sidecar_due(clip_id) FROM case_clips WHERE case_id = NEW.id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER sidecar_due_on_insert AFTER INSERT ON clips
    FOR EACH ROW EXECUTE FUNCTION sidecar_due_for_clip();

CREATE TRIGGER sidecar_due_on_update AFTER UPDATE OF
    canonical_name, category, description, place, latitude, longitude, important,
    classified_at, classified_by, long_term_reason, legal_hold, purged_at, confidentiality,
    matter, party, kind, document_type ON clips
    FOR EACH ROW EXECUTE FUNCTION sidecar_due_for_clip();

CREATE TRIGGER sidecar_due_on_link AFTER INSERT OR DELETE ON case_clips
    FOR EACH ROW EXECUTE FUNCTION sidecar_due_for_link();

CREATE TRIGGER sidecar_due_on_case AFTER UPDATE ON cases
    FOR EACH ROW EXECUTE FUNCTION sidecar_due_for_case();

-- Clips catalogued before sidecars existed get theirs on the first pass.
INSERT INTO sidecars_due (clip_id, generation) SELECT id, 1 FROM clips;
