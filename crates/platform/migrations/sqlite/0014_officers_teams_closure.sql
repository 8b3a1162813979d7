-- Issue #16 (conformance).
-- Art. 18: the closure date (结案之日) as entered, from which filing is due; closed_at stays
-- the moment it was recorded. Cases closed before this counted from that moment.
ALTER TABLE cases ADD COLUMN closed_on TEXT;
UPDATE cases SET closed_on = date(closed_at, '+8 hours') WHERE closed_at IS NOT NULL;
CREATE INDEX cases_by_bureau ON cases (bureau_id, id DESC);
