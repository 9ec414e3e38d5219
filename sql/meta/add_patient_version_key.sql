-- A warehouse made before the patients' history: each test references the
-- version in force when it was taken (dim_patient_history, rebuilt from
-- every staged record just before this runs).
ALTER TABLE fact_bloodtest ADD COLUMN patient_version_key BIGINT;
UPDATE fact_bloodtest
SET patient_version_key = v.patient_version_key
FROM dim_patient_history AS v
WHERE v.patient_id = fact_bloodtest.patient_id
  AND fact_bloodtest.ts >= CASE WHEN v.version_no = 1 THEN CAST('0001-01-01 00:00:00' AS TIMESTAMP) ELSE v.valid_from END
  AND fact_bloodtest.ts < v.valid_to;
