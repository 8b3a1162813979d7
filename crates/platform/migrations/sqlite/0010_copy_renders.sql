-- The watermarked copy made for an approved copy request (art. 23): its SHA-256 and size
-- once the transcoder has stored it under derived/<bureau>/<clip>/copies/<request id>.mp4,
-- or why it could not be made.
ALTER TABLE copy_requests ADD COLUMN copy_sha256 TEXT;
ALTER TABLE copy_requests ADD COLUMN copy_size_bytes INTEGER;
ALTER TABLE copy_requests ADD COLUMN copy_made_at TEXT;
ALTER TABLE copy_requests ADD COLUMN copy_failure TEXT;
