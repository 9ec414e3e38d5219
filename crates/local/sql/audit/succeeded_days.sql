-- The days in a range whose latest daily execution succeeded: a backfill
-- skips them unless forced (a range execution covers each of its days).
SELECT day
FROM (
    SELECT
        day,
        status,
        ROW_NUMBER() OVER (PARTITION BY day ORDER BY started_at DESC, execution_id DESC) AS latest
    FROM execution_days
    WHERE day BETWEEN CAST(:from_date AS DATE) AND CAST(:to_date AS DATE)
) AS e
WHERE latest = 1 AND status = 'SUCCEEDED'
ORDER BY 1;
