-- Log what an erasure removed from one place (quarantined lines; a source's
-- raw files) for one patient, named by the keyed hash of the id.
INSERT INTO erasures (erasure_id, patient_hash, erased_at, place, rows_erased)
VALUES (CAST(:erasure_id AS VARCHAR(80)), CAST(:patient_hash AS VARCHAR(64)), CAST(:erased_at AS TIMESTAMP), CAST(:place AS VARCHAR(64)), CAST(:rows_erased AS BIGINT));
