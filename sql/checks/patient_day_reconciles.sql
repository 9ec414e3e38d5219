-- Every patient_data line of the day is staged, quarantined, or suppressed
-- (a record of an erased patient).
-- compare: =
SELECT
    (SELECT COALESCE(SUM(lines_read - suppressed), 0) FROM stage_audit
      WHERE logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE) AND source = 'patient_data') AS got,
    (SELECT COUNT(*) FROM staging_patient WHERE logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE))
  + (SELECT COUNT(*) FROM quarantine
      WHERE logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE) AND source = 'patient_data') AS expected;
