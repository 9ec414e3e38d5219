-- Run report: the warehouse's headline counts.
SELECT
    (SELECT COUNT(*) FROM fact_bloodtest) AS fact_rows,
    (SELECT COUNT(*) FROM rejects) AS rejects,
    (SELECT COUNT(*) FROM duplicates) AS duplicates,
    (SELECT COUNT(*) FROM quarantine) AS quarantined,
    (SELECT COUNT(*) FROM pending_tests) AS pending;
