-- Whether the warehouse holds anything of the patient (held), and whether an
-- earlier erasure logged them (logged): an erasure of a patient with neither
-- is refused as a wrong id.
SELECT
    (SELECT COUNT(*) FROM staging_patient WHERE patient_id = CAST(:patient_id AS BIGINT))
  + (SELECT COUNT(*) FROM staging_bloodtest WHERE patient_id = CAST(:patient_id AS BIGINT))
  + (SELECT COUNT(*) FROM dim_patient WHERE patient_id = CAST(:patient_id AS BIGINT))
  + (SELECT COUNT(*) FROM fact_bloodtest WHERE patient_id = CAST(:patient_id AS BIGINT))
  + (SELECT COUNT(*) FROM rejects WHERE patient_id = CAST(:patient_id AS BIGINT))
  + (SELECT COUNT(*) FROM pending_tests WHERE patient_id = CAST(:patient_id AS BIGINT)) AS held,
    (SELECT COUNT(*) FROM erasures WHERE patient_hash = :patient_hash) AS logged;
