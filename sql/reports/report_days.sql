-- Run report: the latest execution of the daily state machine for each
-- logical day, with how many executions the day has had.
SELECT logical_date, execution_id, status, started_at, finished_at,
       failed_state, error, parent_execution_id, redrive_count, executions
FROM (
    SELECT e.*,
           ROW_NUMBER() OVER (
               PARTITION BY logical_date
               ORDER BY started_at DESC, LENGTH(execution_id) DESC, execution_id DESC
           ) AS latest,
           COUNT(*) OVER (PARTITION BY logical_date) AS executions
    FROM executions AS e
    WHERE state_machine = 'pipeline' AND logical_date IS NOT NULL
) AS ranked
WHERE latest = 1
ORDER BY logical_date;
