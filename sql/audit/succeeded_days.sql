-- The days in a range whose latest daily execution succeeded: a backfill
-- skips them unless forced.
SELECT CAST(logical_date AS VARCHAR)
FROM (
    SELECT
        logical_date,
        status,
        ROW_NUMBER() OVER (PARTITION BY logical_date ORDER BY started_at DESC, execution_id DESC) AS latest
    FROM executions
    WHERE state_machine = 'pipeline'
      AND logical_date BETWEEN CAST(:from_date AS DATE) AND CAST(:to_date AS DATE)
) AS e
WHERE latest = 1 AND status = 'SUCCEEDED'
ORDER BY 1;
