-- Lines read, staged, quarantined and suppressed (of erased patients) for
-- one source over the task's days,
-- and the first and last day after them that the warehouse already holds
-- (staged by an earlier run): those days were decided without the task's
-- days, so the state machine runs them again after this one.
SELECT
    (SELECT COALESCE(SUM(lines_read), 0) FROM stage_audit
      WHERE logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE) AND source = :source) AS lines_read,
    (SELECT COALESCE(SUM(suppressed), 0) FROM stage_audit
      WHERE logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE) AND source = :source) AS suppressed,
    (SELECT COUNT(*) FROM staging_patient
      WHERE :source = 'patient_data' AND logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE))
  + (SELECT COUNT(*) FROM staging_bloodtest
      WHERE :source = 'log_data' AND logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE)) AS staged,
    (SELECT COUNT(*) FROM quarantine
      WHERE logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE) AND source = :source) AS quarantined,
    (SELECT MIN(logical_date) FROM stage_audit WHERE logical_date > CAST(:through AS DATE)) AS later_first,
    (SELECT MAX(logical_date) FROM stage_audit WHERE logical_date > CAST(:through AS DATE)) AS later_last;
