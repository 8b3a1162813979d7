-- Who opened each resumable upload, so one token's open uploads and their declared bytes can
-- be limited (a stolen station token must not reserve the store).
ALTER TABLE tus_uploads ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
CREATE INDEX tus_uploads_by_creator ON tus_uploads (created_by);
