-- Confidentiality per clip (art. 24): ordinary, internal or secret.
ALTER TABLE clips ADD COLUMN confidentiality TEXT NOT NULL DEFAULT 'ordinary';
