-- Art. 16: the upload deadlines count from the officer's return to the office (阶段执法结束返回
-- 机关), recorded with the upload; a special circumstance (特殊情况) excuses missing the 24
-- hours within the 3 working days. Clips without a return count from the recording's end.
ALTER TABLE clips ADD COLUMN returned_at TEXT;
ALTER TABLE clips ADD COLUMN late_reason TEXT;
