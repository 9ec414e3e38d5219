-- Run report: the latest execution of the daily state machine for each
-- logical day, with how many executions the day has had (a range execution
-- covers each of its days). An execution that never ended (RUNNING when the
-- report opens the warehouse, so its process stopped, or ABORTED) is the
-- day's latest only when the day has no other: the day keeps what its last
-- finished execution loaded.
SELECT day AS logical_date, execution_id,
       CASE WHEN status = 'RUNNING' THEN 'ABORTED' ELSE status END AS status,
       started_at, finished_at,
       failed_state, error, parent_execution_id, redrive_count, executions
FROM (
    SELECT e.*,
           ROW_NUMBER() OVER (
               PARTITION BY day
               ORDER BY CASE WHEN status IN ('RUNNING', 'ABORTED') THEN 1 ELSE 0 END,
                        started_at DESC, LENGTH(execution_id) DESC, execution_id DESC
           ) AS latest,
           COUNT(*) OVER (PARTITION BY day) AS executions
    FROM execution_days AS e
) AS ranked
WHERE latest = 1
ORDER BY logical_date;
