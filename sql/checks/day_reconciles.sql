-- Every log_data line of the day is loaded, rejected, a duplicate,
-- quarantined, pending (waiting for its patient's first record) or
-- suppressed (a test of an erased patient): lines read - suppressed =
-- loaded + rejected + duplicates + quarantined + pending.
-- compare: =
SELECT
    (SELECT COALESCE(SUM(lines_read - suppressed), 0) FROM stage_audit
      WHERE logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE) AND source = 'log_data') AS got,
    (SELECT COUNT(*) FROM fact_bloodtest WHERE logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE))
  + (SELECT COUNT(*) FROM rejects WHERE logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE))
  + (SELECT COUNT(*) FROM duplicates WHERE logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE))
  + (SELECT COUNT(*) FROM pending_tests WHERE logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE))
  + (SELECT COUNT(*) FROM quarantine
      WHERE logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE) AND source = 'log_data') AS expected;
