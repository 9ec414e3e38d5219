-- Lines read, staged and quarantined for one source on one day.
SELECT
    (SELECT COALESCE(SUM(lines_read), 0) FROM stage_audit
      WHERE logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE) AND source = :source) AS lines_read,
    (SELECT COUNT(*) FROM staging_patient
      WHERE :source = 'patient_data' AND logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE))
  + (SELECT COUNT(*) FROM staging_bloodtest
      WHERE :source = 'log_data' AND logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE)) AS staged,
    (SELECT COUNT(*) FROM quarantine
      WHERE logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE) AND source = :source) AS quarantined;
