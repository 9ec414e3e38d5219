-- A patient an erasure removes (a working row of its transaction).
INSERT INTO erasure_requests (erasure_id, patient_id, patient_hash)
VALUES (CAST(:erasure_id AS VARCHAR(80)), CAST(:patient_id AS BIGINT), CAST(:patient_hash AS VARCHAR(64)));
