-- The requester of a copy as a person (bureau and user, or the token), so that the two-person
-- rule of art. 23 compares people, not the labels their sessions carry.
ALTER TABLE copy_requests ADD COLUMN requested_by_person TEXT NOT NULL DEFAULT '';
