-- Issue #16 (conformance).
-- Art. 18: the closure date (结案之日) as entered, from which filing is due; closed_at stays
-- the moment it was recorded. Cases closed before this counted from that moment.
ALTER TABLE cases ADD COLUMN closed_on TEXT;
UPDATE cases SET closed_on = date(closed_at, '+8 hours') WHERE closed_at IS NOT NULL;
CREATE INDEX cases_by_bureau ON cases (bureau_id, id DESC);

-- Art. 12 (3): the matter (执法事项) and the party (当事人), named when classifying.
ALTER TABLE clips ADD COLUMN matter TEXT;
ALTER TABLE clips ADD COLUMN party TEXT;
ALTER TABLE classifications ADD COLUMN matter TEXT;
ALTER TABLE classifications ADD COLUMN party TEXT;

-- Art. 15: teams are registered, so a team without any camera shows up as short of them.
CREATE TABLE teams (
    bureau_id      TEXT NOT NULL REFERENCES bureaus (id),
    name           TEXT NOT NULL,
    registered_at  TEXT NOT NULL,
    PRIMARY KEY (bureau_id, name)
);

-- The team the clip's camera belonged to in the registry when the clip arrived, and whether
-- the camera was registered at all (NULL: arrived before this was recorded).
ALTER TABLE clips ADD COLUMN team TEXT;
ALTER TABLE clips ADD COLUMN device_registered BOOLEAN;
CREATE INDEX clips_unregistered_device ON clips (bureau_id, id DESC) WHERE device_registered = FALSE;

-- Art. 17: officers classify their own and their team's clips, so a credential names the
-- officer it speaks for and their team (both NULL for collection stations and staff).
ALTER TABLE api_tokens ADD COLUMN officer_id TEXT;
ALTER TABLE api_tokens ADD COLUMN team TEXT;
ALTER TABLE users ADD COLUMN officer_id TEXT;
ALTER TABLE users ADD COLUMN team TEXT;
