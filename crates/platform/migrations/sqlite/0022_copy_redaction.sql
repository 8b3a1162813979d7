-- What a party's copy hides (art. 24, redaction): the plan as JSON, its SHA-256, and who set
-- it when. Set while the request is pending; the copy is made with the plan in force at the
-- approval, and names it by its hash.
ALTER TABLE copy_requests ADD COLUMN redaction_plan TEXT;
ALTER TABLE copy_requests ADD COLUMN redaction_sha256 TEXT;
ALTER TABLE copy_requests ADD COLUMN redaction_by TEXT;
ALTER TABLE copy_requests ADD COLUMN redaction_at TEXT;
