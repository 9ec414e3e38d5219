-- The latest executions, newest first, for `ovom status`. A reader opens
-- the warehouse only when no process holds it for writing, so an execution
-- still marked RUNNING belongs to a process that stopped: it is shown as
-- ABORTED (the next writer records it so).
SELECT
    execution_id,
    state_machine,
    COALESCE(CAST(logical_date AS VARCHAR), '')
        || COALESCE(' … ' || CAST(through AS VARCHAR), '') AS logical_date,
    CASE WHEN status = 'RUNNING' THEN 'ABORTED' ELSE status END AS status,
    strftime(started_at, '%Y-%m-%d %H:%M:%S') AS started_at,
    COALESCE(CAST(date_diff('millisecond', started_at, finished_at) AS VARCHAR), '') AS duration_ms,
    redrive_count,
    COALESCE(parent_execution_id, '') AS parent,
    COALESCE(failed_state, '') AS failed_state,
    COALESCE(error, '') AS error,
    COALESCE(cause, '') AS cause
FROM executions
ORDER BY started_at DESC, execution_id DESC
LIMIT CAST(:limit AS INTEGER);
