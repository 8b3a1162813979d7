-- Every record the rules name (art. 5): video, audio recordings (录音), photographs (照相) and
-- documents (文字记录) take the clips' custody path. The kind is decided by the media workers
-- from the file (NULL until they have looked); every clip before this was a video. A document
-- has a type (送达回证, 询问笔录, ...), its text for search, and a page count; a case has a type
-- (行政处罚, ...) that decides which documents its file must hold before it is filed (art. 18).
ALTER TABLE clips ADD COLUMN kind TEXT;
UPDATE clips SET kind = 'video' WHERE id IN (SELECT clip_id FROM clip_media WHERE video_codec IS NOT NULL);
ALTER TABLE clips ADD COLUMN document_type TEXT;
ALTER TABLE clips ADD COLUMN content_text TEXT;
CREATE INDEX clips_kind ON clips (bureau_id, kind);
ALTER TABLE clip_media ADD COLUMN audio_channels INTEGER;
ALTER TABLE clip_media ADD COLUMN audio_sample_rate INTEGER;
ALTER TABLE clip_media ADD COLUMN page_count INTEGER;
-- The sound's Chromaprint fingerprint (4 bytes big-endian per item): a recording found again.
ALTER TABLE clip_media ADD COLUMN sound_fingerprint BLOB;
ALTER TABLE cases ADD COLUMN case_type TEXT;
