-- Run report: the execution started last, of any state machine (a daily run
-- or a backfill). Executions started at the same instant are told apart by
-- their number: pipeline-20250314-10 is later than pipeline-20250314-9.
-- An execution still marked RUNNING is shown ABORTED: the report opens the
-- warehouse only when no process holds it for writing.
SELECT execution_id, state_machine, logical_date,
       CASE WHEN status = 'RUNNING' THEN 'ABORTED' ELSE status END AS status,
       started_at, finished_at,
       failed_state, error, redrive_count
FROM executions
ORDER BY started_at DESC, logical_date DESC, LENGTH(execution_id) DESC, execution_id DESC
LIMIT 1;
