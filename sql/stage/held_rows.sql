-- The rows the warehouse holds of a source on each of the task's days
-- (staged or quarantined): a day with no file must not replace them unless
-- the run says so.
SELECT logical_date, CAST(SUM(n) AS BIGINT) AS n
FROM (
    SELECT logical_date, COUNT(*) AS n FROM staging_patient
    WHERE :source = 'patient_data' AND logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE)
    GROUP BY logical_date
    UNION ALL
    SELECT logical_date, COUNT(*) AS n FROM staging_bloodtest
    WHERE :source = 'log_data' AND logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE)
    GROUP BY logical_date
    UNION ALL
    SELECT logical_date, COUNT(*) AS n FROM quarantine
    WHERE source = :source AND logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE)
    GROUP BY logical_date
) AS held
GROUP BY logical_date
ORDER BY logical_date;
