-- Run report: the latest execution of the daily state machine for each
-- logical day, with how many executions the day has had (a range execution
-- covers each of its days).
SELECT day AS logical_date, execution_id, status, started_at, finished_at,
       failed_state, error, parent_execution_id, redrive_count, executions
FROM (
    SELECT e.*,
           ROW_NUMBER() OVER (
               PARTITION BY day
               ORDER BY started_at DESC, LENGTH(execution_id) DESC, execution_id DESC
           ) AS latest,
           COUNT(*) OVER (PARTITION BY day) AS executions
    FROM execution_days AS e
) AS ranked
WHERE latest = 1
ORDER BY logical_date;
