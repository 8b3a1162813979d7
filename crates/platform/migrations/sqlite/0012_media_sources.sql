-- Where the time and place of a clip came from (art. 12 (3), (4)): the clock that dates the
-- viewing copy, the location the file itself carries, and whether the clip's coordinates were
-- declared by the upload or taken from the file.
ALTER TABLE clip_media ADD COLUMN time_source TEXT;
ALTER TABLE clip_media ADD COLUMN file_latitude REAL;
ALTER TABLE clip_media ADD COLUMN file_longitude REAL;
ALTER TABLE clips ADD COLUMN location_source TEXT;
UPDATE clips SET location_source = 'declared' WHERE latitude IS NOT NULL;
