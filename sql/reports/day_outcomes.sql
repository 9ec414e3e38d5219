-- Where every line of some days went: (outcome, reason, count); a test still
-- waiting for its patient's first record is pending.
SELECT 'loaded' AS outcome, '' AS reason, COUNT(*) AS n
  FROM fact_bloodtest WHERE logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE)
UNION ALL
SELECT 'rejected', reason, COUNT(*)
  FROM rejects WHERE logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE) GROUP BY reason
UNION ALL
SELECT 'duplicate', kind, COUNT(*)
  FROM duplicates WHERE logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE) GROUP BY kind
UNION ALL
SELECT 'quarantined', source, COUNT(*)
  FROM quarantine WHERE logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE) GROUP BY source
UNION ALL
SELECT 'pending', '', COUNT(*)
  FROM pending_tests WHERE logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE);
