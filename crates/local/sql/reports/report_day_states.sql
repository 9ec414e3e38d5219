-- Run report: the top-level states (a path without '/') that the latest
-- execution of each logical day ran, every redrive included, in the order
-- they ran (a range execution covers each of its days).
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
