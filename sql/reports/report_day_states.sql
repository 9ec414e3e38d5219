-- Run report: the top-level states (a path without '/') that the latest
-- execution of each logical day ran, every redrive included, in the order
-- they ran. -- A daily execution covers logical_date through through (one day when NULL).
WITH execution_days AS (
    SELECT e.*,
           CAST(unnest(generate_series(
               CAST(e.logical_date AS TIMESTAMP),
               CAST(COALESCE(e.through, e.logical_date) AS TIMESTAMP),
               INTERVAL 1 DAY)) AS DATE) AS day
    FROM executions AS e
    WHERE e.state_machine = 'pipeline' AND e.logical_date IS NOT NULL
)
SELECT d.day AS logical_date, s.state_name, s.status, s.attempts, s.duration_ms,
       s.error, s.cause, s.redrive_count, s.seq
FROM (
    SELECT day, execution_id,
           ROW_NUMBER() OVER (
               PARTITION BY day
               ORDER BY started_at DESC, LENGTH(execution_id) DESC, execution_id DESC
           ) AS latest
    FROM execution_days
) AS d
JOIN state_runs AS s ON s.execution_id = d.execution_id
WHERE d.latest = 1 AND s.path NOT LIKE '%/%'
ORDER BY d.day, s.redrive_count, s.seq;
