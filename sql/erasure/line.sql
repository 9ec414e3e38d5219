-- A raw line an erasure removes from quarantine, or a stage suppresses (a
-- working row of its transaction).
INSERT INTO erasure_lines (erasure_id, patient_hash, source, logical_date, source_file, line_no)
VALUES (CAST(:erasure_id AS VARCHAR(80)), CAST(:patient_hash AS VARCHAR(64)), CAST(:source AS VARCHAR(16)), CAST(:logical_date AS DATE), CAST(:source_file AS VARCHAR(1024)), CAST(:line_no AS BIGINT));
