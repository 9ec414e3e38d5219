-- Run report: the execution started last, of any state machine (a daily run
-- or a backfill). Executions started at the same instant are told apart by
-- their number: pipeline-20250314-10 is later than pipeline-20250314-9.
SELECT execution_id, state_machine, logical_date, status, started_at, finished_at,
       failed_state, error, redrive_count
FROM executions
ORDER BY started_at DESC, logical_date DESC, LENGTH(execution_id) DESC, execution_id DESC
LIMIT 1;
