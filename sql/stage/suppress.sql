-- Remove the erased patients' lines the task's days delivered (erasure_lines,
-- under the stage's execution id), staged or quarantined: counted as
-- suppressed, never loaded.
DELETE FROM staging_patient
WHERE :source = 'patient_data' AND logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE)
  AND EXISTS (
    SELECT 1 FROM erasure_lines AS l
    WHERE l.erasure_id = :erasure_id AND l.source = 'patient_data'
      AND l.source_file = staging_patient.source_file AND l.line_no = staging_patient.line_no
);
DELETE FROM staging_bloodtest
WHERE :source = 'log_data' AND logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE)
  AND EXISTS (
    SELECT 1 FROM erasure_lines AS l
    WHERE l.erasure_id = :erasure_id AND l.source = 'log_data'
      AND l.source_file = staging_bloodtest.source_file AND l.line_no = staging_bloodtest.line_no
);
DELETE FROM quarantine
WHERE source = :source AND logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE)
  AND EXISTS (
    SELECT 1 FROM erasure_lines AS l
    WHERE l.erasure_id = :erasure_id AND l.source = quarantine.source
      AND l.source_file = quarantine.source_file AND l.line_no = quarantine.line_no
);
DELETE FROM erasure_lines WHERE erasure_id = :erasure_id AND source = :source;
