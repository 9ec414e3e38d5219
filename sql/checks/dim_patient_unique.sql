-- dim_patient holds one row per patient.
-- compare: =
SELECT COUNT(*) - COUNT(DISTINCT patient_id) AS got, 0 AS expected
FROM dim_patient;
