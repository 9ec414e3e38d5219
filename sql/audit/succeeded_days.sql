-- The days in a range whose latest daily execution succeeded: a backfill
-- skips them unless forced. -- A daily execution covers logical_date through through (one day when NULL).
WITH execution_days AS (
    SELECT e.*,
           CAST(unnest(generate_series(
               CAST(e.logical_date AS TIMESTAMP),
               CAST(COALESCE(e.through, e.logical_date) AS TIMESTAMP),
               INTERVAL 1 DAY)) AS DATE) AS day
    FROM executions AS e
    WHERE e.state_machine = 'pipeline' AND e.logical_date IS NOT NULL
)
SELECT CAST(day AS VARCHAR)
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
